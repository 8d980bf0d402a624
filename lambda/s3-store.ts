/**
 * The S3 implementations of the function's I/O (see ports.ts).
 */
import type { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandOutput,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { digestPlanFor, needsObjectParts, type S3StoredChecksum, type S3StoredPart } from "./checksums";
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

/**
 * Asks the GET for S3's stored checksum (x-amz-checksum-mode: ENABLED) without the SDK validating the
 * body against it: the function computes the same checksum in its own single pass (hash-wasm, several
 * times faster than the SDK's JavaScript CRC32C and CRC64NVME) and records a mismatch instead of only
 * throwing. The SDK validates only when the *input* says ChecksumMode ENABLED, so the header is added
 * to the request at the build step instead; the response's checksum headers are parsed as usual.
 */
function withStoredChecksum(command: GetObjectCommand): GetObjectCommand {
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-checksum-mode"] = "ENABLED";
      return next(args);
    },
    { step: "build", name: "storedChecksumModeHeader" },
  );
  return command;
}

interface ChecksumMembers {
  ChecksumCRC32?: string;
  ChecksumCRC32C?: string;
  ChecksumCRC64NVME?: string;
  ChecksumSHA1?: string;
  ChecksumSHA256?: string;
  ChecksumType?: string;
}

/** S3's checksum members, and the first present (a part or an object stores one algorithm). */
function checksumFields(c: ChecksumMembers): Partial<S3StoredChecksum> & { value?: string } {
  const fields = {
    type: c.ChecksumType,
    crc32: c.ChecksumCRC32,
    crc32c: c.ChecksumCRC32C,
    crc64nvme: c.ChecksumCRC64NVME,
    sha1: c.ChecksumSHA1,
    sha256: c.ChecksumSHA256,
  };
  const value = fields.sha256 ?? fields.crc32 ?? fields.crc64nvme ?? fields.crc32c ?? fields.sha1;
  return Object.fromEntries(Object.entries({ ...fields, value }).filter(([, v]) => v !== undefined));
}

/** What the GET's response headers say S3 stored for the object. */
function storedChecksumOf(object: GetObjectCommandOutput): S3StoredChecksum {
  const { value: _value, ...checksum } = checksumFields(object);
  return {
    ...checksum,
    eTag: unquote(object.ETag),
    ...(object.ServerSideEncryption ? { serverSideEncryption: object.ServerSideEncryption } : {}),
    ...(object.SSECustomerAlgorithm ? { customerKeyEncrypted: true } : {}),
    ...(object.ContentLength !== undefined ? { size: object.ContentLength } : {}),
  };
}

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
    // The body first: its errors say which of key, version or bucket is missing (a HEAD's 404 cannot). Its
    // response headers also carry S3's stored checksum (see withStoredChecksum), of exactly these bytes.
    let object: GetObjectCommandOutput;
    try {
      object = await this.s3.send(withStoredChecksum(new GetObjectCommand(target)));
    } catch (error) {
      throw this.translate(error, where);
    }
    const body = object.Body as Readable;
    const contentLength = object.ContentLength;
    const eTag = unquote(object.ETag);
    const versionId = object.VersionId;
    if (request.ifMatch !== undefined && eTag !== request.ifMatch) {
      // Some S3-compatible servers ignore If-Match; compare anyway.
      body.destroy();
      throw new ObjectReplacedError(`${where} has ETag ${eTag}, the event announced ${request.ifMatch}`);
    }
    let stored = storedChecksumOf(object);
    if (needsObjectParts(stored)) {
      // A composite checksum or a multipart ETag is checked part by part: the part sizes must be known
      // before the body is read (it waits, unread, meanwhile).
      try {
        stored = await this.withParts(stored, request, versionId, where);
      } catch (error) {
        body.destroy();
        throw error;
      }
    }
    let digest;
    try {
      digest = await digestStream(withIdleTimeout(body, this.idleMs, where), digestPlanFor(stored));
    } catch (error) {
      throw new IntegrityError(`reading ${where} failed after it started: ${(error as Error).message}`, { cause: error });
    }
    if (contentLength !== undefined && digest.bytes !== contentLength) {
      throw new IntegrityError(`${where}: read ${digest.bytes} bytes, S3 announced Content-Length ${contentLength}`);
    }
    if (request.expectedSize !== undefined && digest.bytes !== request.expectedSize) {
      throw new IntegrityError(`${where}: read ${digest.bytes} bytes, the event announced ${request.expectedSize}`);
    }
    return {
      computed: { sha256Hex: digest.sha256Hex, ...(digest.verifying ? { verifying: digest.verifying } : {}) },
      size: digest.bytes,
      eTag,
      versionId: request.versionId ?? (versionId && versionId !== "null" ? versionId : undefined),
      contentType: object.ContentType,
      lastModified: object.LastModified,
      stored,
    };
  }

  /**
   * The object's parts (sizes and part checksums) from GetObjectAttributes, all pages, for the version read.
   * GetObjectAttributes has no If-Match: its ETag is compared with the GET's instead.
   */
  private async withParts(stored: S3StoredChecksum, request: ObjectReadRequest, versionId: string | undefined, where: string): Promise<S3StoredChecksum> {
    const parts: Array<S3StoredPart & { number: number }> = [];
    let checksum: Partial<S3StoredChecksum> & { value?: string } = {};
    let marker: string | undefined;
    for (let page = 0; ; page++) {
      let out;
      try {
        out = await this.s3.send(
          new GetObjectAttributesCommand({
            Bucket: request.bucket,
            Key: request.key,
            VersionId: request.versionId ?? versionId,
            ObjectAttributes: ["ETag", "Checksum", "ObjectParts", "ObjectSize"],
            PartNumberMarker: marker,
          }),
        );
      } catch (error) {
        if (isForbidden(error)) {
          // Also what a role without s3:GetObjectAttributes (s3:GetObjectVersionAttributes) gets.
          throw new ObjectForbiddenError(`GetObjectAttributes of ${where} was refused (403)`, { cause: error });
        }
        throw this.translate(error, where);
      }
      if (out.ETag !== undefined && unquote(out.ETag) !== stored.eTag) {
        throw new ObjectReplacedError(`${where} has ETag ${unquote(out.ETag)} in GetObjectAttributes, ${stored.eTag} in the GET`);
      }
      if (page === 0 && out.Checksum) checksum = checksumFields(out.Checksum);
      for (const part of out.ObjectParts?.Parts ?? []) {
        if (part.Size === undefined || part.PartNumber === undefined) continue;
        parts.push({ number: part.PartNumber, size: part.Size, checksum: checksumFields(part).value });
      }
      const next = out.ObjectParts?.NextPartNumberMarker;
      if (!out.ObjectParts?.IsTruncated || next === undefined || String(next) === marker) break;
      marker = String(next);
    }
    parts.sort((a, b) => a.number - b.number);
    // The GET's checksum headers come first; GetObjectAttributes fills in what they lacked.
    const { value: _value, ...fromAttributes } = checksum;
    return {
      ...fromAttributes,
      ...Object.fromEntries(Object.entries(stored).filter(([, v]) => v !== undefined)),
      ...(parts.length > 0 ? { parts: parts.map(({ size, checksum }) => (checksum === undefined ? { size } : { size, checksum })) } : { parts: [] }),
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
