/**
 * Parallel ranged reads consumed in order: an object is read as `Range` requests of `partSize` bytes with
 * up to `concurrency` in flight, and its bytes are handed on strictly in order, so one digest sees the
 * object as a single stream. While the consumer hashes part n, parts n+1 … n+concurrency-1 download.
 *
 * Memory is bounded: a part is held until the consumer has taken all of it, so at most `concurrency`
 * parts are held at once, plus the next one requested during the last quarter of the part being consumed
 * (`lookaheadStarts`): under (concurrency + 1/4) × partSize bytes. A source that receives into the part
 * buffers offered (`PartLease`) holds at most `concurrency` of them, reused from part to part: the part
 * requested early waits, its response unread, until the part being consumed frees one. Pure
 * orchestration: the I/O is the `RangeSource`.
 */
import { IntegrityError } from "./errors";

export interface RangeSource {
  /**
   * The bytes `start` to `end` inclusive. The source pins what it reads (a version id or an ETag) so that
   * every part comes from the same object; it throws if that object is gone or replaced. It may receive
   * them into the buffer `lease` offers, and then yields views of it.
   */
  fetch(start: number, end: number, signal: AbortSignal, lease: PartLease): Promise<AsyncIterable<Uint8Array>>;
}

/** A buffer for one part's bytes, offered to its source; taken back once the consumer has taken the part. */
export interface PartLease {
  /** A buffer of exactly the part's length (waits until one is free). */
  buffer(): Promise<Uint8Array>;
}

/**
 * Buffers of `size` bytes, at most `count` in use, each reused once released: parts received into them
 * allocate nothing per part, and the pages they touch are touched once per read, not once per part.
 */
export class PartBuffers {
  private readonly free: Uint8Array[] = [];
  private made = 0;
  private readonly waiting: Array<(buffer: Uint8Array) => void> = [];

  constructor(
    private readonly size: number,
    private readonly count: number,
  ) {}

  /** A free buffer (a new one while fewer than `count` exist), or the next one released; rejects when `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<Uint8Array> {
    const ready = this.free.pop() ?? (this.made < this.count ? (this.made++, new Uint8Array(this.size)) : undefined);
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const take = (buffer: Uint8Array) => {
        signal.removeEventListener("abort", onAbort);
        resolve(buffer);
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(signal.reason);
      };
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(take);
    });
  }

  release(buffer: Uint8Array): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }
}

export interface PartOptions {
  /** Bytes of the whole object. */
  readonly size: number;
  /** Start reading at this offset (a continuation). @default 0 */
  readonly offset?: number;
  /** Bytes per Range request. */
  readonly partSize: number;
  /** Range requests in flight at most. */
  readonly concurrency: number;
}

/** The ranges [start, end] (inclusive) that cover `offset` … `size - 1` in parts of `partSize`. */
export function partRanges(size: number, partSize: number, offset = 0): Array<[number, number]> {
  if (!Number.isSafeInteger(partSize) || partSize < 1) throw new RangeError(`part size ${partSize} must be a whole number of bytes, at least 1`);
  const ranges: Array<[number, number]> = [];
  for (let start = offset; start < size; start += partSize) ranges.push([start, Math.min(start + partSize, size) - 1]);
  return ranges;
}

/**
 * Parts requested early, beyond `concurrency`, while the part being consumed has `unconsumed` bytes left:
 * one once at most a quarter of a part is left, else none. Each request's first byte takes a round trip
 * (tens of ms in S3, more on a busy server); without this, every connection would idle for that long
 * between its parts. The bytes held stay below (concurrency + 1/4) × partSize. Pure.
 */
export function lookaheadStarts(unconsumed: number, partSize: number): number {
  return unconsumed <= partSize / 4 ? 1 : 0;
}

/** A part being received: its chunks not yet handed on, how many bytes came, how it ended, and the buffer it leased. */
interface PartBuffer {
  readonly chunks: Array<Uint8Array | undefined>;
  /** Index of the next chunk to hand on. */
  next: number;
  bytes: number;
  done: boolean;
  leased?: Uint8Array;
}

/**
 * Yields the object's bytes from `offset` to the end, in order, reading up to `concurrency` parts at once.
 * The part being consumed is handed on as its chunks arrive (hashing overlaps its download); later parts
 * are held until their turn. The first error (of any part) ends the iteration, after every request in
 * flight was aborted. A chunk may be a view of a leased buffer that a later part reuses: the consumer must
 * be done with each chunk when it asks for the next.
 */
