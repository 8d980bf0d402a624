/**
 * Hashing on a second core: a RunningDigest whose hashing runs on a worker thread (digest-worker.ts) while
 * the read's thread only receives bytes and copies them into batches.
 *
 * - **Copies, never detaches.** Each chunk is copied into a batch, an ArrayBuffer of `batchBytes` (1 MiB)
 *   owned by this digest, and the batch is transferred to the worker, which transfers it back with its
 *   acknowledgement for reuse. A chunk's own buffer is never transferred (Node shares small Buffers from
 *   a pool, and the stream may still hold it).
 * - **Bounded memory.** At most `maxOutstanding` (4) batches are with the worker unacknowledged; `update`
 *   returns a promise to wait on when the next batch would exceed that, so a read holds at most
 *   (maxOutstanding + 1) × batchBytes = 5 MiB for the worker, besides its own parts.
 * - **Fails, never hangs or lies.** A worker that crashes, exits, reports an error or stays silent for
 *   WORKER_STALL_MS while the read waits on it rejects the waiting update or finish with a DigestWorkerError
 *   (and every later call); the worker must account for every byte read, or finish fails. The worker is
 *   then terminated and the next read starts another.
 * - **One warm worker.** A pool keeps one idle worker between reads (a warm Lambda container reuses it)
 *   and terminates any other; idle workers are unref'd, so they never keep the process alive.
 *
 * Whether to use it is `useDigestWorker` (pure): only with a second vCPU, which in Lambda means memory;
 * and per read `offloads` (pure): the native engine, and objects larger than one batch.
 */
import { availableParallelism } from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import type { DigestPlan } from "./checksums";
import { DIGEST_WORKER, type DigestWorkerSetting } from "./contract";
import type { FromDigestWorker, ToDigestWorker } from "./digest-worker";
import { DigestWorkerError } from "./errors";
import { createHasher, Digest, feedDigest, type DigestEngine, type DigestState, type Hasher, type RunningDigest, type StreamDigest } from "./hashing";

const MiB = 1024 * 1024;

/** Bytes per batch handed to the worker: large enough that a message per batch costs nothing next to hashing it. */
export const BATCH_BYTES = 1 * MiB;
/** Batches with the worker, unacknowledged, at most: enough to keep it busy while the reader waits for bytes. */
export const MAX_OUTSTANDING_BATCHES = 4;
/**
 * A worker that leaves the read waiting this long (for an acknowledgement or the result) is taken for hung:
 * the read fails and the worker is terminated. As long as a silent S3 connection is allowed (S3_TIMEOUTS.idle).
 */
export const WORKER_STALL_MS = 15_000;
/** Lambda gives a function one full vCPU at 1,769 MB of memory, in proportion below and above (6 at 10,240 MB). */
export const LAMBDA_MB_PER_VCPU = 1769;

/**
 * Whether reads hash on a worker thread. `on`/`off` decide; `auto` does when there is a second vCPU to
 * hash on: in Lambda (`lambdaMemoryMB` set, from AWS_LAMBDA_FUNCTION_MEMORY_SIZE) from 2 × 1,769 MB, since
 * Lambda's CPU share follows memory while the machine may still show two CPUs; elsewhere when
 * os.availableParallelism() is at least 2. With one vCPU, a second thread only adds copies. Pure.
 */
export function useDigestWorker(setting: DigestWorkerSetting, machine: { readonly lambdaMemoryMB?: number; readonly parallelism: number }): boolean {
  if (setting !== "auto") return setting === "on";
  if (machine.lambdaMemoryMB !== undefined) return machine.lambdaMemoryMB >= 2 * LAMBDA_MB_PER_VCPU;
  return machine.parallelism >= 2;
}

/** The machine `useDigestWorker` decides for: this process's environment and CPUs. */
export function thisMachine(env: NodeJS.ProcessEnv = process.env): { lambdaMemoryMB?: number; parallelism: number } {
  const memory = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  return { ...(Number.isFinite(memory) && memory > 0 ? { lambdaMemoryMB: memory } : {}), parallelism: availableParallelism() };
}

