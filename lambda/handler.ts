/**
 * Entry point of the indexer function: configuration at cold start, then every record of the event.
 *
 * Records wrapped by SQS, SNS or EventBridge are unwrapped (event.ts). A record that cannot be parsed is
 * logged, the others are processed, and the invocation then fails, so that the event reaches the
 * on-failure destination instead of being lost. An error while indexing a valid record is rethrown after
 * the other records were tried, so that Lambda retries the event; retrying the records that succeeded is
 * harmless (they are recognized as duplicates). Every record that ends unindexed is logged at WARN with its
 * reason, and each invocation ends with one summary line whose `unindexed` count a metric filter can alarm
 * on (`{ $.unindexed > 0 }`).
 */
import type { Context } from "aws-lambda";
import { readConfig } from "./config";
import { answerBatch, isBatchInvocation, parseBatchInvocation, type BatchResponse } from "./batch";
import { ChecksumMismatchError, ContinuationError, DeadlineError, RecordsFailedError, RejectedRecordError } from "./errors";
import { parseEvent } from "./event";
import { indexKeys } from "./index-keys";
import { indexChange, UNINDEXED_OUTCOMES, type IndexerDeps } from "./indexer";
import { createLogger, type Logger } from "./log";
import { InvocationRetryStrategy } from "./retry";
import { createS3Client, S3DocumentStore, S3ObjectReader } from "./s3-store";
import { existsSync } from "node:fs";
import { digestWorkerFile, digestWorkerPool, thisMachine, useDigestWorker } from "./digest-offload";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { Continuations, isContinuationEvent, type ContinuationEvent } from "./continuation";
import { LambdaInvoker } from "./lambda-invoker";
import type { ObjectChange } from "./event";
import type { ChangeResult, ContinuationHooks } from "./indexer";

export interface Runtime {
  readonly deps: IndexerDeps;
  readonly logger: Logger;
  readonly now?: () => Date;
  /** Renewed at the start of every invocation: its retry budget and deadline. */
  readonly retries?: InvocationRetryStrategy;
  /** Reads that outlast an invocation continue in another one (absent: every read must finish in one). */
  readonly continuations?: Continuations;
  /** Bytes per Range GET of the reader: smaller objects are read with one GET and never continued. */
  readonly partSize?: number;
}

/** Time kept in reserve at the end of an invocation to log and fail cleanly, ms. */
export const DEADLINE_RESERVE_MS = 5_000;

/** Builds the function's dependencies from its environment. */
export function createRuntime(env: NodeJS.ProcessEnv = process.env): Runtime {
  const config = readConfig(env);
  const retries = new InvocationRetryStrategy();
  // The endpoint comes from the SDK's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
  const s3 = createS3Client({ forcePathStyle: config.forcePathStyle }, retries);
  const store = new S3DocumentStore(s3, config.indexBucket);
  const functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  // In Lambda, with an alias to invoke: reads that outlast the invocation continue in the next one.
  const continuations =
    config.continuationAlias && functionName
      ? new Continuations(store, config.indexPrefix, new LambdaInvoker(new LambdaClient({ maxAttempts: 5 }), functionName, config.continuationAlias))
      : undefined;
  // Hashing on a worker thread when there is a second vCPU for it (one warm worker per container). A zip
  // without the worker's file (a bundle of your own) hashes on the read's thread under "auto"; asked for
  // explicitly ("on"), the reads fail instead, saying so.
  const logger = createLogger(env);
  let offload = useDigestWorker(config.digestWorker, thisMachine(env)) ? { pool: digestWorkerPool() } : undefined;
  if (offload && config.digestWorker === "auto" && !existsSync(digestWorkerFile())) {
    logger.log("warn", "digest worker missing: hashing on the read's thread", { file: digestWorkerFile() });
    offload = undefined;
  }
  return {
    deps: {
      reader: new S3ObjectReader(s3, undefined, { partSize: config.readPartSize, concurrency: config.readConcurrency }, offload),
      store,
      keys: indexKeys(config.indexPrefix),
    },
    logger,
    retries,
    continuations,
    partSize: config.readPartSize,
  };
}

