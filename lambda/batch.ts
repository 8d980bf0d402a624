/**
 * S3 Batch Operations invocations (schema 2.0, and 1.0): each task is one object to backfill. The
 * function answers every task: Succeeded, TemporaryFailure (Batch Operations retries it) or
 * PermanentFailure, with a reason that the job's completion report keeps.
 */
import { backfillChange } from "./backfill";
import { ConflictError, IntegrityError, ObjectForbiddenError, ObjectGoneError, ObjectReplacedError } from "./errors";
import { decodeS3Key } from "./event";
import type { ChangeResult } from "./indexer";

export type BatchResultCode = "Succeeded" | "TemporaryFailure" | "PermanentFailure";

export interface BatchTask {
  readonly taskId: string;
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string;
}

export interface BatchInvocation {
  readonly schemaVersion: "1.0" | "2.0";
  readonly invocationId: string;
  /** The job's id (job.id), when the invocation names it. */
  readonly jobId?: string;
  readonly tasks: readonly BatchTask[];
  /** Tasks that cannot be read at all, answered as permanent failures. */
  readonly malformed: ReadonlyArray<{ taskId: string; reason: string }>;
}

export interface BatchResponse {
  readonly invocationSchemaVersion: "1.0" | "2.0";
  readonly treatMissingKeysAs: BatchResultCode;
  readonly invocationId: string;
  readonly results: ReadonlyArray<{ taskId: string; resultCode: BatchResultCode; resultString: string }>;
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether an event is a Batch Operations invocation. */
export function isBatchInvocation(event: unknown): boolean {
  return isObject(event) && (event.invocationSchemaVersion === "2.0" || event.invocationSchemaVersion === "1.0") && Array.isArray(event.tasks);
}

/** The bucket of a 1.0 task: from its ARN, arn:<partition>:s3:::<bucket>. */
const bucketOfArn = (arn: unknown) => (typeof arn === "string" ? /^arn:[a-z-]+:s3:::([^/]+)$/.exec(arn)?.[1] : undefined);

export function parseBatchInvocation(event: Record<string, any>): BatchInvocation {
  const schemaVersion = event.invocationSchemaVersion as "1.0" | "2.0";
  const tasks: BatchTask[] = [];
  const malformed: Array<{ taskId: string; reason: string }> = [];
  for (const [i, task] of (event.tasks as unknown[]).entries()) {
    const taskId = isObject(task) && typeof task.taskId === "string" ? task.taskId : `task-${i}`;
    try {
      if (!isObject(task)) throw new Error("the task is not an object");
      const bucket = schemaVersion === "2.0" ? task.s3Bucket : bucketOfArn(task.s3BucketArn);
      if (typeof bucket !== "string" || bucket === "") throw new Error("the task names no bucket");
      if (typeof task.s3Key !== "string") throw new Error("the task names no key");
      // Batch Operations URL-encodes keys (a space is %20, a "+" is %2B).
      const key = decodeS3Key(task.s3Key);
      const versionId = typeof task.s3VersionId === "string" && task.s3VersionId !== "" ? task.s3VersionId : undefined;
      tasks.push({ taskId, bucket, key, versionId });
    } catch (error) {
      malformed.push({ taskId, reason: (error as Error).message });
    }
  }
  const jobId = isObject(event.job) && typeof event.job.id === "string" && event.job.id !== "" ? event.job.id : undefined;
  return { schemaVersion, invocationId: String(event.invocationId ?? ""), ...(jobId ? { jobId } : {}), tasks, malformed };
}

/**
 * What a task's outcome means to Batch Operations. Objects gone or replaced since the manifest was made
 * succeed (their own events index them); a read the function may not make, or a record that cannot be
 * written because of the object itself, fails permanently; anything transient (throttling, a lost race, a
 * read cut short) is retried by the job.
 */
export function batchResult(outcome: ChangeResult | Error): { resultCode: BatchResultCode; resultString: string } {
  if (!(outcome instanceof Error)) {
    const written = ["indexed", "duplicate", "version-indexed"].includes(outcome.outcome) && outcome.record?.state === "present";
    const detail = written ? ` sha256 ${(outcome.record as { sha256: string }).sha256}` : outcome.outcome === "stale" ? ": the index holds a newer event of the key" : outcome.reason ? `: ${outcome.reason}` : "";
    return { resultCode: "Succeeded", resultString: `${outcome.outcome}${detail}` };
  }
  if (outcome instanceof ObjectGoneError || outcome instanceof ObjectReplacedError) {
    return { resultCode: "Succeeded", resultString: `skipped: ${outcome.message}` };
  }
  if (outcome instanceof ObjectForbiddenError) {
    return { resultCode: "PermanentFailure", resultString: `${outcome.message}: the function may read only the keys its trigger rules watch` };
  }
  if (outcome instanceof IntegrityError || outcome instanceof ConflictError) {
    return { resultCode: "TemporaryFailure", resultString: `${outcome.name}: ${outcome.message}` };
  }
  const status = (outcome as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const transient = status === undefined || status >= 500 || status === 429 || ["SlowDown", "Throttling", "TimeoutError", "RequestTimeout"].includes(outcome.name);
  return { resultCode: transient ? "TemporaryFailure" : "PermanentFailure", resultString: `${outcome.name}: ${outcome.message}` };
}

/**
 * Indexes every task with `index` (the function's own indexer) and answers each. Once `outOfTime` says so,
 * the tasks not started are answered TemporaryFailure (Batch Operations retries them) rather than lost
 * with the whole invocation at its timeout.
 */
export async function answerBatch(
  invocation: BatchInvocation,
  index: (change: ReturnType<typeof backfillChange>) => Promise<ChangeResult>,
  outOfTime: () => boolean = () => false,
): Promise<BatchResponse> {
  const results: Array<{ taskId: string; resultCode: BatchResultCode; resultString: string }> = [];
  for (const bad of invocation.malformed) results.push({ taskId: bad.taskId, resultCode: "PermanentFailure", resultString: `malformed task: ${bad.reason}` });
  for (const task of invocation.tasks) {
    if (outOfTime()) {
      results.push({ taskId: task.taskId, resultCode: "TemporaryFailure", resultString: "not started: the invocation is about to time out" });
      continue;
    }
    let outcome: ChangeResult | Error;
    try {
      // The job names the change's origin: a re-run job never finds the continuation chains of an earlier run.
      const origin = `batch job ${invocation.jobId ?? invocation.invocationId}`;
      outcome = await index(backfillChange({ bucket: task.bucket, key: task.key, versionId: task.versionId }, undefined, origin));
    } catch (error) {
      outcome = error instanceof Error ? error : new Error(String(error));
    }
    results.push({ taskId: task.taskId, ...batchResult(outcome) });
  }
  return { invocationSchemaVersion: invocation.schemaVersion, treatMissingKeysAs: "PermanentFailure", invocationId: invocation.invocationId, results };
}