export async function* readInParts(source: RangeSource, options: PartOptions): AsyncGenerator<Uint8Array> {
  const ranges = partRanges(options.size, options.partSize, options.offset ?? 0);
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const buffers = new PartBuffers(options.partSize, concurrency);
  // One controller per part, so that listeners do not pile up on one signal over thousands of parts.
  const inFlight = new Set<AbortController>();
  const pending = new Map<number, PartBuffer>();
  let next = 0;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const start = (index: number) => {
    const [from, to] = ranges[index];
    const part: PartBuffer = { chunks: [], next: 0, bytes: 0, done: false };
    pending.set(index, part);
    const controller = new AbortController();
    inFlight.add(controller);
    const lease: PartLease = {
      buffer: async () => {
        if (part.leased) throw new Error(`bytes ${from}-${to}: a part leases one buffer`);
        part.leased = await buffers.acquire(controller.signal);
        return part.leased.subarray(0, to - from + 1);
      },
    };
    void (async () => {
      try {
        for await (const chunk of await source.fetch(from, to, controller.signal, lease)) {
          part.chunks.push(chunk);
          part.bytes += chunk.length;
          notify();
          if (part.bytes > to - from + 1) break;
        }
        if (part.bytes !== to - from + 1) throw new IntegrityError(`bytes ${from}-${to}: received ${part.bytes} bytes, expected ${to - from + 1}`);
        part.done = true;
      } catch (error) {
        failure ??= { error };
      }
      inFlight.delete(controller);
      notify();
    })();
  };

  try {
    while (next < ranges.length && pending.size < concurrency) start(next++);
    for (let index = 0; index < ranges.length; index++) {
      const part = pending.get(index)!;
      const length = ranges[index][1] - ranges[index][0] + 1;
      let consumed = 0;
      for (;;) {
        if (failure) throw failure.error;
        if (part.next < part.chunks.length) {
          const chunk = part.chunks[part.next]!;
          // Handed on: the part no longer holds it.
          part.chunks[part.next++] = undefined;
          consumed += chunk.length;
          // The last quarter of the part being consumed: request the next part now, so that its response's
          // latency overlaps these bytes instead of leaving a connection idle (see lookaheadStarts).
          while (next < ranges.length && next < index + concurrency + lookaheadStarts(length - consumed, options.partSize)) start(next++);
          yield chunk;
          continue;
        }
        if (part.done) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      // The slot is free once the part was consumed: at most `concurrency` parts are ever held, while the
      // parts after this one went on downloading during its hashing. Its buffer goes to the next part (the
      // consumer was done with the part's last chunk when it asked for more).
      pending.delete(index);
      if (part.leased) buffers.release(part.leased);
      while (next < ranges.length && next < index + 1 + concurrency) start(next++);
    }
  } finally {
    for (const controller of inFlight) controller.abort();
  }
}

/**
 * What is wrong with a part's response, or undefined: its Content-Range must be exactly the bytes asked for
 * out of an object of `size` bytes, and its Content-Length their count. Pure.
 */
export function contentRangeProblem(contentRange: string | undefined, contentLength: number | undefined, start: number, end: number, size: number): string | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? "");
  if (!m) return `the response to Range bytes=${start}-${end} has Content-Range ${JSON.stringify(contentRange ?? null)}`;
  if (Number(m[1]) !== start || Number(m[2]) !== end) return `asked for bytes ${start}-${end}, got ${m[1]}-${m[2]}`;
  if (m[3] !== String(size)) return `the object has ${m[3]} bytes in Content-Range, ${size} expected`;
  if (contentLength !== undefined && contentLength !== end - start + 1) return `bytes ${start}-${end}: Content-Length ${contentLength}`;
  return undefined;
}

/** A Content-Range header with a known total ("bytes 0-99/1234" → 0, 99, 1234), or undefined. Pure. */
export function parseContentRange(contentRange: string | undefined): { start: number; end: number; total: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? "");
  return m ? { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) } : undefined;
}

/** The total size in a Content-Range header ("bytes 0-99/1234" → 1234), or undefined. Pure. */
export function contentRangeTotal(contentRange: string | undefined): number | undefined {
  return parseContentRange(contentRange)?.total;
}

/**
 * A rate the reader assumes it sustains at least, bytes/s: below what one S3 connection delivers (about
 * 85–90 MB/s) and what the resumable digest hashes. A read whose remaining bytes would take longer than the
 * time left at this rate uses the resumable digest from its start; otherwise the faster native one.
 */
export const ASSUMED_READ_RATE = 48 * 1024 * 1024;

/**
 * Which digest a read uses: "native" (node:crypto, fastest, cannot be saved) when the bytes left finish
 * before `stopAt` at ASSUMED_READ_RATE, else "resumable". Without a deadline, always "native". Pure.
 */
export function digestEngineFor(bytesLeft: number, now: number, stopAt: number | undefined, rate = ASSUMED_READ_RATE): "native" | "resumable" {
  if (stopAt === undefined || !Number.isFinite(stopAt)) return "native";
  return (bytesLeft / rate) * 1000 <= stopAt - now ? "native" : "resumable";
}

/**
 * Whether to stop at this part boundary: when two more parts at the pace of the last one would end past
 * `stopAt` (the deadline already keeps a reserve to save the checkpoint). Pure.
 */
export function shouldSuspend(now: number, stopAt: number, lastPartMs: number): boolean {
  return now + 2 * Math.max(lastPartMs, 0) >= stopAt;
}
