/**
 * The read path against an S3 server in its own process: the function's reader (parallel Range GETs into
 * one digest) as a ratio to a raw GET + SHA-256 of the same object from the same server; the same through
 * a proxy that limits each connection (S3's per-connection rate); the reader's peak memory; and what each
 * read costs in CPU, in this process and in the server's.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as https from "node:https";
import type { Readable } from "node:stream";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { compareS3Checksum, type DigestPlan } from "../../lambda/checksums";
import type { DigestOffload } from "../../lambda/digest-offload";
import { digestStream } from "../../lambda/hashing";
import { createS3Client, s3HttpHandler, S3ObjectReader, type ReadSettings } from "../../lambda/s3-store";
import { LOCAL_CREDENTIALS } from "../local/local-endpoint";

const MiB = 1024 * 1024;

/**
 * A client as any SDK user makes one (the SDK's own HTTP handler): the raw GETs the reader is compared with.
 * `ca`: the certificate authority of a server over TLS.
 */
export function benchClient(endpoint: string, ca?: Buffer): S3Client {
  return new S3Client({
    ...(ca ? { requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 50, ca }) }) } : {}),
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** The client as the function makes it (createS3Client: its HTTP handler, timeouts and retries), for this endpoint. */
export function functionClient(endpoint: string, ca?: Buffer): S3Client {
  return createS3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: LOCAL_CREDENTIALS, ...(ca ? { requestHandler: s3HttpHandler({ ca }) } : {}) });
}

/** Uploads `body`; `checksum`, e.g. { ChecksumCRC64NVME: base64 }, is sent as its header for the server to store. */
export async function upload(client: S3Client, bucket: string, key: string, size: number, body: Readable, checksum: { ChecksumCRC64NVME?: string } = {}): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: size, ...checksum }));
}

/** Seconds `work` takes. */
export async function timed<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const started = process.hrtime.bigint();
  const result = await work();
  return { result, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Peak resident-set growth while `work` runs, sampled every 5 ms. */
export async function peakRssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number; seconds: number }> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    const { result, seconds } = await timed(work);
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - base, seconds };
  } finally {
    clearInterval(timer);
  }
}

/** One GET of the whole object, streamed through node:crypto's SHA-256: the baseline. */
export async function rawGetSha256(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash("sha256");
  for await (const chunk of out.Body as Readable) hash.update(chunk);
  return hash.digest("hex");
}

/** One GET of the whole object, its bytes dropped: what receiving alone costs. No digest (undefined). */
export async function rawGetReceive(client: S3Client, bucket: string, key: string): Promise<undefined> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  for await (const chunk of out.Body as Readable) void chunk;
  return undefined;
}

/** One GET of the whole object through the function's one-pass digest with `plan`: the same work as the reader, in one stream. */
export async function rawGetDigest(client: S3Client, bucket: string, key: string, plan: DigestPlan | undefined): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await digestStream(out.Body as Readable, plan)).sha256Hex;
}

/** The verifying algorithm the reader computes for this object (what the server stored decides it); throws unless the read verifies. */
export async function readerPlan(client: S3Client, settings: ReadSettings, bucket: string, key: string, size: number): Promise<DigestPlan | undefined> {
  const read = await new S3ObjectReader(client, undefined, settings).read({ bucket, key, expectedSize: size });
  const check = compareS3Checksum(read.stored, read.computed);
  if (check.verification !== "match") throw new Error(`the reader's read of ${key} is ${check.verification}: ${check.reason ?? ""}`);
  const verifying = read.computed.verifying;
  return verifying ? { algorithm: verifying.algorithm, ...(verifying.parts ? { partSizes: read.stored.parts?.map((p) => p.size) } : {}) } : undefined;
}

/** The function's reader, as the handler builds it, reading the object whole (hashing on a worker thread with `offload`). */
export async function readerSha256(client: S3Client, settings: ReadSettings, bucket: string, key: string, size: number, offload?: DigestOffload): Promise<string> {
  const read = await new S3ObjectReader(client, undefined, settings, offload).read({ bucket, key, expectedSize: size });
  return read.computed.sha256Hex;
}

/** CPU seconds (user + system, every thread) process `pid` has used so far: Linux's /proc; undefined elsewhere. */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  return cpuSecondsOfStat(stat, clockTicks());
}

/**
 * The CPU seconds in a /proc/<pid>/stat line: utime + stime, the 12th and 13th fields after the command
 * name's last closing parenthesis (the name may hold spaces and parentheses), in `ticks` per second. Pure.
 */
export function cpuSecondsOfStat(stat: string, ticks: number): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const seconds = (Number(fields[11]) + Number(fields[12])) / ticks;
  return Number.isFinite(seconds) ? seconds : undefined;
}

let ticks: number | undefined;
/** Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked). */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** What one measured read cost in CPU. */
export interface ReadCost {
  /** CPU milliseconds per MiB read in this process, all its threads (the digest worker's and the garbage collector's included). */
  readonly clientMsPerMiB: number;
  /** The same in the server's process, when it can be measured. */
  readonly serverMsPerMiB?: number;
  /** Share of the wall time this process's event loop was busy (1: the read's thread never waited). */
  readonly busy: number;
}

/** CPU cores the read kept busy (this process and the server) at `rate` bytes/s. Pure. */
export function coresInUse(cost: ReadCost, rate: number): number {
  return ((cost.clientMsPerMiB + (cost.serverMsPerMiB ?? 0)) / 1000) * (rate / MiB);
}

/**
 * Bytes/s of each measurement: the best of `rounds`, interleaved so that a busy machine slows all alike;
 * with what the best round cost in CPU (the server's too, given its `serverPid`). Every run that returns a
 * digest must return the same one; a run that hashes nothing returns undefined.
 */
export async function bestRates(
  size: number,
  rounds: number,
  runs: Record<string, () => Promise<string | undefined>>,
  serverPid?: number,
): Promise<{ rates: Record<string, number>; costs: Record<string, ReadCost> }> {
  const rates: Record<string, number> = {};
  const costs: Record<string, ReadCost> = {};
  const digests = new Set<string>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(runs)) {
      const server = serverPid === undefined ? undefined : processCpuSeconds(serverPid);
      const cpu = process.cpuUsage();
      const loop = performance.eventLoopUtilization();
      const { result, seconds } = await timed(run);
      const busy = performance.eventLoopUtilization(loop).utilization;
      const used = process.cpuUsage(cpu);
      const serverUsed = server === undefined ? undefined : processCpuSeconds(serverPid!);
      if (result !== undefined) digests.add(result);
      if (size / seconds <= (rates[name] ?? 0)) continue;
      rates[name] = size / seconds;
      const perMiB = (cpuSeconds: number) => (cpuSeconds * 1000) / (size / MiB);
      costs[name] = {
        clientMsPerMiB: perMiB((used.user + used.system) / 1e6),
        ...(server !== undefined && serverUsed !== undefined ? { serverMsPerMiB: perMiB(serverUsed - server) } : {}),
        busy,
      };
    }
  }
  if (digests.size > 1) throw new Error(`the reads disagree on the SHA-256: ${[...digests].join(", ")}`);
  return { rates, costs };
}

export const mib = (rate: number) => `${(rate / MiB).toFixed(0)} MiB/s`;
