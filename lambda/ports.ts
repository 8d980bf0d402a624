/**
 * The function's I/O, behind two small interfaces: reading source objects and storing index documents.
 * `s3-store.ts` implements them with S3; the tests add in-memory versions with the same semantics.
 */
import type { ComputedChecksums, S3StoredChecksum } from "./checksums";
import type { DigestState } from "./hashing";

export interface ObjectReadRequest {
  readonly bucket: string;
  readonly key: string;
  /** Read exactly this version. */
  readonly versionId?: string;
  /** Read only if the object still has this ETag (used when there is no version id). */
  readonly ifMatch?: string;
  /** The size the event announced, checked against what is read. */
  readonly expectedSize?: number;
  /**
   * Ms since the epoch by which the read must stop if it has not finished: it then returns a checkpoint
   * (SuspendedRead) instead of a result. Unset: the read runs to the end.
   */
  readonly stopAt?: number;
  /** Continue a suspended read from its checkpoint (the pinned version/ETag and S3's stored checksum in it). */
  readonly resume?: ReadCheckpoint;
}

/** Where a read stopped: enough to continue it in another invocation, JSON-serializable. */
export interface ReadCheckpoint {
  /** Bytes already hashed (a part boundary). */
  readonly offset: number;
  /** Bytes of the whole object. */
  readonly size: number;
  /** The ETag every later part must have, without quotes. */
  readonly eTag: string;
  /** The version read, when known: later parts ask for it. */
  readonly versionId?: string;
  readonly contentType?: string;
  /** ISO 8601. */
  readonly lastModified?: string;
  /** What S3 stored, as the first response (and GetObjectAttributes) reported it. */
  readonly stored: S3StoredChecksum;
  /** The saved digest; absent when the read must start over at byte 0 with the resumable digest. */
  readonly digest?: DigestState;
}

/** A read that stopped before the end, to be continued from `checkpoint`. */
export interface SuspendedRead {
  readonly checkpoint: ReadCheckpoint;
}

export function isSuspended(read: ObjectRead | SuspendedRead): read is SuspendedRead {
  return "checkpoint" in read;
}

/** What reading an object produced: the checksums computed and what S3 stored. The indexer compares them. */
export interface ObjectRead {
  readonly computed: ComputedChecksums;
  readonly size: number;
  readonly eTag: string;
  readonly versionId?: string;
  readonly contentType?: string;
  readonly lastModified?: Date;
  /** S3's stored checksum of the very bytes read (same version and ETag). */
  readonly stored: S3StoredChecksum;
}

/** What S3 serves for a key now (a HEAD of the key, without a version id). */
export type ServedObject =
  | { readonly exists: true; readonly versionId?: string; readonly eTag: string; readonly size: number }
  | {
      readonly exists: false;
      /** True when S3 said the key's current version is a delete marker; undefined when it did not say. */
      readonly deleteMarker?: boolean;
      /** Why S3's answer is read as "nothing served" (e.g. a 403 without s3:ListBucket). */
      readonly note?: string;
    };

export interface ObjectReader {
  /** What S3 serves for the key now: the version a GET without version id would return, or nothing. */
  served(bucket: string, key: string): Promise<ServedObject>;

  /**
   * Streams the object once through the digests. Throws ObjectGoneError, ObjectReplacedError,
   * ObjectForbiddenError or IntegrityError (errors.ts), and any other error as it is. Runs to the end
   * (`stopAt` is ignored).
   */
  read(request: ObjectReadRequest): Promise<ObjectRead>;

  /** As `read`, but stops by `request.stopAt` with a checkpoint when it cannot finish (readers that can). */
  readUntil?(request: ObjectReadRequest): Promise<ObjectRead | SuspendedRead>;
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
