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
import { compareS3Checksum } from "./decide";
import { digestStream } from "./hashing";
import {
  IntegrityError,
  ObjectForbiddenError,
  ObjectGoneError,
  ObjectReplacedError,
  type DocumentStore,
  type ObjectRead,
  type ObjectReadRequest,
  type ObjectReader,
  type StoredDocument,
} from "./ports";

/**
 * The client the function uses. Retries: the SDK's "standard" mode (exponential backoff with jitter on
 * throttling, 5xx and network errors), 5 attempts. Not "adaptive": its client-side rate limiter learns per
 * client, and each Lambda execution environment is its own client, so it would mostly add latency.
 * Response checksum validation is left to the function (WHEN_REQUIRED), which compares S3's stored
 * checksum itself so that a mismatch is recorded rather than only thrown.
 */
export function createS3Client(overrides: S3ClientConfig = {}): S3Client {
  return new S3Client({
    retryMode: "standard",
    maxAttempts: 5,
    responseChecksumValidation: "WHEN_REQUIRED",
    requestChecksumCalculation: "WHEN_REQUIRED",
    ...overrides,
  });
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

/**
 * An ETag as HTTP writes an entity tag, in double quotes. S3 also accepts it bare, but other servers compare
 * If-Match literally with the quoted value they store (moto's HeadObject does).
 */
const quoteETag = (eTag: string) => `"${eTag}"`;

export class S3ObjectReader implements ObjectReader {
  constructor(private readonly s3: S3Client) {}

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
      digest = await digestStream(body);
    } catch (error) {
      throw new IntegrityError(`reading ${where} failed after it started: ${(error as Error).message}`);
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
      sha256: digest.sha256Hex,
      size: digest.bytes,
      eTag,
      versionId: request.versionId ?? (versionId && versionId !== "null" ? versionId : undefined),
      contentType: head.ContentType,
      lastModified: head.LastModified,
      s3Checksum: compareS3Checksum(
        {
          type: head.ChecksumType,
          crc32: head.ChecksumCRC32,
          crc32c: head.ChecksumCRC32C,
          crc64nvme: head.ChecksumCRC64NVME,
          sha1: head.ChecksumSHA1,
          sha256: head.ChecksumSHA256,
        },
        digest,
      ),
    };
  }

  private translate(error: unknown, where: string): unknown {
    if (error instanceof ObjectReplacedError) return error;
    if (isNotFound(error)) return new ObjectGoneError(`${where} no longer exists`);
    if (isPreconditionFailed(error)) return new ObjectReplacedError(`${where} no longer has the event's ETag`);
    if (isForbidden(error)) return new ObjectForbiddenError(`reading ${where} was refused (403)`);
    return error;
  }
}

/** Index documents as JSON objects in one bucket, written with S3 conditional writes. */
export class S3DocumentStore implements DocumentStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async get<T>(key: string, parse: (text: string) => T): Promise<StoredDocument<T> | undefined> {
    try {
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = await object.Body!.transformToString("utf8");
      return { value: parse(text), etag: object.ETag ?? "" };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  putIfAbsent(key: string, value: unknown): Promise<boolean> {
    return this.conditionalPut(key, value, { IfNoneMatch: "*" });
  }

  putIfMatch(key: string, value: unknown, etag: string): Promise<boolean> {
    return this.conditionalPut(key, value, { IfMatch: etag });
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
