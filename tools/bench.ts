/**
 * `npm run bench`: how fast, and in how much memory, the function reads and hashes an object, measured in
 * one run on this machine and reported as ratios (absolute speeds depend on the machine).
 *
 *   1. SHA-256 of an in-memory buffer (node:crypto, and hash-wasm's resumable one): the ceilings.
 *   2. The one-pass digest of an in-memory stream, native and resumable: the cost of streaming.
 *   3. The S3 read path against s3rver in its own process: the function's reader (parallel Range GETs)
 *      as a ratio to a raw GET + SHA-256 of the same object from the same server; its peak memory; what
 *      the reads cost in CPU per MiB (this process and the server's), against a GET that only receives.
 *   4. The same through a loopback proxy that limits each connection (S3's per-connection rate): the
 *      parallel reader against one stream.
 *   5. The largest object one invocation finishes, from the measured rates and the configured timeout.
 *   6. The one-pass digest with each checksum S3 may have stored, as a ratio to SHA-256 alone.
 *   7. Cold load of the bundle.
 *
 * Flags: --size MiB (the object read unthrottled and for memory; 2048 for the 2 GiB figure), --throttled-size
 * MiB, --rate MiB/s per connection, --rounds.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { createSHA256 } from "hash-wasm";
import { DEADLINE_RESERVE_MS } from "../lambda/handler";
import { digestStreamWith, DigestWorkerPool, LAMBDA_MB_PER_VCPU } from "../lambda/digest-offload";
import { createHasher, digestStream } from "../lambda/hashing";
import { DEFAULT_READ_SETTINGS } from "../lambda/s3-store";
import { DEFAULTS } from "../stacks/pipeline";
import { coldStartReport } from "./bench/cold-start";
import { benchClient, bestRates, functionClient, coresInUse, mib, type ReadCost, peakRssGrowth, rawGetDigest, rawGetReceive, rawGetSha256, readerPlan, readerSha256, timed, upload } from "./bench/read-path";
import { LOOPBACK_TLS, startS3ServerProcess } from "./bench/s3-server-process";
import { startThrottleProxy } from "./bench/throttle-proxy";
import { verifyingReport } from "./bench/verifying";
import { formatBytes } from "./format";

const MiB = 1024 * 1024;
/** AWS's guidance for one connection to S3 (about 85–90 MB/s), in bytes/s. */
const AWS_PER_CONNECTION = 85e6;

/** A stream of `total` bytes made of one repeated random block (`block`, or a new one), so producing it costs next to nothing. */
function generated(total: number, chunk = 64 * 1024, block: Buffer = randomBytes(chunk)): Readable {
  chunk = block.length;
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, left);
      left -= n;
      this.push(n === chunk ? block : block.subarray(0, n));
    },
  });
}

const pass = (ok: boolean) => (ok ? "met" : "**not met**");
/** A ratio checked against a target, rounded down: a ratio shown as 0.95 has met 0.95. */
const floor2 = (ratio: number) => (Math.floor(ratio * 100 + 1e-9) / 100).toFixed(2);

/** CPU milliseconds per MiB of work that runs at `rate` bytes/s on one core. */
const msPerMiB = (rate: number) => (1000 * MiB) / rate;

/**
 * What the unthrottled reads of the object stored with CRC64NVME cost in CPU: per MiB in the reading process
 * (every thread) and in the server's, the cores they kept busy together, how busy the read's thread was, and
 * the reader's CPU per MiB beyond the raw GET's next to what CRC64NVME alone costs. When the reading
 * process is CPU-bound, the unthrottled ratio is one of CPU per MiB.
 */
