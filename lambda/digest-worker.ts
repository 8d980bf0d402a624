/**
 * The digest worker: a worker thread (node:worker_threads) that hashes the batches of bytes the read's
 * thread copies to it, so that hashing runs on a second core while the read's thread only receives bytes.
 * It computes what a job asks for (SHA-256, the plan's verifying checksum, or both) with the same code as
 * the in-thread Digest (hashing.ts), so the values are the same. Bundled beside the handler
 * (`digest-worker.mjs`, see stacks/bundle.ts); driven by digest-offload.ts.
 *
 * Protocol (one job at a time, each message names its job so that late messages of an abandoned job are
 * told apart): `start` → `batch`* (each acknowledged with its buffer transferred back, for reuse) →
 * `finish` → `result`; any failure → `failed`.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { ComputedDigest, DigestPlan } from "./checksums";
import { DIGEST_WORKER } from "./contract";
import { createHasher, VerifyingDigest, type Hasher } from "./hashing";

export type ToDigestWorker =
  | { readonly type: "start"; readonly job: number; readonly sha256: boolean; readonly plan?: DigestPlan }
  | { readonly type: "batch"; readonly job: number; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly type: "finish"; readonly job: number };

export type FromDigestWorker =
  | { readonly type: "ack"; readonly job: number; readonly buffer: ArrayBuffer }
  | { readonly type: "result"; readonly job: number; readonly bytes: number; readonly sha256Hex?: string; readonly verifying?: ComputedDigest }
  | { readonly type: "failed"; readonly job: number; readonly message: string };

interface Job {
  readonly id: number;
  readonly sha?: Hasher;
  readonly verifying?: VerifyingDigest;
  bytes: number;
}

/** Runs the protocol on `port`: messages are handled strictly in order, each after the one before. */
export function serveDigests(port: { on(event: "message", listener: (message: ToDigestWorker) => void): unknown; postMessage(message: FromDigestWorker, transfer?: ArrayBuffer[]): void }): void {
  let job: Job | undefined;
  let failed: number | undefined;
  let queue = Promise.resolve();
  const handle = async (message: ToDigestWorker): Promise<void> => {
    if (message.type === "start") {
      failed = undefined;
      job = { id: message.job, bytes: 0, sha: message.sha256 ? await createHasher("SHA256") : undefined, verifying: message.plan ? await VerifyingDigest.create(message.plan) : undefined };
      return;
    }
    if (job?.id !== message.job) {
      // A batch of an abandoned job: hand its buffer back anyway (the sender ignores acks of other jobs).
      if (message.type === "batch") port.postMessage({ type: "ack", job: message.job, buffer: message.buffer }, [message.buffer]);
      return;
    }
    if (message.type === "batch") {
      const data = new Uint8Array(message.buffer, 0, message.length);
      job.sha?.update(data);
      job.verifying?.update(data);
      job.bytes += message.length;
      port.postMessage({ type: "ack", job: job.id, buffer: message.buffer }, [message.buffer]);
      return;
    }
    const { id, sha, verifying, bytes } = job;
    job = undefined;
    const computed = await verifying?.finish();
    port.postMessage({ type: "result", job: id, bytes, ...(sha ? { sha256Hex: Buffer.from(sha.digest()).toString("hex") } : {}), ...(computed ? { verifying: computed } : {}) });
  };
  port.on("message", (message) => {
    queue = queue.then(async () => {
      if (failed === message.job) return;
      try {
        await handle(message);
      } catch (error) {
        failed = message.job;
        job = undefined;
        port.postMessage({ type: "failed", job: message.job, message: (error as Error)?.message ?? String(error) });
      }
    });
  });
}

// Only in a thread marked as a digest worker (workerData), so that importing this module elsewhere does nothing.
if (parentPort && (workerData as Record<string, unknown> | undefined)?.[DIGEST_WORKER.mark] === true) serveDigests(parentPort);
