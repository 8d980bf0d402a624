/**
 * The S3 implementations of the function's I/O (see ports.ts).
 */
import type { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type HeadObjectCommandOutput,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { IntegrityError, ObjectForbiddenError, ObjectGoneError, ObjectReplacedError } from "./errors";
import { digestStream } from "./hashing";
import { InvocationRetryStrategy } from "./retry";
import type {
  DocumentStore,
  ObjectRead,
  ObjectReadRequest,
  ObjectReader,
  ServedObject,
  StoredDocument,
} from "./ports";

/** Timeouts of every S3 call, ms. */
export const S3_TIMEOUTS = {
  /** Establishing a connection. */
  connect: 3_000,
  /** From the request sent to the response's headers. */
  request: 30_000,
  /** A connection (or a body being read) that stays silent this long is given up. */
  idle: 15_000,
} as const;

/**
 * The client the function uses. Retries: exponential backoff with jitter on throttling, 5xx and network
 * errors, 5 attempts per call, with a budget renewed per invocation and bounded by its deadline (retry.ts;
 * the SDK's own standard mode keeps one quota per client, which a warm container empties). Timeouts: a
 * connection must open in 3 s, the response's headers arrive in 30 s, and no connection (body included) may
 * stay silent 15 s: a stalled call fails and is retried instead of holding the event until Lambda's timeout.
 * Response checksum validation is left to the function (WHEN_REQUIRED), which compares S3's stored checksum
 * of source objects itself so that a mismatch is reported, not only thrown.
 */
export function createS3Client(overrides: S3ClientConfig = {}, retryStrategy = new InvocationRetryStrategy()): S3Client {
  return new S3Client({
    maxAttempts: 5,
    retryStrategy,
    requestHandler: { connectionTimeout: S3_TIMEOUTS.connect, requestTimeout: S3_TIMEOUTS.request, socketTimeout: S3_TIMEOUTS.idle, throwOnRequestTimeout: true },
    responseChecksumValidation: "WHEN_REQUIRED",
    requestChecksumCalculation: "WHEN_REQUIRED",
    ...overrides,
  });
}

/**
 * A body that stays silent `idleMs` is destroyed with a TimeoutError, whatever the connection does: the
 * digest then fails with an IntegrityError and the read is retried.
 */
export async function* withIdleTimeout(body: Readable, idleMs: number, where: string): AsyncGenerator<Uint8Array | string> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const error = Object.assign(new Error(`reading ${where} stalled for ${idleMs} ms`), { name: "TimeoutError" });
      body.destroy(error);
    }, idleMs);
  };
  try {
    arm();
    for await (const chunk of body) {
      arm();
      yield chunk;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** An ETag as HTTP requires it in If-Match: a quoted entity-tag (S3 and strict servers refuse a bare one). */
export function quoteETag(etag: string): string {
  return /^(W\/)?".*"$/.test(etag) ? etag : `"${etag}"`;
}

function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function errorName(error: unknown): string {
  return error instanceof S3ServiceException ? error.name : ((error as Error)?.name ?? "");
}

/** A missing key or version; not a missing bucket, which is a real failure. HEAD answers a bare 404 "NotFound". */
const isNotFound = (e: unknown) => ["NoSuchKey", "NoSuchVersion", "NotFound"].includes(errorName(e));
const isPreconditionFailed = (e: unknown) => errorName(e) === "PreconditionFailed" || status(e) === 412;
const isForbidden = (e: unknown) => errorName(e) === "AccessDenied" || status(e) === 403;

const unquote = (etag: string | undefined) => (etag ?? "").replace(/^"|"$/g, "");

export class S3ObjectReader implements ObjectReader {
  constructor(
    private readonly s3: S3Client,
    private readonly idleMs: number = S3_TIMEOUTS.idle,
  ) {}

  async served(bucket: string, key: string): Promise<ServedObject> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      const versionId = head.VersionId && head.VersionId !== "null" ? head.VersionId : undefined;
      return { exists: true, versionId, eTag: unquote(head.ETag), size: head.ContentLength ?? 0 };
    } catch (error) {
      const headers = (error as { $response?: { headers?: Record<string, string> } }).$response?.headers ?? {};
      const marker = headers["x-amz-delete-marker"];
      const deleteMarker = marker === undefined ? undefined : marker === "true";
      if (isNotFound(error)) return { exists: false, deleteMarker };
      // Without s3:ListBucket on the source bucket, S3 answers 403 for a key that has no current version.
      if (isForbidden(error)) return { exists: false, deleteMarker, note: "HEAD answered 403 (no s3:ListBucket): read as nothing served" };
      throw error;
    }
  }

  async read(request: ObjectReadRequest): Promise<ObjectRead> {
    const where = `s3://${request.bucket}/${request.key}${request.versionId ? ` (version ${request.versionId})` : ""}`;
    const target = {
      Bucket: request.bucket,
      Key: request.key,
      VersionId: request.versionId,
      IfMatch: request.ifMatch === undefined ? undefined : quoteETag(request.ifMatch),
    };
    // The body first: its errors say which of key, version or bucket is missing (a HEAD's 404 cannot).
    let body: Readable;
    let contentLength: number | undefined;
    let eTag: string;
    let versionId: string | undefined;
    try {
      const object = await this.s3.send(new GetObjectCommand(target));
      body = object.Body as Readable;
      contentLength = object.ContentLength;
      eTag = unquote(object.ETag);
      versionId = object.VersionId;
    } catch (error) {
      throw this.translate(error, where);
    }
    if (request.ifMatch !== undefined && eTag !== request.ifMatch) {
      // Some S3-compatible servers ignore If-Match; compare anyway.
      body.destroy();
      throw new ObjectReplacedError(`${where} has ETag ${eTag}, the event announced ${request.ifMatch}`);
    }
    let digest;
    try {
      digest = await digestStream(withIdleTimeout(body, this.idleMs, where));
    } catch (error) {
      throw new IntegrityError(`reading ${where} failed after it started: ${(error as Error).message}`, { cause: error });
    }
    if (contentLength !== undefined && digest.bytes !== contentLength) {
      throw new IntegrityError(`${where}: read ${digest.bytes} bytes, S3 announced Content-Length ${contentLength}`);
    }
    if (request.expectedSize !== undefined && digest.bytes !== request.expectedSize) {
      throw new IntegrityError(`${where}: read ${digest.bytes} bytes, the event announced ${request.expectedSize}`);
    }
    // S3's stored checksum, from a HEAD of the very bytes read (same version, same ETag). The body was read
    // without SDK validation (see createS3Client) so that a mismatch is recorded, not only thrown.
    let head: HeadObjectCommandOutput;
    try {
      head = await this.s3.send(
        new HeadObjectCommand({ Bucket: request.bucket, Key: request.key, VersionId: request.versionId ?? versionId, IfMatch: quoteETag(eTag), ChecksumMode: "ENABLED" }),
      );
    } catch (error) {
      throw this.translate(error, where);
    }
    return {
      computed: { sha256Hex: digest.sha256Hex, crc32: digest.crc32 },
      size: digest.bytes,
      eTag,
      versionId: request.versionId ?? (versionId && versionId !== "null" ? versionId : undefined),
      contentType: head.ContentType,
      lastModified: head.LastModified,
      stored: {
        type: head.ChecksumType,
        crc32: head.ChecksumCRC32,
        crc32c: head.ChecksumCRC32C,
        crc64nvme: head.ChecksumCRC64NVME,
        sha1: head.ChecksumSHA1,
        sha256: head.ChecksumSHA256,
      },
    };
  }

  private translate(error: unknown, where: string): unknown {
    if (error instanceof ObjectReplacedError) return error;
    if (isNotFound(error)) return new ObjectGoneError(`${where} no longer exists`, { cause: error });
    if (isPreconditionFailed(error)) return new ObjectReplacedError(`${where} no longer has the event's ETag`, { cause: error });
    if (isForbidden(error)) return new ObjectForbiddenError(`reading ${where} was refused (403)`, { cause: error });
    return error;
  }
}

