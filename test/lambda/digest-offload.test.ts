/**
 * Hashing on a worker thread: the same digests as the in-thread one, a bounded number of batches with the
 * worker, a typed failure (never a hang) when the worker dies, one warm worker reused across reads, and the
 * decision of when to use it.
 */
import { EventEmitter } from "node:events";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import type { DigestAlgorithm, DigestPlan } from "../../lambda/checksums";
import {
  BATCH_BYTES,
  digestStreamWith,
  DigestWorkerPool,
  LAMBDA_MB_PER_VCPU,
  OffloadedDigest,
  offloads,
  spawnDigestWorker,
  useDigestWorker,
  type DigestWorkerPort,
} from "../../lambda/digest-offload";
import type { FromDigestWorker, ToDigestWorker } from "../../lambda/digest-worker";
import { DigestWorkerError } from "../../lambda/errors";
import { digestStream } from "../../lambda/hashing";
import { bytes, chunks, generator } from "../support/byte-streams";

const ALGORITHMS: DigestAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "MD5"];

/** One real worker for the equality tests, with small batches so that batch, chunk and part boundaries all cross. */
const pool = new DigestWorkerPool();
afterAll(() => pool.close());

describe("a digest on a worker thread", () => {
  it.each(ALGORITHMS)("equals the in-thread digest for %s, whole and per part, SHA-256 on either thread", async (algorithm) => {
    const random = generator(algorithm.length * 31337);
    const lengths = [0, 1, 999, 1000, 1001, 2500, ...Array.from({ length: 6 }, () => Math.floor(random() * 60_000))];
    for (const length of lengths) {
      const data = bytes(random, length);
      const partSizes: number[] = [];
      for (let left = length; left > 0; ) {
        const size = Math.min(left, 1 + Math.floor(random() * 7000));
        partSizes.push(size);
        left -= size;
      }
      const plans: Array<DigestPlan | undefined> = [{ algorithm }, { algorithm, partSizes }, ...(algorithm === "SHA256" ? [undefined] : [])];
      for (const plan of plans) {
        const cut = chunks(random, data);
        const expected = await digestStream(cut, plan);
        for (const sha256OnWorker of [false, true]) {
          const offload = { pool, sha256OnWorker, batchBytes: 1000, maxOutstanding: 2 };
          expect(await digestStreamWith(cut, plan, offload), `${length} bytes, ${JSON.stringify(plan)}, SHA-256 on the worker: ${sha256OnWorker}`).toEqual(expected);
        }
      }
    }
  });

  it("keeps one warm worker across reads and terminates the extra one of concurrent reads", async () => {
    let spawned = 0;
    const local = new DigestWorkerPool(() => (spawned++, spawnDigestWorker()));
    try {
      const data = [Buffer.alloc(300_000, 7)];
      for (let read = 0; read < 4; read++) await digestStreamWith(data, { algorithm: "CRC64NVME" }, { pool: local });
      expect([spawned, local.threads]).toEqual([1, 1]);
      await Promise.all([1, 2, 3].map(() => digestStreamWith(data, { algorithm: "MD5" }, { pool: local })));
      expect(spawned).toBe(3);
      await until(() => local.threads === 1);
    } finally {
      await local.close();
    }
    expect(local.threads).toBe(0);
  });

  it("unrefs the worker between reads, so that a warm worker never keeps the process alive", async () => {
    const calls: string[] = [];
    const local = new DigestWorkerPool(() => {
      const worker = spawnDigestWorker();
      for (const name of ["ref", "unref"] as const) {
        const original = worker[name].bind(worker);
        worker[name] = () => (calls.push(name), original());
      }
      return worker;
    });
    try {
      await digestStreamWith([Buffer.from("abc")], { algorithm: "CRC32C" }, { pool: local });
      expect(calls).toEqual(["unref", "ref", "unref"]);
    } finally {
      await local.close();
    }
  });
});