/** The log fields of one change's result: outcome, what was recorded, why, and how long it took. */
function resultFields(result: ChangeResult, started: number) {
  const record = result.record;
  return {
    outcome: result.outcome,
    size: record?.state === "present" ? record.size : undefined,
    sha256: record?.state === "present" ? record.sha256 : undefined,
    s3Checksum: record?.state === "present" ? record.s3Checksum.verification : undefined,
    reason: result.reason,
    durationMs: Date.now() - started,
  };
}

/**
 * The instant (ms since the epoch) by which the invocation must stop starting work: Lambda's remaining
 * time less a reserve (at most half of it, for short timeouts). Infinity outside Lambda. Pure.
 */
export function invocationDeadline(now: number, remainingMs: number | undefined): number {
  if (remainingMs === undefined || !Number.isFinite(remainingMs)) return Infinity;
  return now + remainingMs - Math.min(DEADLINE_RESERVE_MS, remainingMs / 2);
}

export interface InvocationOptions {
  /** Ms since the epoch after which no record is started. @default Infinity */
  readonly deadline?: number;
}

export async function processEvent(event: unknown, requestId: string, runtime: Runtime, options: InvocationOptions = {}): Promise<void> {
  const { logger, deps } = runtime;
  const deadline = options.deadline ?? Infinity;
  runtime.retries?.startInvocation(deadline);
  if (isContinuationEvent(event)) return processContinuation(event, requestId, runtime, deadline);
  const parsed = parseEvent(event);
  if (parsed.type === "test-event") {
    logger.log("info", "s3:TestEvent acknowledged", { outcome: "test-event", bucket: parsed.bucket });
    return;
  }
  const counts: Record<string, number> = {};
  let unindexed = 0;
  const failures: Array<{ key: string; error: Error }> = [];
  for (const rejected of parsed.rejected) {
    unindexed++;
    counts.rejected = (counts.rejected ?? 0) + 1;
    logger.log("error", "record rejected", { outcome: "rejected", record: rejected.index, path: rejected.path, reason: rejected.reason });
    failures.push({ key: `record ${rejected.path ?? rejected.index}`, error: new RejectedRecordError(`record ${rejected.path ?? rejected.index} rejected: ${rejected.reason}`) });
  }
  for (const change of parsed.changes) {
    const started = Date.now();
    const base = { bucket: change.bucket, key: change.key, versionId: change.versionId, eventName: change.eventName, sequencer: change.sequencer };
    try {
      if (Date.now() >= deadline) throw new DeadlineError("the invocation is about to time out: the record was not started");
      const hooks = continuationHooks(runtime, requestId, deadline);
      const result = await indexChange(change, { requestId, now: (runtime.now ?? (() => new Date()))() }, deps, hooks);
      counts[result.outcome] = (counts[result.outcome] ?? 0) + 1;
      const fields = { ...base, ...resultFields(result, started) };
      for (const repair of result.repairs ?? []) logger.log("warn", "index repaired", { ...base, outcome: "repaired", repair });
      if (UNINDEXED_OUTCOMES.has(result.outcome)) {
        unindexed++;
        logger.log("warn", "record left unindexed", fields);
      } else {
        logger.log("info", "record processed", fields);
      }
    } catch (error) {
      unindexed++;
      counts.failed = (counts.failed ?? 0) + 1;
      failures.push({ key: change.key, error: error as Error });
      const mismatch = error instanceof ChecksumMismatchError ? error.details : undefined;
      logger.log("error", mismatch ? "S3's stored checksum does not match the bytes read: nothing recorded" : "record failed", {
        ...base,
        outcome: "failed",
        error: (error as Error).message,
        errorName: (error as Error).name,
        ...(mismatch ? { checksumAlgorithm: mismatch.algorithm, storedChecksum: mismatch.stored, computedChecksum: mismatch.computed, readAttempts: mismatch.attempts } : {}),
        durationMs: Date.now() - started,
      });
    }
  }
  logger.log(unindexed > 0 ? "warn" : "info", "invocation summary", { summary: true, records: parsed.changes.length + parsed.rejected.length, unindexed, counts });
  if (failures.length > 0) throw new RecordsFailedError(failures);
}

/** Continuation hooks when the runtime can continue and the invocation has a deadline. */
function continuationHooks(runtime: Runtime, requestId: string, deadline: number, from?: ContinuationHooks["from"]): ContinuationHooks | undefined {
  if (!runtime.continuations || !Number.isFinite(deadline)) return undefined;
  return { stopAt: deadline, attemptId: requestId, continuations: runtime.continuations, partSize: runtime.partSize ?? 0, from };
}