/** What the digest needs of a worker thread (a node:worker_threads Worker; tests inject fakes). */
export interface DigestWorkerPort {
  postMessage(message: ToDigestWorker, transfer?: ArrayBuffer[]): void;
  on(event: "message" | "error" | "exit", listener: (arg: any) => void): unknown;
  off(event: "message" | "error" | "exit", listener: (arg: any) => void): unknown;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

/** The digest worker's file: beside this module, with its extension (`.mjs` in the bundle, `.ts` in the sources). */
export function digestWorkerFile(): string {
  return path.join(__dirname, `${DIGEST_WORKER.file}${path.extname(__filename)}`);
}

/**
 * A new digest worker from the file beside this module: `digest-worker.mjs` beside the bundled handler,
 * `digest-worker.ts` in the sources (run through tsx, as vitest and the bench run them).
 */
export function spawnDigestWorker(): Worker {
  const extension = path.extname(__filename);
  const file = digestWorkerFile();
  const workerData = { [DIGEST_WORKER.mark]: true };
  if (extension !== ".ts") return new Worker(file, { workerData });
  // The sources: tsx's CommonJS hook first (loader flags do not reach a worker's own hooks on Node 20).
  const tsx = require.resolve("tsx/cjs", { paths: [__dirname] });
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(file)});`, { eval: true, workerData });
}

/** Digest workers: one kept warm between reads, any other terminated when its read ends. */
export class DigestWorkerPool {
  private readonly idle: DigestWorkerPort[] = [];
  private readonly live = new Set<DigestWorkerPort>();

  constructor(
    private readonly spawn: () => DigestWorkerPort = spawnDigestWorker,
    private readonly keepWarm = 1,
  ) {}

  /** Worker threads alive (busy or idle). */
  get threads(): number {
    return this.live.size;
  }

  /** A worker for one read, ref'd while it works (an unref'd worker could let the process exit mid-read). */
  acquire(): DigestWorkerPort {
    const worker = this.idle.pop() ?? this.create();
    worker.ref();
    return worker;
  }

  /** Back from a read: kept warm (unref'd) if healthy and none is, else terminated. */
  release(worker: DigestWorkerPort, healthy: boolean): void {
    worker.unref();
    if (healthy && this.live.has(worker) && this.idle.length < this.keepWarm) this.idle.push(worker);
    else this.retire(worker);
  }

  /** Terminates every worker. */
  async close(): Promise<void> {
    await Promise.all([...this.live].map((worker) => this.retire(worker)));
  }

  private create(): DigestWorkerPort {
    const worker = this.spawn();
    this.live.add(worker);
    // A worker's error is also an exit: the read that uses it hears of both; the pool only forgets it.
    worker.on("error", () => {});
    worker.on("exit", () => this.forget(worker));
    worker.unref();
    return worker;
  }

  private forget(worker: DigestWorkerPort): void {
    this.live.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
  }

  private async retire(worker: DigestWorkerPort): Promise<void> {
    this.forget(worker);
    await worker.terminate().catch(() => undefined);
  }
}

let defaultPool: DigestWorkerPool | undefined;
/** The process's pool (a warm Lambda container keeps its worker between invocations). */
export function digestWorkerPool(): DigestWorkerPool {
  return (defaultPool ??= new DigestWorkerPool());
}

/** How a read hashes on a worker thread. */
export interface DigestOffload {
  readonly pool: DigestWorkerPool;
  /** SHA-256 on the worker too (the read's thread only copies), or on the read's thread (the worker verifies). @default false */
  readonly sha256OnWorker?: boolean;
  /** @default BATCH_BYTES */
  readonly batchBytes?: number;
  /** @default MAX_OUTSTANDING_BATCHES */
  readonly maxOutstanding?: number;
  /** @default WORKER_STALL_MS */
  readonly stallMs?: number;
}

let jobs = 0;

/** The one-pass digest with its hashing on a worker thread (see the module's comment). */
export class OffloadedDigest implements RunningDigest {
  bytes = 0;
  /** The most batches ever with the worker at once (for tests of the bound). */
  peakOutstanding = 0;
  private readonly job = ++jobs;
  private readonly worker: DigestWorkerPort;
  private readonly batchBytes: number;
  private readonly maxOutstanding: number;
  private readonly stallMs: number;
  private batch: Uint8Array | undefined;
  private filled = 0;
  private readonly spare: ArrayBuffer[] = [];
  private outstanding = 0;
  private failure: DigestWorkerError | undefined;
  private ended = false;
  private waiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private result: { resolve: (message: Extract<FromDigestWorker, { type: "result" }>) => void; reject: (error: Error) => void } | undefined;

  private constructor(
    private readonly pool: DigestWorkerPool,
    private readonly sha: Hasher | undefined,
    plan: DigestPlan | undefined,
    options: DigestOffload,
  ) {
    this.batchBytes = options.batchBytes ?? BATCH_BYTES;
    this.maxOutstanding = Math.max(1, options.maxOutstanding ?? MAX_OUTSTANDING_BATCHES);
    this.stallMs = options.stallMs ?? WORKER_STALL_MS;
    this.worker = pool.acquire();
    this.worker.on("message", this.onMessage);
    this.worker.on("error", this.onError);
    this.worker.on("exit", this.onExit);
    this.post({ type: "start", job: this.job, sha256: sha === undefined, ...(plan ? { plan } : {}) });
  }

  static async create(plan: DigestPlan | undefined, options: DigestOffload): Promise<OffloadedDigest> {
    const sha = options.sha256OnWorker ? undefined : await createHasher("SHA256");
    return new OffloadedDigest(options.pool, sha, plan, options);
  }

  update(chunk: Uint8Array | string): void | Promise<void> {
    if (this.failure) throw this.failure;
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    this.sha?.update(data);
    this.bytes += data.length;
    const copied = this.copy(data, 0);
    return copied < data.length ? this.copyRest(data, copied) : undefined;
  }

  async finish(): Promise<StreamDigest> {
    if (this.failure) throw this.failure;
    // A batch is started only while fewer than maxOutstanding are out, so the last one always has room.
    if (this.batch) this.send();
    const result = new Promise<Extract<FromDigestWorker, { type: "result" }>>((resolve, reject) => (this.result = { resolve, reject }));
    this.post({ type: "finish", job: this.job });
    const done = await this.watched(result, "no result");
    this.end(true);
    if (done.bytes !== this.bytes) throw new DigestWorkerError(`the digest worker hashed ${done.bytes} bytes of the ${this.bytes} read`);
    const sha256Hex = this.sha ? Buffer.from(this.sha.digest()).toString("hex") : done.sha256Hex;
    if (sha256Hex === undefined) throw new DigestWorkerError("the digest worker returned no SHA-256");
    return { sha256Hex, bytes: this.bytes, ...(done.verifying ? { verifying: done.verifying } : {}) };
  }

  discard(): void {
    // Its late acknowledgements name this job: the worker's next job ignores them.
    this.end(this.failure === undefined);
  }

  /** Copies from `offset` into batches while the bound allows; returns where it stopped. */
  private copy(data: Uint8Array, offset: number): number {
    while (offset < data.length) {
      if (!this.batch) {
        if (this.outstanding >= this.maxOutstanding) return offset;
        this.batch = new Uint8Array(this.spare.pop() ?? new ArrayBuffer(this.batchBytes));
        this.filled = 0;
      }
      const n = Math.min(this.batch.length - this.filled, data.length - offset);
      this.batch.set(n === data.length ? data : data.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.batch.length) this.send();
    }
    return offset;
  }

  private async copyRest(data: Uint8Array, offset: number): Promise<void> {
    while (offset < data.length) {
      await this.watched(new Promise<void>((resolve, reject) => (this.waiter = { resolve, reject })), "no acknowledgement");
      offset = this.copy(data, offset);
    }
  }

  /** `waiting`, failed (and the worker terminated) if the worker stays silent for stallMs. */
  private async watched<T>(waiting: Promise<T>, what: string): Promise<T> {
    const timer = setTimeout(() => this.fail(new DigestWorkerError(`the digest worker sent ${what} for ${this.stallMs} ms`)), this.stallMs);
    try {
      return await waiting;
    } finally {
      clearTimeout(timer);
    }
  }

  private send(): void {
    const buffer = this.batch!.buffer as ArrayBuffer;
    this.post({ type: "batch", job: this.job, buffer, length: this.filled }, [buffer]);
    this.batch = undefined;
    this.outstanding++;
    this.peakOutstanding = Math.max(this.peakOutstanding, this.outstanding);
  }

  private post(message: ToDigestWorker, transfer?: ArrayBuffer[]): void {
    if (this.ended) throw this.failure ?? new DigestWorkerError("the digest has ended");
    this.worker.postMessage(message, transfer);
  }

  private readonly onMessage = (message: FromDigestWorker) => {
    if (message.job !== this.job) return;
    if (message.type === "ack") {
      this.outstanding--;
      if (this.spare.length < this.maxOutstanding) this.spare.push(message.buffer);
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter?.resolve();
    } else if (message.type === "result") {
      this.result?.resolve(message);
    } else {
      this.fail(new DigestWorkerError(`the digest worker failed: ${message.message}`));
    }
  };

  private readonly onError = (error: Error) => this.fail(new DigestWorkerError(`the digest worker crashed: ${error?.message ?? error}`, { cause: error }));

  private readonly onExit = (code: number) => this.fail(new DigestWorkerError(`the digest worker exited (code ${code}) during a read`));

  private fail(error: DigestWorkerError): void {
    if (this.failure || this.ended) return;
    this.failure = error;
    this.end(false);
    this.waiter?.reject(error);
    this.result?.reject(error);
    this.waiter = undefined;
    this.result = undefined;
  }

  private end(healthy: boolean): void {
    if (this.ended) return;
    this.ended = true;
    // Nothing may wait forever on a digest that ended (discarded while an update waited, say).
    const ended = this.failure ?? new DigestWorkerError("the digest has ended");
    this.waiter?.reject(ended);
    this.result?.reject(ended);
    this.waiter = undefined;
    this.result = undefined;
    this.worker.off("message", this.onMessage);
    this.worker.off("error", this.onError);
    this.worker.off("exit", this.onExit);
    this.pool.release(this.worker, healthy);
  }
}

/**
 * Whether a read hashes on the worker: with `offload`, the native engine, something for the worker to
 * hash, and more bytes than one batch (`bytes`, when known): an object that fits in one batch reaches the
 * worker only at its end, so nothing would overlap and the messages (and a first read's worker start)
 * would only cost. The resumable engine stays in-thread: a continuation saves its state synchronously. Pure.
 */
export function offloads(plan: DigestPlan | undefined, engine: DigestEngine, offload: DigestOffload | undefined, bytes?: number): offload is DigestOffload {
  if (!offload || engine !== "native" || (plan === undefined && !offload.sha256OnWorker)) return false;
  return bytes === undefined || bytes > (offload.batchBytes ?? BATCH_BYTES);
}

/** The digest a read of `bytes` (when known) uses: on a worker thread when `offloads` says so, else the in-thread Digest. */
export async function startDigest(
  plan: DigestPlan | undefined,
  engine: DigestEngine,
  state: DigestState | undefined,
  offload: DigestOffload | undefined,
  bytes?: number,
): Promise<RunningDigest> {
  if (state === undefined && offloads(plan, engine, offload, bytes)) return OffloadedDigest.create(plan, offload);
  return Digest.create(plan, engine, state);
}

/** digestStream (hashing.ts) with the hashing on a worker thread when `offloads` says so for `bytes` (when known). */
export async function digestStreamWith(
  stream: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  plan: DigestPlan | undefined,
  offload: DigestOffload | undefined,
  bytes?: number,
): Promise<StreamDigest> {
  return feedDigest(stream, await startDigest(plan, "native", undefined, offload, bytes));
}
