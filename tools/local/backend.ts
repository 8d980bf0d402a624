/**
 * The storage server behind the local endpoint's proxy: s3rver in-process (the default) or moto_server.
 * The proxy asks it what a key holds before and after each call, so that events describe what the server
 * did, whatever it answered.
 */

/** What the server holds under a key now. */
export interface StoredObject {
  readonly size: number;
  /** Without quotes. */
  readonly eTag: string;
  /** The current version (versioned buckets). */
  readonly versionId?: string;
}

export interface StorageBackend {
  readonly kind: "s3rver" | "moto";
  /** Where the proxy forwards requests. */
  readonly url: string;
  /** Buckets whose versioning is enabled (moto only: s3rver has no versioning). */
  readonly versionedBuckets: ReadonlySet<string>;
  /** The object under this key now, or undefined when there is none. */
  stat(bucket: string, key: string): Promise<StoredObject | undefined>;
  close(): Promise<void>;
}

/** The server could not be started or asked; the message names the server and the cause. */
export class StorageBackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
