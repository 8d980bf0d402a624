/**
 * `npm run index -- <command>`: use the index.
 *
 *   get <s3://bucket/key>            the index record of an object
 *   find <sha256>                    every indexed object with that content
 *   verify <s3://bucket/key|prefix/> re-read objects, recompute SHA-256, compare with the index
 *   backfill <s3://bucket/prefix>    index what the stack's trigger rules select that existed before the notification, or was missed
 *   replay <local | aws>             re-send failed events: local mode's failure log, or the stack's on-failure queue
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
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SQSClient } from "@aws-sdk/client-sqs";
import * as path from "node:path";
import { contractEnvironment } from "../lambda/contract";
import { VERIFY_STATUSES, type VerifyProgress } from "./index/index-tools";
import { LambdaAliasInvoker, queueUrl, redriveQueue, replayFailureLog, type EventInvoker, type ReplaySummary } from "./index/replay";
import { loadBundledHandler } from "./local/bundled-handler";
import { batchJobRequests, batchScopes, runBatchBackfill, s3ControlJobs, type JobSummary } from "./index/batch-backfill";
import { formatBytes } from "./format";
import { appPipeline } from "./stack-config";

const USAGE = `Usage: npm run index -- <command> [options]

Commands:
  get <s3://bucket/key>              print the index record of an object
  find <sha256>                      list every indexed object with this content (exit 1 if none)
  verify <s3://bucket/key | s3://bucket/prefix/>
                                     re-read, recompute SHA-256, compare with the index, and find records of
                                     objects that are gone (exit 1 on any problem); --repair fixes them
  backfill <s3://bucket/prefix>      index what the stack's trigger rules select and is not indexed yet;
                                     says what it skipped; resumable
  replay local                       re-send the events of local mode's failure log (--data-dir, default .local-s3)
  replay aws                         redrive the stack's on-failure queue: re-invoke the alias with each event,
                                     delete a message once it succeeded (--queue name or URL)
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
  --repair                           verify: fix what it finds through the function's own code
  --dry-run                          replay: count and list what would be replayed, change nothing
  --max-messages <n>                 replay aws: stop after n messages
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
    const inventory = pipeline.batchOperations?.inventory;
    if (!inventory || where.bucket !== inventory.bucket || !where.key.startsWith(inventory.prefix)) {
      throw new UsageError(
        `the Batch Operations role may read inventory manifests only under batchOperations.inventoryLocation` +
          `${inventory ? ` (s3://${inventory.bucket}/${inventory.prefix})` : ", which stack " + pipeline.stack + " does not set"}: set it to where the source's S3 Inventory is delivered, deploy, and run this again`,
      );
    }
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
  // Interrupted while jobs still run: not a success to a script (the jobs go on in AWS).
  if (interrupted && summaries.some((s) => !["Complete", "Failed", "Cancelled"].includes(s.status))) return 130;
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
        repair: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        "data-dir": { type: "string" },
        queue: { type: "string" },
        "max-messages": { type: "string" },
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
    if (!["get", "find", "verify", "backfill", "replay"].includes(command)) throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
    if (!argument) throw new UsageError(`${command} needs an argument\n\n${USAGE}`);
    const concurrency = positiveInt("concurrency", values.concurrency, 4);
    if (command === "replay") return await replay(argument, values, env, io);
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
      const entries = await tools.find(argument, (repair) => io.err(`repaired: ${repair}`));
      if (values.json) io.out(JSON.stringify(entries));
      else for (const e of entries) io.out(`s3://${e.bucket}/${e.key}${e.versionId ? `  version ${e.versionId}` : ""}  ${e.size} bytes`);
      if (entries.length === 0 && !values.json) io.err(`no indexed object has the SHA-256 ${argument}`);
      return entries.length > 0 ? 0 : 1;
    }

    if (command === "verify") {
      const location = parseS3Uri(argument);
      const uri = `s3://${location.bucket}/${location.key}`;
      const results = await tools.verify(location, {
        concurrency,
        repair: values.repair,
        onResult: (r: VerifyResult) => {
          if (!values.json) io.out(`${r.status.padEnd(9)}  s3://${r.bucket}/${r.key}${r.detail && r.status !== "match" ? `  ${r.detail}` : ""}`);
        },
        onProgress: (p) => io.progress(verifyProgressLine(uri, p)),
      });
      io.progress("");
      const counts = Object.fromEntries(VERIFY_STATUSES.map((s) => [s, 0])) as Record<VerifyResult["status"], number>;
      for (const r of results) counts[r.status]++;
      if (values.json) io.out(JSON.stringify({ results, counts }));
      else io.out(`verified ${results.length}: ${VERIFY_STATUSES.filter((s) => s !== "repaired" || values.repair).map((s) => `${counts[s]} ${s}`).join(", ")}`);
      return results.length > 0 && counts.match + counts.repaired === results.length ? 0 : 1;
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
        pipeline: appPipeline(values.stack ?? "dev", env),
        concurrency,
        checkpointFile,
        pageSize: values["page-size"] ? positiveInt("page-size", values["page-size"], 1000) : undefined,
        maxObjects: values["max-objects"] ? positiveInt("max-objects", values["max-objects"], 1) : undefined,
        shouldStop: () => interrupted,
        onProgress: (s) =>
          io.progress(
            `backfill ${uri}  ${s.listed} objects  ${formatBytes(s.bytes)}  indexed ${s.indexed}  already ${s.alreadyIndexed}  outside the rules ${s.outsideRules}  skipped ${s.skipped}  failed ${s.failed}`,
          ),
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
      if (summary.outsideRules > 0) {
        io.out(
          `not indexed: ${summary.outsideRules} objects that no trigger rule of the stack selects (${summary.outsideExamples.join(", ")}${summary.outsideRules > summary.outsideExamples.length ? ", …" : ""})`,
        );
      }
      if (!summary.complete) io.out(`stopped before the end: run the same command again to continue (checkpoint ${checkpointFile})`);
    }
    return summary.failed > 0 ? 1 : 0;
  } catch (error) {
    io.err(`${command}: ${explain(error, endpoint)}`);
    return error instanceof UsageError ? 2 : 1;
  }
}

/** `verify s3://…  120/5000  2.3 MiB  ETA 40 s`: the total and ETA once the listing is done. */
export function verifyProgressLine(uri: string, p: VerifyProgress, now = Date.now()): string {
  const elapsed = (now - p.startedAt) / 1000;
  if (p.total === undefined) return `verify ${uri}  listing…  ${p.done} checked`;
  const eta = p.done > 0 && p.done < p.total ? `  ETA ${formatSeconds((elapsed / p.done) * (p.total - p.done))}` : "";
  return `verify ${uri}  ${p.done}/${p.total}  ${formatBytes(p.bytes)}  ${formatSeconds(elapsed)} elapsed${eta}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The function as local mode runs it: the bundled handler, against the endpoint of the environment. */
function bundledHandlerInvoker(index: IndexLocation, env: NodeJS.ProcessEnv): EventInvoker {
  const handler = loadBundledHandler({ ...contractEnvironment({ indexBucket: index.bucket, indexPrefix: index.prefix, forcePathStyle: env[ENV.forcePathStyle] === "true" }), LOG_LEVEL: "warn" });
  let n = 0;
  return {
    target: "the bundled handler",
    async invoke(event) {
      await handler(event, { awsRequestId: `replay-${process.pid}-${++n}` });
    },
  };
}

async function replay(
  source: string,
  values: { stack?: string; index?: string; "dry-run"?: boolean; "data-dir"?: string; queue?: string; "max-messages"?: string; json?: boolean },
  env: NodeJS.ProcessEnv,
  io: Io,
): Promise<number> {
  const dryRun = values["dry-run"] ?? false;
  const onEvent = (line: string) => {
    if (!values.json) io.out(line);
  };
  let summary: ReplaySummary;
  let where: string;
  if (source === "local") {
    const file = path.join(values["data-dir"] ?? env.LOCAL_S3_DIR ?? ".local-s3", "failed-events.jsonl");
    where = file;
    const invoker: EventInvoker = dryRun ? { target: "nothing (dry run)", invoke: async () => {} } : bundledHandlerInvoker(indexLocation(values, env), env);
    summary = await replayFailureLog(file, invoker, { dryRun, onEvent });
  } else if (source === "aws") {
    const pipeline = appPipeline(values.stack ?? "dev", env);
    const region = env.AWS_REGION ?? pipeline.region;
    const sqs = new SQSClient({ region });
    const lambda = new LambdaClient({ region });
    try {
      const url = await queueUrl(sqs, values.queue ?? pipeline.function.queueName);
      where = url;
      const invoker = new LambdaAliasInvoker(lambda, pipeline.function.name, pipeline.function.aliasName);
      const max = values["max-messages"] ? positiveInt("max-messages", values["max-messages"], 1) : undefined;
      const redriven = await redriveQueue(sqs, url, invoker, { dryRun, onEvent, maxMessages: max });
      if (!values.json) io.out(`the queue held about ${redriven.approximate} messages`);
      summary = redriven;
    } finally {
      sqs.destroy();
      lambda.destroy();
    }
  } else {
    throw new UsageError(`replay needs "local" (local mode's failure log) or "aws" (the stack's on-failure queue), not "${source}"`);
  }
  if (values.json) io.out(JSON.stringify({ source: where, ...summary }));
  else if (dryRun) io.out(`dry run: ${summary.found} events would be replayed from ${where}${summary.unreadable ? `, ${summary.unreadable} unreadable` : ""}`);
  else {
    io.out(
      `replayed ${summary.replayed} of ${summary.found} events from ${where}; ${summary.failed} failed again and stay there` +
        (summary.unreadable ? `; ${summary.unreadable} unreadable, left in place` : ""),
    );
  }
  return summary.failed > 0 ? 1 : 0;
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
