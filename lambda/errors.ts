/**
 * Every error the function raises on purpose, under one base class: each sets `name` (what logs and
 * tests match on), a stable `code`, and keeps the error it wraps as `cause`, so nothing of the SDK's
 * answer (status, request id) is lost on the way to the log.
 */
export abstract class IndexerError extends Error {
  /** Stable identifier of the error kind, for logs and metric filters. */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The function's environment is missing or invalid: the cold start fails with what to change. */
export class ConfigError extends IndexerError {
  readonly code = "Config";
}

/** The object is gone (deleted) since the event: a newer event will tell. */
export class ObjectGoneError extends IndexerError {
  readonly code = "ObjectGone";
}

/** The object was replaced since the event (its ETag no longer matches): a newer event will tell. */
export class ObjectReplacedError extends IndexerError {
  readonly code = "ObjectReplaced";
}

/**
 * S3 refused the read. Without s3:ListBucket (which the function does not get on the source bucket), S3
 * answers 403 rather than 404 for an object that no longer exists, so this may also mean "deleted".
 */
export class ObjectForbiddenError extends IndexerError {
  readonly code = "ObjectForbidden";
}

/**
 * An HTTP response the function's own HTTP client (lean-http.ts) cannot accept: malformed, too large a
 * head, a framing it does not speak. The call fails and the connection is closed, never reused.
 */
export class HttpProtocolError extends IndexerError {
  readonly code = "HttpProtocol";
}

/** The bytes read do not add up (stream ended early, sizes disagree): nothing may be recorded. */
export class IntegrityError extends IndexerError {
  readonly code = "Integrity";
}

/** A conditional write lost too many races in a row. Lambda retries the event. */
export class ConflictError extends IndexerError {
  readonly code = "Conflict";
}

/** Some records of an event failed; thrown after every record was tried, so that Lambda retries the event. */
export class RecordsFailedError extends IndexerError {
  readonly code = "RecordsFailed";

  constructor(readonly failures: ReadonlyArray<{ key: string; error: Error }>) {
    super(
      `${failures.length} record(s) failed: ${failures.map((f) => `${f.key}: ${f.error.message}`).join("; ")}`,
      { cause: failures.length === 1 ? failures[0].error : new AggregateError(failures.map((f) => f.error)) },
    );
  }
}

/**
 * The bytes read disagree with the checksum S3 stored, on every read: the object (or the path to it) is
 * corrupted. Nothing is recorded for the key; the invocation fails so that the event reaches the failure
 * queue.
 */
export class ChecksumMismatchError extends IndexerError {
  readonly code = "ChecksumMismatch";

  constructor(
    readonly details: {
      readonly bucket: string;
      readonly key: string;
      readonly versionId?: string;
      readonly algorithm: string;
      /** S3's stored value (base64, as S3 returns it). */
      readonly stored: string;
      /** The value computed from the bytes read, when the function computes that algorithm. */
      readonly computed?: string;
      readonly sha256: string;
      readonly attempts: number;
    },
  ) {
    super(
      `s3://${details.bucket}/${details.key}${details.versionId ? ` (version ${details.versionId})` : ""}: S3's stored ${details.algorithm} is ` +
        `${details.stored}, the bytes read give ${details.computed ?? `(not computed; SHA-256 ${details.sha256})`}, on ${details.attempts} read(s)`,
    );
  }
}

/** The invocation is about to run out of time: the record is not started (or not retried), so Lambda retries the event. */
export class DeadlineError extends IndexerError {
  readonly code = "Deadline";
}

/** A record of the event could not be parsed (or unwrapped); the invocation fails so that it is not lost. */
export class RejectedRecordError extends IndexerError {
  readonly code = "RejectedRecord";
}

/** A continuation cannot go on: its saved step is missing or unreadable, or invoking the next step failed. */
export class ContinuationError extends IndexerError {
  readonly code = "Continuation";
}

/**
 * The digest worker thread failed (crashed, exited, or could not start) during a read: the read fails
 * rather than wait or return a digest of bytes the worker may not have hashed; the next read starts a new
 * worker.
 */
export class DigestWorkerError extends IndexerError {
  readonly code = "DigestWorker";
}