/** Index documents as JSON objects in one bucket, written with S3 conditional writes. */
export class S3DocumentStore implements DocumentStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  /**
   * Reads a document. Its checksum (written with it) is validated by the SDK, so bytes damaged on the way
   * fail the read instead of being parsed; a body that breaks is read again (3 attempts).
   */
  async get<T>(key: string, parse: (text: string) => T): Promise<StoredDocument<T> | undefined> {
    for (let attempt = 1; ; attempt++) {
      let text: string;
      let etag: string;
      try {
        const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: "ENABLED" }));
        etag = object.ETag ?? "";
        text = await object.Body!.transformToString("utf8");
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if (status(error) === undefined && attempt < 3) continue;
        throw error;
      }
      return { value: parse(text), etag };
    }
  }

  putIfAbsent(key: string, value: unknown): Promise<boolean> {
    return this.conditionalPut(key, value, { IfNoneMatch: "*" });
  }

  putIfMatch(key: string, value: unknown, etag: string): Promise<boolean> {
    return this.conditionalPut(key, value, { IfMatch: quoteETag(etag) });
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.conditionalPut(key, value, {});
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  private async conditionalPut(key: string, value: unknown, condition: { IfNoneMatch?: string; IfMatch?: string }): Promise<boolean> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(value),
          ContentType: "application/json",
          // Stored with the document and validated when it is read back (get).
          ChecksumAlgorithm: "CRC32",
          ...condition,
        }),
      );
      return true;
    } catch (error) {
      // 412: the condition failed. 409 ConditionalRequestConflict: a concurrent write to the key won.
      if (isPreconditionFailed(error) || status(error) === 409) return false;
      throw error;
    }
  }
}
