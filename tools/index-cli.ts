/**
 * `npm run index -- <command>`: use the index.
 *
 *   get <s3://bucket/key>            the index record of an object
 *   find <sha256>                    every indexed object with that content
 *   verify <s3://bucket/key|prefix/> re-read objects, recompute SHA-256, compare with the index
 *   backfill <s3://bucket/prefix>    index objects that existed before the notification, or were missed
 *
 * The index is --index s3://bucket/prefix, else INDEX_BUCKET/INDEX_PREFIX, else the synthesized stack's
 * (--stack, default dev). The endpoint is the SDK's: AWS_ENDPOINT_URL_S3 for the local endpoint.
 */
import { parseArgs } from "node:util";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { ENV } from "../lambda/contract";
import { createS3Client } from "../lambda/s3-store";
import {
  IndexTools,
  UsageError,
  defaultCheckpointFile,
  parseS3Uri,
  type BackfillSummary,
  type IndexLocation,
  type S3Location,
  type VerifyResult,
} from "./index/index-tools";
import { batchJobRequests, batchScopes, runBatchBackfill, s3ControlJobs, type JobSummary } from "./index/batch-backfill";
import { formatBytes } from "./format";
import { appPipeline } from "./stack-config";

const USAGE = `Usage: npm run index -- <command> [options]

Commands:
  get <s3://bucket/key>              print the index record of an object
  find <sha256>                      list every indexed object with this content (exit 1 if none)
  verify <s3://bucket/key | s3://bucket/prefix/>
                                     re-read, recompute SHA-256, compare with the index (exit 1 on any mismatch)
  backfill <s3://bucket/prefix>      index objects that are not indexed yet; resumable
  backfill --batch <s3://bucket/prefix>
                                     the same on S3 Batch Operations: one job per trigger rule, run by AWS

Options:
  --index s3://bucket/prefix/        the index (default: ${ENV.indexBucket}/${ENV.indexPrefix}, else the stack's)
  --stack <name>                     stack whose index is used (default: dev)
  --json                             machine-readable output
  --concurrency <n>                  objects at a time for verify and backfill (default: 4)
  --checkpoint <file>                backfill checkpoint (default: .backfill-<hash of the URI>.json)
  --max-objects <n>                  backfill at most n objects in this run, then stop with a checkpoint
  --page-size <n>                    objects listed per request (default: 1000)
  --batch                            backfill with S3 Batch Operations (the stack needs batchOperations: {})
  --no-wait                          with --batch: create the jobs and return
  --manifest <s3://bucket/manifest.json>
                                     with --batch: an S3 Inventory manifest instead of listing the bucket
  --account-id <12 digits>           with --batch: the stack's account (default CHECKSUM_INDEX_ACCOUNT_ID)

Endpoint and credentials are the AWS SDK's: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
AWS_REGION, and AWS_ENDPOINT_URL_S3 (with ${ENV.forcePathStyle}=true) for an S3-compatible endpoint such as
local mode's.`;

interface Io {
  out(line: string): void;
  err(line: string): void;
  progress(line: string): void;
}

