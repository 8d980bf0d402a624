/**
 * The function's I/O, behind two small interfaces: reading source objects and storing index documents.
 * `s3-store.ts` implements them with S3; the tests add in-memory versions with the same semantics.
 */
import type { S3ChecksumCheck } from "./index-record";

/** The object is gone (deleted) since the event: a newer event will tell. */
export class ObjectGoneError extends Error {
  readonly code = "ObjectGone";
}

/** The object was replaced since the event (its ETag no longer matches): a newer event will tell. */
export class ObjectReplacedError extends Error {
  readonly code = "ObjectReplaced";
}

/**
 * S3 refused the read. Without s3:ListBucket (which the function does not get on the source bucket), S3
 * answers 403 rather than 404 for an object that no longer exists, so this may also mean "deleted".
 */
export class ObjectForbiddenError extends Error {
  readonly code = "ObjectForbidden";
}

/** The bytes read do not add up (stream ended early, sizes disagree): nothing may be recorded. */
export class IntegrityError extends Error {
  readonly code = "Integrity";
}

/** A conditional write lost too many races in a row. Lambda retries the event. */
export class ConflictError extends Error {
  readonly code = "Conflict";
}

export interface ObjectReadRequest {
  readonly bucket: string;
  readonly key: string;
  /** Read exactly this version. */
  readonly versionId?: string;
  /** Read only if the object still has this ETag (used when there is no version id). */
  readonly ifMatch?: string;
  /** The size the event announced, checked against what is read. */
  readonly expectedSize?: number;
}

/** What reading an object produced. */
export interface ObjectRead {
  readonly sha256: string;
  readonly size: number;
  readonly eTag: string;
  readonly versionId?: string;
  readonly contentType?: string;
  readonly lastModified?: Date;
  readonly s3Checksum: S3ChecksumCheck;
}

export interface ObjectReader {
  /**
   * Streams the object once through the digests. Throws ObjectGoneError, ObjectReplacedError or
   * IntegrityError as above, and any other error as it is.
   */
  read(request: ObjectReadRequest): Promise<ObjectRead>;
}

export interface StoredDocument<T> {
  readonly value: T;
  /** Opaque version of the stored document, for conditional writes. */
  readonly etag: string;
}

export interface DocumentStore {
  /** The document, or undefined when there is none. */
  get<T>(key: string, parse: (text: string) => T): Promise<StoredDocument<T> | undefined>;
  /** Writes only if no document exists; false when one does. */
  putIfAbsent(key: string, value: unknown): Promise<boolean>;
  /** Writes only if the document still has this etag; false when it changed. */
  putIfMatch(key: string, value: unknown, etag: string): Promise<boolean>;
  /** Writes unconditionally (idempotent documents only). */
  put(key: string, value: unknown): Promise<void>;
  /** Deletes; a missing document is not an error. */
  delete(key: string): Promise<void>;
}
