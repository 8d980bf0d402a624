/**
 * The function's I/O, behind two small interfaces: reading source objects and storing index documents.
 * `s3-store.ts` implements them with S3; the tests add in-memory versions with the same semantics.
 */
import type { ComputedChecksums, S3StoredChecksum } from "./checksums";

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
   * ObjectForbiddenError or IntegrityError (errors.ts), and any other error as it is.
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