const defaultIo: Io = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  progress: (line) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
  },
};

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} ${value} is not a whole number of 1 or more`);
  return n;
}

function indexLocation(values: { index?: string; stack?: string }, env: NodeJS.ProcessEnv): IndexLocation {
  if (values.index) {
    const { bucket, key } = parseS3Uri(values.index, "an index location");
    return { bucket, prefix: key };
  }
  const fromEnv = env[ENV.indexBucket];
  if (fromEnv) return { bucket: fromEnv, prefix: env[ENV.indexPrefix] ?? "" };
  const pipeline = appPipeline(values.stack ?? "dev", env);
  return { bucket: pipeline.index.name, prefix: pipeline.index.prefix };
}


/** `backfill --batch`: one S3 Batch Operations job per trigger rule the prefix reaches. */
async function batchBackfill(
  location: S3Location,
  values: { stack?: string; json?: boolean; "no-wait"?: boolean; manifest?: string; "account-id"?: string },
  env: NodeJS.ProcessEnv,
  io: Io,
  s3: S3Client,
): Promise<number> {
  const pipeline = appPipeline(values.stack ?? "dev", env);
  const accountId = values["account-id"] ?? pipeline.accountId;
  if (!accountId || !/^\d{12}$/.test(accountId)) {
    throw new UsageError("backfill --batch needs the stack's account: set CHECKSUM_INDEX_ACCOUNT_ID or pass --account-id <12 digits>");
  }
  const scopes = batchScopes(pipeline, location);
  let manifest: { objectArn: string; eTag: string } | undefined;
  if (values.manifest) {
    const where = parseS3Uri(values.manifest, "an S3 Inventory manifest");
    const head = await s3.send(new HeadObjectCommand({ Bucket: where.bucket, Key: where.key }));
    manifest = { objectArn: `arn:${pipeline.partition}:s3:::${where.bucket}/${where.key}`, eTag: (head.ETag ?? "").replace(/"/g, "") };
  }
  const requests = batchJobRequests(pipeline, scopes, { accountId, manifest });
  const jobs = await s3ControlJobs(pipeline.region);
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    io.err("\nstopped waiting: the jobs go on in AWS (follow them in the S3 console, Batch Operations)");
  };
  process.once("SIGINT", onSigint);
  let summaries: JobSummary[];
  try {
    summaries = await runBatchBackfill(jobs, requests, {
      wait: !values["no-wait"],
      shouldStop: () => interrupted,
      onProgress: (s) => io.progress(`batch job ${s.jobId}  ${s.status}  ${s.succeeded + s.failed}/${s.total || "?"} tasks  ${s.failed} failed`),
    });
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
  io.progress("");
  if (values.json) io.out(JSON.stringify(summaries));
  else {
    for (const [i, s] of summaries.entries()) {
      io.out(`job ${s.jobId} (${scopes[i].prefix}*${scopes[i].suffix}): ${s.status}, ${s.total} tasks, ${s.succeeded} succeeded, ${s.failed} failed${s.report ? `; report ${s.report}` : ""}`);
      for (const reason of s.failureReasons) io.out(`  ${reason}`);
    }
  }
  return summaries.every((s) => s.failed === 0 && s.status !== "Failed" && s.status !== "Cancelled") ? 0 : 1;
}

/** Says what went wrong in words a user can act on. */
export function explain(error: unknown, endpoint: string | undefined): string {
  const e = error as Error & { name?: string; $metadata?: { httpStatusCode?: number }; BucketName?: string };
  if (e instanceof UsageError) return e.message;
  if (e.name === "CredentialsProviderError" || /Could not load credentials/i.test(e.message)) {
    return "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (local mode: S3RVER / S3RVER)";
  }
  if (/Region is missing/i.test(e.message)) return "no AWS region: set AWS_REGION (local mode: us-east-1)";
  if (e.name === "NoSuchBucket") return `the bucket ${e.BucketName ?? ""} does not exist${endpoint ? ` at ${endpoint}` : ""}`.replace("  ", " ");
  if (e.name === "AccessDenied" || e.$metadata?.httpStatusCode === 403) return `access denied: ${e.message}`;
  if ((e as NodeJS.ErrnoException).code === "ECONNREFUSED" || /ECONNREFUSED/.test(e.message)) {
    return `cannot reach ${endpoint ?? "S3"}: is the endpoint running (npm start)?`;
  }
  return e.message;
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = defaultIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        index: { type: "string" },
        stack: { type: "string" },
        json: { type: "boolean", default: false },
        concurrency: { type: "string" },
        checkpoint: { type: "string" },
        "max-objects": { type: "string" },
        "page-size": { type: "string" },
        batch: { type: "boolean", default: false },
        "no-wait": { type: "boolean", default: false },
        manifest: { type: "string" },
        "account-id": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, argument] = positionals;
  if (values.help || !command) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  try {
    if (!["get", "find", "verify", "backfill"].includes(command)) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
    if (!argument) throw new UsageError(`${command} needs an argument\n\n${USAGE}`);
    const concurrency = positiveInt("concurrency", values.concurrency, 4);
    const s3 = createS3Client({ forcePathStyle: env[ENV.forcePathStyle] === "true" });
    const tools = new IndexTools(s3, indexLocation(values, env));

    if (command === "get") {
      const location = parseS3Uri(argument);
      const record = await tools.get(location);
      if (!record) {
        io.err(`s3://${location.bucket}/${location.key} is not in the index`);
        return 1;
      }
      io.out(values.json ? JSON.stringify(record) : JSON.stringify(record, null, 2));
      return 0;
    }

    if (command === "find") {
      const entries = await tools.find(argument);
      if (values.json) io.out(JSON.stringify(entries));
      else for (const e of entries) io.out(`s3://${e.bucket}/${e.key}${e.versionId ? `  version ${e.versionId}` : ""}  ${e.size} bytes`);
      if (entries.length === 0 && !values.json) io.err(`no indexed object has the SHA-256 ${argument}`);
      return entries.length > 0 ? 0 : 1;
    }

    if (command === "verify") {
      const location = parseS3Uri(argument);
      const results = await tools.verify(location, {
        concurrency,
        onResult: (r: VerifyResult) => {
          if (!values.json) io.out(`${r.status.padEnd(9)}  s3://${r.bucket}/${r.key}${r.detail && r.status !== "match" ? `  ${r.detail}` : ""}`);
        },
      });
      const counts = { match: 0, mismatch: 0, unindexed: 0, corrupt: 0 };
      for (const r of results) counts[r.status]++;
      if (values.json) io.out(JSON.stringify({ results, counts }));
      else io.out(`verified ${results.length}: ${counts.match} match, ${counts.mismatch} mismatch, ${counts.unindexed} unindexed, ${counts.corrupt} corrupt`);
      return results.length > 0 && counts.match === results.length ? 0 : 1;
    }

    // backfill
    const location = parseS3Uri(argument);
    if (values.batch) return await batchBackfill(location, values, env, io, s3);
    const uri = `s3://${location.bucket}/${location.key}`;
    let interrupted = false;
    const onSigint = () => {
      interrupted = true;
      io.err("\ninterrupted: finishing the current page, then saving a checkpoint");
    };
    process.once("SIGINT", onSigint);
    const checkpointFile = values.checkpoint ?? defaultCheckpointFile(uri);
    const started = Date.now();
    let summary: BackfillSummary;
    try {
      summary = await tools.backfill(location, {
        concurrency,
        checkpointFile,
        pageSize: values["page-size"] ? positiveInt("page-size", values["page-size"], 1000) : undefined,
        maxObjects: values["max-objects"] ? positiveInt("max-objects", values["max-objects"], 1) : undefined,
        shouldStop: () => interrupted,
        onProgress: (s) =>
          io.progress(`backfill ${uri}  ${s.listed} objects  ${formatBytes(s.bytes)}  indexed ${s.indexed}  already ${s.alreadyIndexed}  skipped ${s.skipped}  failed ${s.failed}`),
      });
    } finally {
      process.removeListener("SIGINT", onSigint);
    }
    io.progress("");
    if (values.json) {
      io.out(JSON.stringify({ ...summary, checkpoint: summary.complete ? null : checkpointFile, seconds: (Date.now() - started) / 1000 }));
    } else {
      if (summary.resumedAfter) io.out(`resumed after ${summary.resumedAfter}`);
      for (const f of summary.failures) io.out(`failed  s3://${location.bucket}/${f.key}  ${f.error}`);
      io.out(
        `backfill ${uri}: ${summary.listed} objects, ${summary.indexed} indexed (${formatBytes(summary.bytes)}), ` +
          `${summary.alreadyIndexed} already indexed, ${summary.skipped} skipped, ${summary.failed} failed ` +
          `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      if (!summary.complete) io.out(`stopped before the end: run the same command again to continue (checkpoint ${checkpointFile})`);
    }
    return summary.failed > 0 ? 1 : 0;
  } catch (error) {
    io.err(`${command}: ${explain(error, endpoint)}`);
    return error instanceof UsageError ? 2 : 1;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