function cpuRows(rates: Record<string, number>, costs: Record<string, ReadCost>, cores: number, crc64Rate: number, what = "CRC64NVME stored"): string[] {
  const labels: Record<string, string> = { receive: "a raw GET receiving only (no hash)", raw: "the raw GET + SHA-256", reader: "the reader, in-thread", readerWorker: "the reader, digest worker" };
  const rows = Object.entries(labels).filter(([name]) => costs[name] !== undefined).map(([name, label]) => {
    const cost = costs[name];
    const server = cost.serverMsPerMiB === undefined ? "" : `, ${cost.serverMsPerMiB.toFixed(2)} ms in the server`;
    return (
      `| ${what}, CPU of ${label} | ${cost.clientMsPerMiB.toFixed(2)} ms per MiB in the reading process${server}; ` +
      `${coresInUse(cost, rates[name]).toFixed(2)} of ${cores} cores busy; the read's thread busy ${(cost.busy * 100).toFixed(0)} % of the time | | |`
    );
  });
  const extra = costs.reader.clientMsPerMiB - costs.raw.clientMsPerMiB;
  rows.push(`| ${what}, CPU per MiB the reader (in-thread) spends beyond the raw GET + SHA-256 | ${extra >= 0 ? "+" : ""}${extra.toFixed(2)} ms; CRC64NVME alone in memory: ${msPerMiB(crc64Rate).toFixed(2)} ms | | |`);
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "512" },
      "throttled-size": { type: "string", default: "256" },
      rate: { type: "string", default: "40" },
      rounds: { type: "string", default: "2" },
    },
  });
  const size = Number(values.size) * MiB;
  const throttledSize = Number(values["throttled-size"]) * MiB;
  const perConnection = Number(values.rate) * MiB;
  const rounds = Number(values.rounds);
  for (const [flag, value] of [["--size", size], ["--throttled-size", throttledSize], ["--rate", perConnection], ["--rounds", rounds]] as const) {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${flag} must be a positive whole number`);
  }
  const settings = DEFAULT_READ_SETTINGS;

  // 1. In-memory SHA-256, native and hash-wasm.
  const buffer = randomBytes(64 * MiB);
  const memRounds = Math.max(1, Math.round(Math.min(size, 512 * MiB) / buffer.length));
  const native = await timed(async () => {
    for (let i = 0; i < memRounds; i++) createHash("sha256").update(buffer).digest();
  });
  const nativeRate = (memRounds * buffer.length) / native.seconds;
  const wasm = await createSHA256();
  const wasmRun = await timed(async () => {
    for (let i = 0; i < memRounds; i++) wasm.init().update(buffer).digest();
  });
  const wasmRate = (memRounds * buffer.length) / wasmRun.seconds;
  // CRC64NVME alone, as the function verifies with it (crc64nvme.ts), and hash-wasm's (the resumable engine's):
  // what verifying an object as S3 stores it today costs.
  // Best of 3 interleaved rounds: WebAssembly starts on V8's baseline compiler and moves to its optimizing one
  // while it runs, which a single pass would charge to whichever engine went first.
  const crc64Rates = [0, 0];
  for (let round = 0; round < 3; round++) {
    for (const [i, engine] of (["native", "resumable"] as const).entries()) {
      const hasher = await createHasher("CRC64NVME", engine);
      const run = await timed(async () => {
        for (let r = 0; r < memRounds; r++) hasher.update(buffer);
      });
      crc64Rates[i] = Math.max(crc64Rates[i], (memRounds * buffer.length) / run.seconds);
    }
  }
  const [crc64Rate, crc64WasmRate] = crc64Rates;

  // 2. The one-pass digest over a stream, both engines.
  const streamSize = Math.min(size, 512 * MiB);
  const streamRate = streamSize / (await timed(() => digestStream(generated(streamSize)))).seconds;
  const resumableRate = streamSize / (await timed(() => digestStream(generated(streamSize), undefined, "resumable"))).seconds;

  // 3 and 4. The read path, server in its own process.
  const dir = mkdtempSync(path.join(tmpdir(), "cix-bench-"));
  const server = await startS3ServerProcess(dir, "bench");
  const proxy = await startThrottleProxy(server.endpoint, perConnection);
  // Raw GETs go through the SDK's own HTTP handler, as any SDK user's do; the reader through the function's client.
  const direct = benchClient(server.endpoint);
  const slow = benchClient(proxy.endpoint);
  const fn = functionClient(server.endpoint);
  const fnSlow = functionClient(proxy.endpoint);
  const lines: string[] = [];
  let readRate = 0;
  let readerMsPerMiB = 0;
  // The reader with its hashing on a worker thread: the worker's start (once per container) is done before.
  const pool = new DigestWorkerPool();
  const offload = { pool };
  try {
    await digestStreamWith([Buffer.alloc(1)], { algorithm: "CRC32" }, offload);
    await upload(direct, "bench", "big.bin", size, generated(size));
    // The same size with a CRC64NVME checksum, which S3 stores for every upload today (sent, or computed).
    const block = randomBytes(64 * 1024);
    const crc64 = (await digestStream(generated(size, 0, block), { algorithm: "CRC64NVME" })).verifying!.value!;
    await upload(direct, "bench", "big-crc64nvme.bin", size, generated(size, 0, block), { ChecksumCRC64NVME: crc64 });
    await upload(direct, "bench", "throttled.bin", throttledSize, generated(throttledSize));

    // The first read of the process, from a collected heap (--expose-gc): everything it needs, the code's
    // first use included. A warm read after the others is printed too, but RSS the allocator kept from
    // earlier reads hides growth there, so the target is checked on the first.
    const memory = await peakRssGrowth(() => readerSha256(fn, settings, "bench", "big.bin", size));
    const plan = await readerPlan(fn, settings, "bench", "big.bin", size);
    const crcPlan = await readerPlan(fn, settings, "bench", "big-crc64nvme.bin", size);
    if (crcPlan?.algorithm !== "CRC64NVME") throw new Error(`the reader verified big-crc64nvme.bin with ${crcPlan?.algorithm ?? "nothing"}, not CRC64NVME`);
    const { rates: unthrottled } = await bestRates(size, rounds, {
      raw: () => rawGetSha256(direct, "bench", "big.bin"),
      rawSame: () => rawGetDigest(direct, "bench", "big.bin", plan),
      reader: () => readerSha256(fn, settings, "bench", "big.bin", size),
      readerWorker: () => readerSha256(fn, settings, "bench", "big.bin", size, offload),
    });
    const { rates: crc, costs: crcCosts } = await bestRates(
      size,
      rounds,
      {
        raw: () => rawGetSha256(direct, "bench", "big-crc64nvme.bin"),
        reader: () => readerSha256(fn, settings, "bench", "big-crc64nvme.bin", size),
        readerWorker: () => readerSha256(fn, settings, "bench", "big-crc64nvme.bin", size, offload),
        // A GET that only receives (no hashing): what receiving costs by itself. It does not simply add to the
        // hashes' costs: a GET that drops its bytes often pays more per MiB than one that hashes them.
        receive: () => rawGetReceive(direct, "bench", "big-crc64nvme.bin"),
      },
      server.pid,
    );
    const warm = await peakRssGrowth(() => readerSha256(fn, settings, "bench", "big.bin", size));
    // Over TLS, as in AWS: the same object from s3rver serving HTTPS (tools/tls's certificate), raw GETs
    // through the SDK's handler, the reader through the function's.
    const tlsDir = mkdtempSync(path.join(tmpdir(), "cix-bench-tls-"));
    const tlsServer = await startS3ServerProcess(tlsDir, "bench", true);
    const ca = readFileSync(LOOPBACK_TLS.cert);
    const tlsDirect = benchClient(tlsServer.endpoint, ca);
    const tlsFn = functionClient(tlsServer.endpoint, ca);
    let overTls: Awaited<ReturnType<typeof bestRates>>;
    try {
      await upload(tlsDirect, "bench", "big-crc64nvme.bin", size, generated(size, 0, block), { ChecksumCRC64NVME: crc64 });
      overTls = await bestRates(
        size,
        rounds,
        { raw: () => rawGetSha256(tlsDirect, "bench", "big-crc64nvme.bin"), reader: () => readerSha256(tlsFn, settings, "bench", "big-crc64nvme.bin", size) },
        tlsServer.pid,
      );
    } finally {
      tlsDirect.destroy();
      tlsFn.destroy();
      await tlsServer.close();
      rmSync(tlsDir, { recursive: true, force: true });
    }
    const tlsRatio = overTls.rates.reader / overTls.rates.raw;
    // The object stored with CRC64NVME reads as objects do in AWS today.
    readRate = crc.reader;
    // The model of AWS takes the read over TLS, as S3 serves it there.
    readerMsPerMiB = overTls.costs.reader.clientMsPerMiB;
    const { rates: throttled } = await bestRates(throttledSize, 1, {
      single: () => rawGetSha256(slow, "bench", "throttled.bin"),
      parallel: () => readerSha256(fnSlow, settings, "bench", "throttled.bin", throttledSize),
      parallelWorker: () => readerSha256(fnSlow, settings, "bench", "throttled.bin", throttledSize, offload),
    });

    const ceiling = Math.min(settings.concurrency * perConnection, nativeRate);
    const memoryBound = settings.concurrency * settings.partSize + 32 * MiB;
    const unthrottledRatio = unthrottled.reader / unthrottled.raw;
    const workerRatio = unthrottled.readerWorker / unthrottled.raw;
    const crcRatio = crc.reader / crc.raw;
    const crcWorkerRatio = crc.readerWorker / crc.raw;
    const vsCeiling = throttled.parallel / ceiling;
    const vsSingle = throttled.parallel / throttled.single;
    const workerVsCeiling = throttled.parallelWorker / ceiling;
    const workerVsSingle = throttled.parallelWorker / throttled.single;
    lines.push(
      `Read path: objects of ${formatBytes(size)} (unthrottled, memory) and ${formatBytes(throttledSize)} (throttled), ` +
        `parts of ${formatBytes(settings.partSize)}, ${settings.concurrency} in flight; s3rver in its own process (pid ${server.pid}); ` +
        `best of ${rounds} interleaved round(s) unthrottled, 1 throttled. Two objects unthrottled: one stored with a CRC64NVME checksum, ` +
        "as S3 stores every upload today (the server keeps what the upload sent, see tools/bench/s3-server-process.ts), and one with only " +
        "its MD5 ETag (older uploads, and uploads to s3rver).",
      "",
      "| measurement | figure | target | |",
      "| --- | --- | --- | --- |",
      `| SHA-256 in memory, node:crypto (the CPU ceiling) | ${mib(nativeRate)} | | |`,
      `| SHA-256 in memory, hash-wasm (resumable) | ${mib(wasmRate)} (${(wasmRate / nativeRate).toFixed(2)}×) | | |`,
      `| CRC64NVME in memory, slicing-by-16 (crc64nvme.c, what the function verifies with) / hash-wasm (the resumable engine's) | ${mib(crc64Rate)} = ${msPerMiB(crc64Rate).toFixed(2)} ms of CPU per MiB / ${mib(crc64WasmRate)} (${(crc64Rate / crc64WasmRate).toFixed(2)}×) | | |`,
      `| one-pass digest of a stream, native / resumable | ${mib(streamRate)} / ${mib(resumableRate)} | | |`,
      `| CRC64NVME stored: raw GET + SHA-256, one stream | ${mib(crc.raw)} | | |`,
      `| CRC64NVME stored: the function's reader, hashing in-thread | ${mib(crc.reader)} = **${floor2(crcRatio)}×** the raw GET + SHA-256 | ≥ 0.95× | ${pass(crcRatio >= 0.95)} |`,
      `| CRC64NVME stored: the function's reader, verifying on the digest worker | ${mib(crc.readerWorker)} = **${floor2(crcWorkerRatio)}×** the raw GET + SHA-256 | ≥ 0.95× | ${pass(crcWorkerRatio >= 0.95)} |`,
      ...cpuRows(crc, crcCosts, availableParallelism(), crc64Rate),
      `| over TLS, CRC64NVME stored: raw GET + SHA-256, one stream | ${mib(overTls.rates.raw)} | | |`,
      `| over TLS, CRC64NVME stored: the function's reader, hashing in-thread | ${mib(overTls.rates.reader)} = **${floor2(tlsRatio)}×** the raw GET + SHA-256 | ≥ 0.95× | ${pass(tlsRatio >= 0.95)} |`,
      ...cpuRows(overTls.rates, overTls.costs, availableParallelism(), crc64Rate, "over TLS, CRC64NVME stored"),
      `| MD5 ETag only: raw GET + SHA-256, one stream | ${mib(unthrottled.raw)} | | |`,
      `| MD5 ETag only: raw GET + the reader's one-pass digest (SHA-256 + ${plan?.algorithm ?? "nothing"}), one stream | ${mib(unthrottled.rawSame)} | | |`,
      `| MD5 ETag only: the function's reader, hashing in-thread | ${mib(unthrottled.reader)} = **${floor2(unthrottledRatio)}×** the raw GET + SHA-256, ${(unthrottled.reader / unthrottled.rawSame).toFixed(2)}× the raw GET + same digest | ≥ 0.95× | ${pass(unthrottledRatio >= 0.95)} |`,
      `| MD5 ETag only: the function's reader, verifying on the digest worker | ${mib(unthrottled.readerWorker)} = **${floor2(workerRatio)}×** the raw GET + SHA-256, ${(unthrottled.readerWorker / unthrottled.rawSame).toFixed(2)}× the raw GET + same digest | ≥ 0.95× | ${pass(workerRatio >= 0.95)} |`,
      `| one stream through the proxy (${mib(perConnection)} per connection) | ${mib(throttled.single)} | | |`,
      `| the function's reader through the proxy, in-thread | ${mib(throttled.parallel)} = **${floor2(vsCeiling)}×** min(${settings.concurrency} × ${mib(perConnection)}, SHA-256) = **${floor2(vsSingle)}×** one stream | ≥ 0.8× and ≥ 3.5× | ${pass(vsCeiling >= 0.8 && vsSingle >= 3.5)} |`,
      `| the function's reader through the proxy, digest worker | ${mib(throttled.parallelWorker)} = **${floor2(workerVsCeiling)}×** min(${settings.concurrency} × ${mib(perConnection)}, SHA-256) = **${floor2(workerVsSingle)}×** one stream | ≥ 0.8× and ≥ 3.5× | ${pass(workerVsCeiling >= 0.8 && workerVsSingle >= 3.5)} |`,
      `| peak RSS growth reading ${formatBytes(size)} (the first read of the process${global.gc ? ", from a collected heap" : ""}) | ${formatBytes(memory.growth)} | ≤ ${formatBytes(memoryBound)} (parts in flight × part size + 32 MiB) | ${pass(memory.growth <= memoryBound)} |`,
      `| the same, a warm read after the others (RSS kept from them hides growth) | ${formatBytes(warm.growth)} | | |`,
    );
  } finally {
    await pool.close();
    for (const client of [direct, slow, fn, fnSlow]) client.destroy();
    await proxy.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }

  // 5. The largest object one invocation finishes.
  const timeout = DEFAULTS.function.timeoutSeconds;
  const usable = timeout - DEADLINE_RESERVE_MS / 1000;
  const vcpu = Math.min(1, DEFAULTS.function.memorySize / LAMBDA_MB_PER_VCPU);
  // The CPU a read costs per MiB in AWS, modelled from this run: the reader's own, measured above (receiving,
  // SHA-256, CRC64NVME and all else; not the receive-only GET's cost plus the hashes', which do not add up:
  // a GET that only receives often costs more per MiB than one that hashes too). The resumable digest costs
  // what hash-wasm's SHA-256 and CRC64NVME cost beyond the native ones.
  const nativeMs = readerMsPerMiB;
  const resumableMs = readerMsPerMiB + msPerMiB(wasmRate) - msPerMiB(nativeRate) + msPerMiB(crc64WasmRate) - msPerMiB(crc64Rate);
  const cpuCap = (msPerMiB: number) => ((vcpu * 1000) / msPerMiB) * MiB;
  const awsRate = Math.min(settings.concurrency * AWS_PER_CONNECTION, cpuCap(nativeMs));
  const awsResumable = Math.min(settings.concurrency * AWS_PER_CONNECTION, cpuCap(resumableMs));
  const fiftyTB = 50e12;
  lines.push(
    "",
    `Largest object one invocation finishes (default timeout ${timeout} s, less the ${DEADLINE_RESERVE_MS / 1000} s reserve = ${usable} s):`,
    `- here, at the reader's measured ${mib(readRate)} (the object stored with CRC64NVME, in-thread): ${formatBytes(readRate * usable)};`,
    `- in AWS (a model, not a measurement): ${settings.concurrency} connections × 85 MB/s (AWS's guidance), capped by the CPU of ` +
      `${vcpu.toFixed(2)} vCPU (${DEFAULTS.function.memorySize} MB of memory; 1 vCPU at ${LAMBDA_MB_PER_VCPU} MB) at what the reader's process spent here ` +
      `per MiB of the object stored with CRC64NVME (in-thread, over TLS on loopback): ${nativeMs.toFixed(2)} ms: ${mib(awsRate)} → ${formatBytes(awsRate * usable)};`,
    `- larger objects continue in further invocations with the resumable digest (hash-wasm's SHA-256 and CRC64NVME, ` +
      `${(resumableMs - nativeMs).toFixed(2)} ms per MiB more: ${resumableMs.toFixed(2)} ms, ${mib(awsResumable)} in the same model): ` +
      `a 50 TB object takes about ${Math.ceil(fiftyTB / (awsResumable * usable))} invocations (${(fiftyTB / awsResumable / 3600).toFixed(0)} h).`,
  );
  for (const line of lines) console.log(line);
  console.log("");
  for (const line of await verifyingReport(streamSize, generated, rounds)) console.log(line);
  console.log("");
  for (const line of coldStartReport(path.resolve(__dirname, ".."))) console.log(line);
}

main().catch((error) => {
  console.error(`npm run bench: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
