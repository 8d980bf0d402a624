/**
 * `npm run bench`: how fast, and in how much memory, the function hashes an object, measured in one run
 * on this machine and reported as ratios (absolute speeds depend on the machine).
 *
 *   1. SHA-256 of an in-memory buffer: the ceiling.
 *   2. The function's one-pass digest (SHA-256 alone) of an in-memory stream: the cost of streaming.
 *   3. The function's S3 reader against an S3-compatible server on loopback: the whole read path.
 *   4. The one-pass digest with each checksum S3 may have stored, as a ratio to SHA-256 alone.
 *
 * Memory: the growth of the process's resident set while an object many times larger than it is read.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { digestStream } from "../lambda/hashing";
import { S3ObjectReader } from "../lambda/s3-store";
import { coldStartReport } from "./bench/cold-start";
import { verifyingReport } from "./bench/verifying";
import { formatBytes } from "./format";
import { LOCAL_CREDENTIALS, startLocalEndpoint } from "./local/local-endpoint";

const MiB = 1024 * 1024;

/** A stream of `total` bytes made of one repeated random block, so producing it costs next to nothing. */
function generated(total: number, chunk = 64 * 1024): Readable {
  const block = randomBytes(chunk);
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

/** Peak resident-set growth while `work` runs, sampled every 10 ms. */
async function peakRssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number; seconds: number }> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const started = process.hrtime.bigint();
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - base, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: "string", default: "512" } } });
  const size = Number(values.size) * MiB;
  if (!Number.isInteger(size) || size <= 0) throw new Error(`--size ${values.size} is not a number of MiB`);

  // 1. In-memory SHA-256.
  const buffer = randomBytes(64 * MiB);
  const rounds = Math.max(1, Math.round(size / buffer.length));
  let started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) createHash("sha256").update(buffer).digest();
  const memorySeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const memoryRate = (rounds * buffer.length) / memorySeconds;

  // 2. The one-pass digest over a stream.
  started = process.hrtime.bigint();
  await digestStream(generated(size));
  const streamRate = size / (Number(process.hrtime.bigint() - started) / 1e9);

  // 3. The S3 read path, against the local endpoint on loopback.
  const dir = mkdtempSync(path.join(tmpdir(), "cix-bench-"));
  const endpoint = await startLocalEndpoint({ directory: dir, port: 0, buckets: ["bench"], onEvent: () => {} });
  const client = new S3Client({
    endpoint: endpoint.url,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  try {
    await client.send(new PutObjectCommand({ Bucket: "bench", Key: "big.bin", Body: generated(size), ContentLength: size }));
    const reader = new S3ObjectReader(client);
    const read = await peakRssGrowth(() => reader.read({ bucket: "bench", key: "big.bin", expectedSize: size }));
    const s3Rate = size / read.seconds;

    const rows: Array<[string, string, string]> = [
      ["SHA-256 of an in-memory buffer", `${(memoryRate / MiB).toFixed(0)} MiB/s`, "1.00"],
      ["one-pass digest (SHA-256) of a stream", `${(streamRate / MiB).toFixed(0)} MiB/s`, (streamRate / memoryRate).toFixed(2)],
      ["the function's S3 read path (loopback)", `${(s3Rate / MiB).toFixed(0)} MiB/s`, (s3Rate / memoryRate).toFixed(2)],
    ];
    console.log(`Object of ${formatBytes(size)}, one run on this machine.\n`);
    console.log("| path | throughput | ratio to in-memory SHA-256 |\n| --- | --- | --- |");
    for (const [name, rate, ratio] of rows) console.log(`| ${name} | ${rate} | ${ratio} |`);
    console.log(
      `\nPeak resident memory growth while reading it through S3: ${formatBytes(read.growth)} ` +
        `(${((read.growth / size) * 100).toFixed(1)}% of the object; server and client in one process).`,
    );
  } finally {
    client.destroy();
    await endpoint.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log("");
  for (const line of await verifyingReport(size, generated)) console.log(line);
  console.log("");
  for (const line of coldStartReport(path.resolve(__dirname, ".."))) console.log(line);
}

main().catch((error) => {
  console.error(`npm run bench: ${(error as Error).message}`);
  process.exit(1);
});