/**
 * A continuation: claims the saved step, reads on from it, and either saves the next step or, at the end,
 * verifies and writes the record (once: the indexer's conditional writes) and marks the chain finished.
 * A failure releases the claim, so that Lambda's retry of this invocation can take the step again.
 */
export async function processContinuation(event: ContinuationEvent, requestId: string, runtime: Runtime, deadline: number): Promise<void> {
  const { logger, deps } = runtime;
  const { chain, step } = event.s3ChecksumIndexContinuation;
  const started = Date.now();
  if (!runtime.continuations) throw new RecordsFailedError([{ key: `chain ${chain}`, error: new ContinuationError("a continuation arrived, but this function has no continuation alias configured") }]);
  // The claim lasts until this invocation has surely ended (its deadline plus the reserve).
  const start = await runtime.continuations.start(event, requestId, deadline + DEADLINE_RESERVE_MS, started);
  if (start.kind === "stop") {
    logger.log("info", "continuation not needed", { chain, step, outcome: start.outcome, reason: start.reason });
    return;
  }
  const change: ObjectChange = start.doc.change;
  const base = { bucket: change.bucket, key: change.key, versionId: change.versionId, eventName: change.eventName, sequencer: change.sequencer, chain, step };
  try {
    if (!Number.isFinite(deadline)) throw new ContinuationError("a continuation needs the invocation's deadline");
    const result = await indexChange(change, { requestId, now: (runtime.now ?? (() => new Date()))() }, deps, continuationHooks(runtime, requestId, deadline, start.doc));
    if (result.outcome !== "continued") await runtime.continuations.finish(change, start.doc.readAttempt, requestId, step);
    const fields = { ...base, ...resultFields(result, started) };
    logger.log(UNINDEXED_OUTCOMES.has(result.outcome) ? "warn" : "info", "continuation processed", fields);
  } catch (error) {
    await start.release().catch(() => undefined);
    logger.log("error", "continuation failed", { ...base, outcome: "failed", error: (error as Error).message, errorName: (error as Error).name, durationMs: Date.now() - started });
    throw new RecordsFailedError([{ key: change.key, error: error as Error }]);
  }
}

/** An S3 Batch Operations invocation: every task backfilled by the same indexer, each answered. */
export async function processBatch(event: Record<string, any>, requestId: string, runtime: Runtime, options: { deadline?: number } = {}): Promise<BatchResponse> {
  const { logger, deps } = runtime;
  const invocation = parseBatchInvocation(event);
  const now = (runtime.now ?? (() => new Date()))();
  const deadline = options.deadline ?? Infinity;
  // A task whose object outlasts the invocation continues in further ones (answered Succeeded, "continued").
  const response = await answerBatch(invocation, (change) => indexChange(change, { requestId, now }, deps, continuationHooks(runtime, requestId, deadline)), () => Date.now() >= deadline);
  for (const result of response.results) {
    const task = invocation.tasks.find((t) => t.taskId === result.taskId);
    const level = result.resultCode === "Succeeded" ? "info" : result.resultCode === "TemporaryFailure" ? "warn" : "error";
    logger.log(level, "batch task answered", { outcome: `batch-${result.resultCode}`, taskId: result.taskId, bucket: task?.bucket, key: task?.key, versionId: task?.versionId, reason: result.resultString });
  }
  return response;
}

let runtime: Runtime | undefined;

export async function handler(
  event: unknown,
  context?: Pick<Context, "awsRequestId"> & Partial<Pick<Context, "getRemainingTimeInMillis">>,
): Promise<void | BatchResponse> {
  runtime ??= createRuntime();
  const requestId = context?.awsRequestId ?? "unknown";
  const deadline = invocationDeadline(Date.now(), context?.getRemainingTimeInMillis?.());
  runtime.retries?.startInvocation(deadline);
  if (isBatchInvocation(event)) return processBatch(event as Record<string, any>, requestId, runtime, { deadline });
  await processEvent(event, requestId, runtime, { deadline });
}

// Fail the cold start, not the first record, when the configuration is wrong.
if (process.env.AWS_LAMBDA_FUNCTION_NAME) runtime = createRuntime();
