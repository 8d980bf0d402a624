/**
 * Entry point of the indexer function: configuration at cold start, then every record of the event.
 *
 * A record that cannot be parsed is logged and skipped (it would fail again on every retry); an error while
 * indexing a valid record is rethrown after the other records were tried, so that Lambda retries the event
 * and finally sends it to the on-failure destination. Retrying the records that succeeded is harmless:
 * they are recognized as duplicates.
 */
import type { Context } from "aws-lambda";
import { readConfig } from "./config";
import { answerBatch, isBatchInvocation, parseBatchInvocation, type BatchResponse } from "./batch";
import { RecordsFailedError } from "./errors";
import { parseEvent } from "./event";
import { indexKeys } from "./index-keys";
import { indexChange, isChecksumMismatch, type IndexerDeps } from "./indexer";
import { createLogger, type Logger } from "./log";
import { createS3Client, S3DocumentStore, S3ObjectReader } from "./s3-store";

export interface Runtime {
  readonly deps: IndexerDeps;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** Builds the function's dependencies from its environment. */
export function createRuntime(env: NodeJS.ProcessEnv = process.env): Runtime {
  const config = readConfig(env);
  // The endpoint comes from the SDK's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
  const s3 = createS3Client({ forcePathStyle: config.forcePathStyle });
  return {
    deps: { reader: new S3ObjectReader(s3), store: new S3DocumentStore(s3, config.indexBucket), keys: indexKeys(config.indexPrefix) },
    logger: createLogger(env),
  };
}

export async function processEvent(event: unknown, requestId: string, runtime: Runtime): Promise<void> {
  const { logger, deps } = runtime;
  const parsed = parseEvent(event);
  if (parsed.type === "test-event") {
    logger.log("info", "s3:TestEvent acknowledged", { outcome: "test-event", bucket: parsed.bucket });
    return;
  }
  for (const rejected of parsed.rejected) {
    logger.log("error", "record rejected", { outcome: "rejected", record: rejected.index, reason: rejected.reason });
  }
  const failures: Array<{ key: string; error: Error }> = [];
  for (const change of parsed.changes) {
    const started = Date.now();
    const base = { bucket: change.bucket, key: change.key, versionId: change.versionId, eventName: change.eventName, sequencer: change.sequencer };
    try {
      const result = await indexChange(change, { requestId, now: (runtime.now ?? (() => new Date()))() }, deps);
      const record = result.record;
      const fields = {
        ...base,
        outcome: result.outcome,
        size: record?.state === "present" ? record.size : undefined,
        sha256: record?.state === "present" ? record.sha256 : undefined,
        s3Checksum: record?.state === "present" ? record.s3Checksum.verification : undefined,
        reason: result.reason,
        durationMs: Date.now() - started,
      };
      if (isChecksumMismatch(record)) {
        logger.log("error", "S3's stored checksum does not match the bytes read", { ...fields, s3ChecksumValue: record.s3Checksum.value, s3ChecksumAlgorithm: record.s3Checksum.algorithm });
      } else {
        logger.log("info", "record processed", fields);
      }
    } catch (error) {
      failures.push({ key: change.key, error: error as Error });
      logger.log("error", "record failed", { ...base, outcome: "failed", error: (error as Error).message, errorName: (error as Error).name, durationMs: Date.now() - started });
    }
  }
  if (failures.length > 0) throw new RecordsFailedError(failures);
}

/** An S3 Batch Operations invocation: every task backfilled by the same indexer, each answered. */
export async function processBatch(event: Record<string, any>, requestId: string, runtime: Runtime): Promise<BatchResponse> {
  const { logger, deps } = runtime;
  const invocation = parseBatchInvocation(event);
  const now = (runtime.now ?? (() => new Date()))();
  const response = await answerBatch(invocation, (change) => indexChange(change, { requestId, now }, deps));
  for (const result of response.results) {
    const task = invocation.tasks.find((t) => t.taskId === result.taskId);
    const level = result.resultCode === "Succeeded" ? "info" : result.resultCode === "TemporaryFailure" ? "warn" : "error";
    logger.log(level, "batch task answered", { outcome: `batch-${result.resultCode}`, taskId: result.taskId, bucket: task?.bucket, key: task?.key, versionId: task?.versionId, reason: result.resultString });
  }
  return response;
}

let runtime: Runtime | undefined;

export async function handler(event: unknown, context?: Pick<Context, "awsRequestId">): Promise<void | BatchResponse> {
  runtime ??= createRuntime();
  const requestId = context?.awsRequestId ?? "unknown";
  if (isBatchInvocation(event)) return processBatch(event as Record<string, any>, requestId, runtime);
  await processEvent(event, requestId, runtime);
}

// Fail the cold start, not the first record, when the configuration is wrong.
if (process.env.AWS_LAMBDA_FUNCTION_NAME) runtime = createRuntime();