describe("a digest worker that fails", () => {
  /** A real worker thread that runs `code` instead of the digest worker. */
  const failing = (code: string) => new DigestWorkerPool(() => new Worker(`const { parentPort } = require("node:worker_threads"); ${code}`, { eval: true }));

  it("rejects the read with DigestWorkerError when the worker exits mid-read, and is not reused", async () => {
    const local = failing(`parentPort.on("message", (m) => { if (m.type === "batch") process.exit(7); });`);
    const read = digestStreamWith(
      Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 1)),
      { algorithm: "CRC64NVME" },
      { pool: local, maxOutstanding: 2 },
    );
    await expect(read).rejects.toSatisfy((error) => error instanceof DigestWorkerError && error.code === "DigestWorker" && /exited \(code 7\)/.test(error.message));
    await until(() => local.threads === 0);
  });

  it("rejects the read when the worker throws, with the worker's error as the cause", async () => {
    const local = failing(`parentPort.on("message", (m) => { if (m.type === "finish") throw new Error("boom"); });`);
    const error = await digestStreamWith([Buffer.from("abc")], { algorithm: "MD5" }, { pool: local }).catch((e) => e);
    expect(error).toBeInstanceOf(DigestWorkerError);
    expect((error.cause as Error).message).toBe("boom");
    await local.close();
  });

  it("fails rather than return a digest of fewer bytes than were read", async () => {
    const local = failing(
      `parentPort.on("message", (m) => { if (m.type === "batch") parentPort.postMessage({ type: "ack", job: m.job, buffer: m.buffer }, [m.buffer]); ` +
        `if (m.type === "finish") parentPort.postMessage({ type: "result", job: m.job, bytes: 1, verifying: { algorithm: "MD5", value: "x" } }); });`,
    );
    await expect(digestStreamWith([Buffer.from("abc")], { algorithm: "MD5" }, { pool: local })).rejects.toThrow(/hashed 1 bytes of the 3 read/);
    await local.close();
  });
});

/** A worker port that records what it was sent and acknowledges only when told. */
class FakeWorker extends EventEmitter implements DigestWorkerPort {
  readonly sent: ToDigestWorker[] = [];
  unacknowledged = 0;
  peak = 0;
  postMessage(message: ToDigestWorker): void {
    this.sent.push(message);
    if (message.type === "batch") this.peak = Math.max(this.peak, ++this.unacknowledged);
  }
  ack(): void {
    const batch = this.sent.find((m): m is Extract<ToDigestWorker, { type: "batch" }> => m.type === "batch" && !acked.has(m));
    acked.add(batch!);
    this.unacknowledged--;
    this.emit("message", { type: "ack", job: batch!.job, buffer: new ArrayBuffer(batch!.buffer.byteLength) } satisfies FromDigestWorker);
  }
  ref(): void {}
  unref(): void {}
  terminate(): Promise<number> {
    return Promise.resolve(0);
  }
}
const acked = new Set<ToDigestWorker>();

