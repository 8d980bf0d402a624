/** Parallel ranged reads: in order, bounded, and nothing trusted after a short or failed part. */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IntegrityError } from "../../lambda/errors";
import { lookaheadStarts, partRanges, readInParts, type RangeSource } from "../../lambda/ranged-read";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** An object in memory served in ranges, each after a delay, in chunks; counts what is in flight. */
function memorySource(body: Buffer, opts: { delay?: (start: number) => number; chunk?: number; tamper?: (start: number, data: Buffer) => Buffer; lease?: boolean } = {}) {
  const stats = { inFlight: 0, maxInFlight: 0, requests: [] as Array<[number, number]>, aborted: 0, buffers: new Set<ArrayBufferLike>() };
  const source: RangeSource = {
    async fetch(start, end, signal, lease) {
      stats.requests.push([start, end]);
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      signal.addEventListener("abort", () => stats.aborted++);
      await new Promise((r) => setTimeout(r, opts.delay?.(start) ?? 0));
      let data = body.subarray(start, end + 1);
      if (opts.tamper) data = opts.tamper(start, data);
      const chunk = opts.chunk ?? 1000;
      // Received into the leased buffer, as the function's HTTP handler does: views of it are yielded.
      const into = opts.lease ? await lease.buffer() : undefined;
      if (into) stats.buffers.add(into.buffer);
      return (async function* () {
        try {
          for (let i = 0; i < data.length; i += chunk) {
            const piece = data.subarray(i, i + chunk);
            if (!into) {
              yield piece;
              continue;
            }
            into.set(piece, i);
            await new Promise((r) => setImmediate(r));
            yield into.subarray(i, i + piece.length);
          }
        } finally {
          stats.inFlight--;
        }
      })();
    },
  };
  return { source, stats };
}

async function collect(iterable: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of iterable) chunks.push(c);
  return Buffer.concat(chunks);
}

describe("the ranges of an object", () => {
  it("cover every byte once, the last part short, from an offset", () => {
    expect(partRanges(10, 4)).toEqual([[0, 3], [4, 7], [8, 9]]);
    expect(partRanges(8, 4)).toEqual([[0, 3], [4, 7]]);
    expect(partRanges(10, 4, 6)).toEqual([[6, 9]]);
    expect(partRanges(0, 4)).toEqual([]);
    expect(() => partRanges(10, 0)).toThrow(RangeError);
  });
});

describe("reading in parts", () => {
  const body = randomBytes(50_000 + 17);

  it("receives into at most `concurrency` part buffers, reused, the bytes handed on intact although later parts arrive first", async () => {
    for (const concurrency of [1, 2, 4]) {
      const { source, stats } = memorySource(body, { delay: (start) => 30 - start / 2000, lease: true });
      // Hashed as they come: a chunk is valid until the next one is asked for.
      const hash = createHash("sha256");
      for await (const chunk of readInParts(source, { size: body.length, partSize: 4096, concurrency })) hash.update(chunk);
      expect(hash.digest("hex")).toBe(sha(body));
      expect(stats.requests.length).toBe(Math.ceil(body.length / 4096));
      expect(stats.buffers.size).toBe(concurrency);
    }
  });

  it("hands on the bytes in order although later parts arrive first", async () => {
    // Earlier parts are slower: they finish last.
    const { source, stats } = memorySource(body, { delay: (start) => 40 - start / 2000 });
    const read = await collect(readInParts(source, { size: body.length, partSize: 4096, concurrency: 4 }));
    expect(sha(read)).toBe(sha(body));
    // 4 in flight, and at most the next one requested during the last quarter of the part being consumed.
    expect(stats.maxInFlight).toBeGreaterThanOrEqual(4);
    expect(stats.maxInFlight).toBeLessThanOrEqual(5);
  });

  it("never holds more than `concurrency` parts, plus the next one during the last quarter of a part, however slow the consumer", async () => {
    const { source, stats } = memorySource(body);
    let consumed = 0;
    let mostOutstanding = 0;
    let earlyWithMoreThanAQuarterLeft = 0;
    for await (const chunk of readInParts(source, { size: body.length, partSize: 4096, concurrency: 3 })) {
      consumed += chunk.length;
      // Parts requested but not yet wholly consumed: held in memory or downloading.
      const outstanding = stats.requests.length - Math.floor(consumed / 4096);
      mostOutstanding = Math.max(mostOutstanding, outstanding);
      const left = consumed % 4096 === 0 ? 0 : 4096 - (consumed % 4096);
      if (outstanding > 3 && left > 1024) earlyWithMoreThanAQuarterLeft++;
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(consumed).toBe(body.length);
    expect(stats.requests.length).toBe(Math.ceil(body.length / 4096));
    expect(mostOutstanding).toBe(4);
    expect(earlyWithMoreThanAQuarterLeft).toBe(0);
  });

  it("requests the next part early only in the last quarter of the part being consumed", () => {
    expect(lookaheadStarts(4096, 4096)).toBe(0);
    expect(lookaheadStarts(1025, 4096)).toBe(0);
    expect(lookaheadStarts(1024, 4096)).toBe(1);
    expect(lookaheadStarts(0, 4096)).toBe(1);
  });

  it("reads from an offset on (a continuation)", async () => {
    const { source } = memorySource(body);
    const read = await collect(readInParts(source, { size: body.length, offset: 20_000, partSize: 4096, concurrency: 2 }));
    expect(sha(read)).toBe(sha(body.subarray(20_000)));
  });

  it("fails on a part cut short, and aborts the requests in flight", async () => {
    const { source, stats } = memorySource(body, { tamper: (start, data) => (start === 8192 ? data.subarray(0, 100) : data) });
    await expect(collect(readInParts(source, { size: body.length, partSize: 4096, concurrency: 4 }))).rejects.toThrow(IntegrityError);
    expect(stats.aborted).toBeGreaterThan(0);
  });

  it("fails on a part that fails, whichever part it is", async () => {
    const failing: RangeSource = {
      async fetch(start) {
        if (start === 12288) throw Object.assign(new Error("slow down"), { name: "SlowDown" });
        return (async function* () {
          yield body.subarray(start, Math.min(start + 4096, body.length));
        })();
      },
    };
    await expect(collect(readInParts(failing, { size: body.length, partSize: 4096, concurrency: 2 }))).rejects.toMatchObject({ name: "SlowDown" });
  });
});