describe("backpressure", () => {
  it("never has more than maxOutstanding batches with the worker, and waits for an acknowledgement", async () => {
    const fake = new FakeWorker();
    const digest = await OffloadedDigest.create({ algorithm: "CRC32" }, { pool: new DigestWorkerPool(() => fake), batchBytes: 100, maxOutstanding: 3 });
    // 3 full batches go out at once; the 4th cannot start until one is acknowledged.
    expect(digest.update(Buffer.alloc(300))).toBeUndefined();
    let done = false;
    const waiting = Promise.resolve(digest.update(Buffer.alloc(1050))).then(() => (done = true));
    await flush();
    expect([fake.unacknowledged, done]).toEqual([3, false]);
    for (let i = 0; i < 20 && !done; i++) {
      fake.ack();
      await flush();
      expect(fake.unacknowledged).toBeLessThanOrEqual(3);
    }
    await waiting;
    expect([fake.peak, digest.peakOutstanding]).toEqual([3, 3]);
    // 1350 bytes: 13 full batches sent, 50 bytes in the batch being filled.
    expect(fake.sent.filter((m) => m.type === "batch")).toHaveLength(13);
  });

  it("fails a read whose worker stays silent, and terminates that worker", async () => {
    const fake = new FakeWorker();
    let terminated = 0;
    fake.terminate = () => (terminated++, Promise.resolve(0));
    const pool = new DigestWorkerPool(() => fake);
    const digest = await OffloadedDigest.create({ algorithm: "CRC32" }, { pool, batchBytes: 10, maxOutstanding: 1, stallMs: 20 });
    await expect(digest.update(Buffer.alloc(100))).rejects.toThrow(/sent no acknowledgement for 20 ms/);
    expect([terminated, pool.threads]).toEqual([1, 0]);
    const quiet = await OffloadedDigest.create({ algorithm: "CRC32" }, { pool: new DigestWorkerPool(() => new FakeWorker()), stallMs: 20 });
    await expect(quiet.finish()).rejects.toThrow(/sent no result for 20 ms/);
  });

  it("rejects a waiting update when the digest is discarded, rather than leave it waiting forever", async () => {
    const fake = new FakeWorker();
    const digest = await OffloadedDigest.create({ algorithm: "CRC32" }, { pool: new DigestWorkerPool(() => fake), batchBytes: 10, maxOutstanding: 1 });
    const waiting = digest.update(Buffer.alloc(100));
    digest.discard();
    await expect(waiting).rejects.toBeInstanceOf(DigestWorkerError);
  });

  it("rejects a waiting update when the worker exits", async () => {
    const fake = new FakeWorker();
    const digest = await OffloadedDigest.create({ algorithm: "CRC32" }, { pool: new DigestWorkerPool(() => fake), batchBytes: 10, maxOutstanding: 1 });
    const waiting = digest.update(Buffer.alloc(100));
    fake.emit("exit", 1);
    await expect(waiting).rejects.toBeInstanceOf(DigestWorkerError);
    expect(() => digest.update(Buffer.alloc(1))).toThrow(DigestWorkerError);
  });
});

describe("when reads hash on a worker thread", () => {
  it("hashes on the worker only the native engine, with something to hash there, and more than one batch", () => {
    const offload = { pool };
    expect(offloads({ algorithm: "CRC64NVME" }, "native", offload)).toBe(true);
    expect(offloads({ algorithm: "CRC64NVME" }, "native", offload, BATCH_BYTES + 1)).toBe(true);
    expect(offloads({ algorithm: "CRC64NVME" }, "native", offload, BATCH_BYTES)).toBe(false);
    expect(offloads({ algorithm: "CRC64NVME" }, "native", undefined, 10 * BATCH_BYTES)).toBe(false);
    expect(offloads({ algorithm: "CRC64NVME" }, "resumable", offload, 10 * BATCH_BYTES)).toBe(false);
    expect(offloads(undefined, "native", offload, 10 * BATCH_BYTES)).toBe(false);
    expect(offloads(undefined, "native", { pool, sha256OnWorker: true }, 10 * BATCH_BYTES)).toBe(true);
  });

  it.each([
    ["auto", { parallelism: 2 }, true],
    ["auto", { parallelism: 1 }, false],
    ["auto", { lambdaMemoryMB: 512, parallelism: 2 }, false],
    ["auto", { lambdaMemoryMB: 2 * LAMBDA_MB_PER_VCPU - 1, parallelism: 2 }, false],
    ["auto", { lambdaMemoryMB: 2 * LAMBDA_MB_PER_VCPU, parallelism: 2 }, true],
    ["auto", { lambdaMemoryMB: 10240, parallelism: 6 }, true],
    ["on", { lambdaMemoryMB: 512, parallelism: 1 }, true],
    ["off", { lambdaMemoryMB: 10240, parallelism: 6 }, false],
  ] as const)("%s on %j: %s", (setting, machine, expected) => {
    expect(useDigestWorker(setting, machine)).toBe(expected);
  });
});

const flush = () => new Promise((resolve) => setImmediate(resolve));

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !condition(); ) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
