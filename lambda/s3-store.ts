/**
 * The S3 implementations of the function's I/O (see ports.ts).
 */
import { Readable } from "node:stream";
import type { ConnectionOptions } from "node:tls";
import {
  DeleteObjectCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type HeadObjectCommandOutput,
  S3Client,
  S3ServiceException,
  type GetObjectCommandOutput,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import {
  compareS3Checksum,
  digestPlanFor,
  multipartETagParts,
  needsObjectParts,
  needsPartSizesByHead,
  uniformPartSizes,
  type S3StoredChecksum,
  type S3StoredPart,
} from "./checksums";
import { DEFAULT_READ } from "./contract";
import { mapLimited } from "./map-limited";
import { digestStreamWith, startDigest, type DigestOffload } from "./digest-offload";
import { DeadlineError, DigestWorkerError, IntegrityError, ObjectForbiddenError, ObjectGoneError, ObjectReplacedError } from "./errors";
import { Digest, type RunningDigest, type StreamDigest } from "./hashing";
import { contentRangeProblem, contentRangeTotal, digestEngineFor, parseContentRange, readInParts, shouldSuspend, type RangeSource } from "./ranged-read";
import { LeanBody, LeanHttpHandler } from "./lean-http";
import { InvocationRetryStrategy } from "./retry";
import type {
  DocumentStore,
  ObjectRead,
  ObjectReadRequest,
  ObjectReader,
  ReadCheckpoint,
  ServedObject,
  StoredDocument,
  SuspendedRead,
} from "./ports";
import { isSuspended } from "./ports";

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
 * of source objects itself so that a mismatch is reported, not only thrown. GETs and HEADs go through the
 * lean handler (lean-http.ts), which receives bodies for a fraction of the CPU; writes through the SDK's.
 */
export function createS3Client(overrides: S3ClientConfig = {}, retryStrategy = new InvocationRetryStrategy()): S3Client {
  return new S3Client({
    maxAttempts: 5,
    retryStrategy,
    requestHandler: s3HttpHandler(),
    responseChecksumValidation: "WHEN_REQUIRED",
    requestChecksumCalculation: "WHEN_REQUIRED",
    ...overrides,
  });
}

/** The function's HTTP handler for S3, with S3_TIMEOUTS; `tlsOptions` (a certificate authority of a test server) added to its TLS. */
export function s3HttpHandler(tlsOptions?: ConnectionOptions): LeanHttpHandler {
  return new LeanHttpHandler({ connectionTimeout: S3_TIMEOUTS.connect, requestTimeout: S3_TIMEOUTS.request, socketTimeout: S3_TIMEOUTS.idle, tls: tlsOptions });
}

/**
 * A body that stays silent `idleMs` is destroyed with a TimeoutError, whatever the connection does: the
 * digest then fails with an IntegrityError and the read is retried. `chunks` are the body's bytes as they
 * are consumed (default: the body as a stream).
 */
export async function* withIdleTimeout(body: Readable, idleMs: number, where: string, chunks: AsyncIterable<Uint8Array | string> = body): AsyncGenerator<Uint8Array | string> {
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
    for await (const chunk of chunks) {
      arm();
      yield chunk;
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The first `n` bytes of a body, as a stream; the body is destroyed once they were taken, on error, and
 * when the stream is destroyed (at once: an idle timeout must end a read whose body went silent).
 */
export function firstBytesOf(body: Readable, n: number): Readable {
  async function* take(): AsyncGenerator<Uint8Array> {
    let left = n;
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Uint8Array);
        if (bytes.length >= left) {
          yield bytes.subarray(0, left);
          return;
        }
        left -= bytes.length;
        yield bytes;
      }
    } finally {
      body.destroy();
    }
  }
  const out = Readable.from(take());
  // Readable.from finishes destroying only once the generator stops, which waits on the body: end it first.
  const destroyGenerator = out._destroy.bind(out);
  out._destroy = (error, callback) => {
    body.destroy();
    destroyGenerator(error, callback);
  };
  return out;
}

/**
 * A body's bytes: received straight into `buffer()` (which must hold them all) when the function's HTTP
 * handler delivered it (lean-http.ts: one copy, nothing allocated per read), else as the stream yields them.
 * Either way a body silent `idleMs` ends the read (withIdleTimeout).
 */
async function bodyBytes(body: Readable, buffer: () => Promise<Uint8Array>, idleMs: number, where: string): Promise<AsyncIterable<Uint8Array>> {
  const chunks = body instanceof LeanBody ? body.into(await buffer()) : body;
  return withIdleTimeout(body, idleMs, where, chunks) as AsyncIterable<Uint8Array>;
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
function withStoredChecksum<C extends GetObjectCommand | HeadObjectCommand>(command: C): C {
  (command.middlewareStack as GetObjectCommand["middlewareStack"]).add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-checksum-mode"] = "ENABLED";
      return next(args);
    },
    { step: "build", name: "storedChecksumModeHeader" },
  );
  return command;
}

/**
 * Drops a GetObjectAttributes response's Last-Modified header before the SDK parses it: the reader does
 * not use it, and a server that writes it in another date format (moto writes ISO 8601) would otherwise
 * fail the whole read with a parse error.
 */
function withoutLastModified(command: GetObjectAttributesCommand): GetObjectAttributesCommand {
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const headers = (result.response as { headers?: Record<string, string> }).headers;
      if (headers) delete headers["last-modified"];
      return result;
    },
    { step: "deserialize", name: "ignoreAttributesLastModified", priority: "low" },
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

/** What a GET's (or HEAD's) response headers say S3 stored for the object. */
function storedChecksumOf(object: GetObjectCommandOutput | HeadObjectCommandOutput): S3StoredChecksum {
  const { value: _value, ...checksum } = checksumFields(object);
  return {
    ...checksum,
    eTag: unquote(object.ETag),
    ...(object.ServerSideEncryption ? { serverSideEncryption: object.ServerSideEncryption } : {}),
    ...(object.SSECustomerAlgorithm ? { customerKeyEncrypted: true } : {}),
    ...(object.ContentLength !== undefined ? { size: object.ContentLength } : {}),
  };
}

/** `HEAD ?partNumber=n` requests in flight at most, when every part's size is asked. */
const PART_HEADS_IN_FLIGHT = 8;
/**
 * Parts of differing sizes are asked one by one before the read up to this many (about 3 s in S3 at 8 in
 * flight); beyond, a multipart ETag stays unchecked. Confirming inferred sizes after a disagreement asks
 * every part, however many.
 */
export const MAX_PART_HEADS = 1_000;

/** Part sizes a read starts with, when they are already known: the sizes, or why they cannot be. */
type KnownParts = { readonly sizes: readonly number[] } | { readonly unknown: string };

/** A request pinned to what was read: the ETag, and the version when there is one. */
function pinnedTo(request: ObjectReadRequest, eTag: string, versionId: string | undefined): ObjectReadRequest {
  return { ...request, ifMatch: eTag, ...(request.versionId ?? versionId ? { versionId: request.versionId ?? versionId } : {}) };
}

/** How objects are read: one GET up to `partSize` bytes, parallel Range GETs of `partSize` above. */
export interface ReadSettings {
  /** Bytes per Range GET. */
  readonly partSize: number;
  /** Range GETs in flight at most. */
  readonly concurrency: number;
}

export const DEFAULT_READ_SETTINGS: ReadSettings = { partSize: DEFAULT_READ.partSizeMiB * 1024 * 1024, concurrency: DEFAULT_READ.concurrency };

export class S3ObjectReader implements ObjectReader {
  constructor(
    private readonly s3: S3Client,
    private readonly idleMs: number = S3_TIMEOUTS.idle,
    private readonly settings: ReadSettings = DEFAULT_READ_SETTINGS,
    /** Hash on a worker thread (digest-offload.ts); undefined: on the read's thread. */
    private readonly offload?: DigestOffload,
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
    const { stopAt: _stopAt, ...untimed } = request;
    const read = await this.readUntil(untimed);
    if (isSuspended(read)) throw new IntegrityError(`reading s3://${request.bucket}/${request.key} stopped without a deadline`);
    return read;
  }

  async readUntil(request: ObjectReadRequest): Promise<ObjectRead | SuspendedRead> {
    const where = `s3://${request.bucket}/${request.key}${request.versionId ? ` (version ${request.versionId})` : ""}`;
    const read = request.resume ? await this.continueRead(request, request.resume, where) : await this.readOnce(request, where, undefined);
    if (isSuspended(read) || !read.stored.partSizesInferred) return read;
    return this.confirmInferredParts(request, read, where);
  }

  /**
   * A read whose multipart ETag disagrees under part sizes inferred from the first and last part: every
   * part's size is asked. The same sizes: the mismatch stands. Others: the object is read again with them
   * (a continued read, which cannot be redone here, stays not comparable). A match needs nothing more.
   */
  private async confirmInferredParts(request: ObjectReadRequest, read: ObjectRead, where: string): Promise<ObjectRead | SuspendedRead> {
    const confirmed = { ...read.stored, partSizesInferred: undefined };
    if (compareS3Checksum(confirmed, read.computed).verification !== "mismatch") return read;
    // Asked whatever the count (S3 allows 10,000 parts): only a disagreement pays for this.
    const sizes = await this.everyPartSize(request, read.versionId, read.eTag, read.stored.parts!.length, read.size, where, Infinity, request.stopAt);
    if (!Array.isArray(sizes)) {
      // Bytes that a check could still refute are not recorded: the event (or continuation) is retried.
      if (sizes.deadline) throw new DeadlineError(`${where}: its ETag disagrees under inferred part sizes, and ${sizes.problem}: nothing is recorded`);
      return { ...read, stored: { ...read.stored, partSizesUnknown: sizes.problem } };
    }
    if (sizes.every((size, i) => size === read.stored.parts![i].size)) return { ...read, stored: confirmed };
    // Read again, from byte 0, with the true sizes (a continued read too: its saved digest used the wrong ones).
    return this.readOnce(pinnedTo({ ...request, resume: undefined }, read.eTag, read.versionId), where, { sizes });
  }

  /**
   * The first read of an object. `known` parts, when given, are used as they are (sizes, or why they are
   * unknown); else they are asked as needed.
   */
  private async readOnce(request: ObjectReadRequest, where: string, known?: KnownParts): Promise<ObjectRead | SuspendedRead> {
    // An object larger than one part (by the event's size) is read in parts: the first GET asks for part 1.
    const ranged = request.expectedSize !== undefined && request.expectedSize > this.settings.partSize;
    const target = {
      Bucket: request.bucket,
      Key: request.key,
      VersionId: request.versionId,
      IfMatch: request.ifMatch === undefined ? undefined : quoteETag(request.ifMatch),
      Range: ranged ? `bytes=0-${this.settings.partSize - 1}` : undefined,
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
    const eTag = unquote(object.ETag);
    const versionId = object.VersionId && object.VersionId !== "null" ? object.VersionId : undefined;
    if (request.ifMatch !== undefined && eTag !== request.ifMatch) {
      // Some S3-compatible servers ignore If-Match; compare anyway.
      body.destroy();
      throw new ObjectReplacedError(`${where} has ETag ${eTag}, the event announced ${request.ifMatch}`);
    }
    // 206 with the object's size: read in parts. A server that ignored Range answered with the whole object.
    const total = object.ContentRange !== undefined ? contentRangeTotal(object.ContentRange) : undefined;
    let stored: S3StoredChecksum;
    try {
      stored = storedChecksumOf(object);
      if (total !== undefined) {
        // S3 returns stored checksums for whole-object GETs only: a HEAD of the same version/ETag tells them.
        stored = { ...stored, size: total };
        if (checksumFields(object).value === undefined) stored = await this.storedByHead(request, versionId, eTag, total, where);
      }
      if (known !== undefined) {
        stored = "sizes" in known ? { ...stored, parts: known.sizes.map((size) => ({ size })) } : { ...stored, parts: [], partSizesUnknown: known.unknown };
      } else if (needsObjectParts(stored)) {
        // A composite checksum or a multipart ETag is checked part by part: the part sizes must be known
        // before the body is read (it waits, unread, meanwhile).
        stored = await this.withParts(stored, request, versionId, where);
        // GetObjectAttributes lists parts only for uploads with checksums: a multipart ETag's part sizes
        // then come from HEAD ?partNumber=n.
        if (needsPartSizesByHead(stored)) {
          const byHead = await this.withPartSizesByHead(stored, request, versionId, eTag, where);
          if (byHead === "ask-every-part") {
            // Parts of differing sizes: asked one by one without a GET waiting (its idle timeout would end
            // it), then read again, pinned, with what they said.
            body.destroy();
            const sizes = await this.everyPartSize(request, versionId, eTag, multipartETagParts(eTag)!, stored.size!, where, MAX_PART_HEADS, request.stopAt);
            return await this.readOnce(pinnedTo(request, eTag, versionId), where, Array.isArray(sizes) ? { sizes } : { unknown: sizes.problem });
          }
          stored = byHead;
        }
      }
    } catch (error) {
      body.destroy();
      throw error;
    }
    const size = total ?? object.ContentLength;
    const checkpoint: ReadCheckpoint = {
      offset: 0,
      size: size ?? 0,
      eTag,
      ...(request.versionId ?? versionId ? { versionId: request.versionId ?? versionId } : {}),
      ...(object.ContentType !== undefined ? { contentType: object.ContentType } : {}),
      ...(object.LastModified !== undefined ? { lastModified: object.LastModified.toISOString() } : {}),
      stored,
    };
    if (total === undefined && object.ContentLength !== undefined && object.ContentLength > this.settings.partSize) {
      // The size was not known before the GET (a Batch Operations task; a server that ignored Range): the
      // body's first part serves as part 1 and the rest is read in parts, in parallel and, with a deadline,
      // able to continue in further invocations.
      return this.readParts(request, checkpoint, where, firstBytesOf(body, this.settings.partSize));
    }
    if (total === undefined) {
      // One GET: the whole object in one stream.
      let digest;
      try {
        const length = object.ContentLength;
        const bytes = length === undefined ? withIdleTimeout(body, this.idleMs, where) : await bodyBytes(body, async () => new Uint8Array(length), this.idleMs, where);
        digest = await digestStreamWith(bytes, digestPlanFor(stored), this.offload, length);
      } catch (error) {
        if (error instanceof DigestWorkerError) throw error;
        throw new IntegrityError(`reading ${where} failed after it started: ${(error as Error).message}`, { cause: error });
      }
      if (object.ContentLength !== undefined && digest.bytes !== object.ContentLength) {
        throw new IntegrityError(`${where}: read ${digest.bytes} bytes, S3 announced Content-Length ${object.ContentLength}`);
      }
      return this.result(request, checkpoint, digest, where);
    }
    const first = contentRangeProblem(object.ContentRange, object.ContentLength, 0, Math.min(this.settings.partSize, total) - 1, total);
    if (first !== undefined) {
      body.destroy();
      throw new IntegrityError(`${where}: ${first}`);
    }
    return this.readParts(request, checkpoint, where, body);
  }

  /** Continues a suspended read: every part from the checkpoint's offset, pinned as the first read was. */
  private continueRead(request: ObjectReadRequest, checkpoint: ReadCheckpoint, where: string): Promise<ObjectRead | SuspendedRead> {
    return this.readParts(request, checkpoint, where, undefined);
  }

  /**
   * Reads the object from the checkpoint's offset as parallel Range GETs, in order, into one digest: the
   * native one when it will finish before `stopAt`, else the resumable one, which stops at a part boundary
   * when time runs short and returns its saved state.
   */
  private async readParts(request: ObjectReadRequest, checkpoint: ReadCheckpoint, where: string, firstBody: Readable | undefined): Promise<ObjectRead | SuspendedRead> {
    const { partSize, concurrency } = this.settings;
    const started = Date.now();
    const engine = checkpoint.digest ? "resumable" : digestEngineFor(checkpoint.size - checkpoint.offset, started, request.stopAt);
    const plan = digestPlanFor(checkpoint.stored);
    const offset = checkpoint.digest?.bytes ?? 0;
    if (offset !== checkpoint.offset) {
      firstBody?.destroy();
      throw new IntegrityError(`${where}: the checkpoint is at byte ${checkpoint.offset}, its digest at ${offset}`);
    }
    let digest: RunningDigest;
    try {
      digest = await startDigest(plan, engine, checkpoint.digest, this.offload, checkpoint.size - checkpoint.offset);
    } catch (error) {
      firstBody?.destroy();
      throw new IntegrityError(`${where}: the saved digest cannot be resumed: ${(error as Error).message}`, { cause: error });
    }
    const source = this.rangeSource(request, checkpoint, where, firstBody);
    let lastBoundary = started;
    let suspended: ReadCheckpoint | undefined;
    let finished: StreamDigest | undefined;
    try {
      for await (const chunk of readInParts(source, { size: checkpoint.size, offset, partSize, concurrency })) {
        const wait = digest.update(chunk);
        if (wait) await wait;
        if (request.stopAt === undefined || digest.bytes >= checkpoint.size || (digest.bytes - offset) % partSize !== 0) continue;
        const now = Date.now();
        if (shouldSuspend(now, request.stopAt, now - lastBoundary)) {
          // A native digest cannot be saved: the next invocation starts over with the resumable one.
          suspended = digest instanceof Digest && engine === "resumable" ? { ...checkpoint, offset: digest.bytes, digest: digest.save() } : { ...checkpoint, offset: 0, digest: undefined };
          break;
        }
        lastBoundary = now;
      }
      if (!suspended) finished = await digest.finish();
    } catch (error) {
      if (error instanceof ObjectReplacedError || error instanceof ObjectGoneError || error instanceof ObjectForbiddenError || error instanceof IntegrityError || error instanceof DigestWorkerError) throw error;
      throw new IntegrityError(`reading ${where} failed after it started: ${(error as Error).message}`, { cause: error });
    } finally {
      firstBody?.destroy();
      // A read that ends without a result frees the digest (and its worker, if it has one).
      if (finished === undefined) digest.discard();
    }
    if (suspended) {
      const { digest: saved, ...rest } = suspended;
      return { checkpoint: saved === undefined ? rest : { ...rest, digest: saved } };
    }
    return this.result(request, checkpoint, finished!, where);
  }

  /** The Range GETs of one object, pinned to its version (else its ETag), each checked before it is used. */
  private rangeSource(request: ObjectReadRequest, checkpoint: ReadCheckpoint, where: string, firstBody: Readable | undefined): RangeSource {
    let first = firstBody;
    return {
      fetch: async (start, end, signal, lease) => {
        if (start === 0 && first !== undefined) {
          const body = first;
          first = undefined;
          signal.addEventListener("abort", () => body.destroy(), { once: true });
          return bodyBytes(body, () => lease.buffer(), this.idleMs, where);
        }
        let part: GetObjectCommandOutput;
        try {
          part = await this.s3.send(
            new GetObjectCommand({
              Bucket: request.bucket,
              Key: request.key,
              VersionId: checkpoint.versionId,
              IfMatch: checkpoint.versionId === undefined ? quoteETag(checkpoint.eTag) : undefined,
              Range: `bytes=${start}-${end}`,
            }),
            { abortSignal: signal },
          );
        } catch (error) {
          throw this.translate(error, where);
        }
        const body = part.Body as Readable;
        signal.addEventListener("abort", () => body.destroy(), { once: true });
        const partETag = unquote(part.ETag);
        if (partETag !== checkpoint.eTag) {
          body.destroy();
          throw new ObjectReplacedError(`${where}: bytes ${start}-${end} have ETag ${partETag}, the read started on ${checkpoint.eTag}`);
        }
        const problem = contentRangeProblem(part.ContentRange, part.ContentLength, start, end, checkpoint.size);
        if (problem !== undefined) {
          body.destroy();
          throw new IntegrityError(`${where}: ${problem}`);
        }
        return bodyBytes(body, () => lease.buffer(), this.idleMs, where);
      },
    };
  }

  /** HEAD of the version/ETag being read, for S3's stored checksum (a ranged GET does not carry it). */
  private async storedByHead(request: ObjectReadRequest, versionId: string | undefined, eTag: string, size: number, where: string): Promise<S3StoredChecksum> {
    let head: HeadObjectCommandOutput;
    try {
      head = await this.s3.send(
        withStoredChecksum(
          new HeadObjectCommand({ Bucket: request.bucket, Key: request.key, VersionId: request.versionId ?? versionId, IfMatch: request.versionId ?? versionId ? undefined : quoteETag(eTag) }),
        ),
      );
    } catch (error) {
      throw this.translate(error, where);
    }
    if (unquote(head.ETag) !== eTag) throw new ObjectReplacedError(`${where} has ETag ${unquote(head.ETag)} in a HEAD, ${eTag} in the GET`);
    return { ...storedChecksumOf(head), size };
  }

  /** The read's result, once every byte was hashed and the sizes agree. */
  private result(request: ObjectReadRequest, read: ReadCheckpoint, digest: StreamDigest, where: string): ObjectRead {
    if (digest.bytes !== read.size) throw new IntegrityError(`${where}: read ${digest.bytes} bytes, the object has ${read.size}`);
    if (request.expectedSize !== undefined && digest.bytes !== request.expectedSize) {
      throw new IntegrityError(`${where}: read ${digest.bytes} bytes, the event announced ${request.expectedSize}`);
    }
    return {
      computed: { sha256Hex: digest.sha256Hex, ...(digest.verifying ? { verifying: digest.verifying } : {}) },
      size: digest.bytes,
      eTag: read.eTag,
      versionId: read.versionId,
      contentType: read.contentType,
      lastModified: read.lastModified === undefined ? undefined : new Date(read.lastModified),
      stored: read.stored,
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
          withoutLastModified(new GetObjectAttributesCommand({
            Bucket: request.bucket,
            Key: request.key,
            VersionId: request.versionId ?? versionId,
            ObjectAttributes: ["ETag", "Checksum", "ObjectParts", "ObjectSize"],
            PartNumberMarker: marker,
          })),
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

  /**
   * The part sizes of a multipart upload without checksums, from `HEAD ?partNumber=n`: the first and last
   * part, and when all but the last have the first's size (every common client's way), the rest inferred
   * (`partSizesInferred` from 3 parts on; a mismatch is then confirmed by `confirmInferredParts`). Parts of
   * differing sizes are to be asked one by one ("ask-every-part"), up to MAX_PART_HEADS. S3's answers are advisory: one that is not
   * in S3's documented shape leaves the ETag unchecked, with the reason, and never fails the read (the
   * GET pinned to the version or ETag already detects a replaced object).
   */
  private async withPartSizesByHead(
    stored: S3StoredChecksum,
    request: ObjectReadRequest,
    versionId: string | undefined,
    eTag: string,
    where: string,
  ): Promise<S3StoredChecksum | "ask-every-part"> {
    const count = multipartETagParts(eTag);
    const size = stored.size;
    if (count === undefined || size === undefined) return stored;
    const unknown = (problem: string): S3StoredChecksum => ({ ...stored, partSizesUnknown: problem });
    const first = await this.partByHead(request, versionId, eTag, count, size, 1);
    if ("problem" in first) return unknown(first.problem);
    const last = count === 1 ? first : await this.partByHead(request, versionId, eTag, count, size, count);
    if ("problem" in last) return unknown(last.problem);
    const uniform = uniformPartSizes(size, count, first.size, last.size);
    if (uniform !== undefined && (last.start === undefined || last.start === size - last.size)) {
      return { ...stored, parts: uniform.map((s) => ({ size: s })), ...(count > 2 ? { partSizesInferred: true } : {}) };
    }
    return "ask-every-part";
  }

  /**
   * Every part's size, asked one by one (PART_HEADS_IN_FLIGHT at a time) up to `limit` parts and, given a
   * deadline, no HEAD started after it; or why they cannot be known (`deadline`: time ran out).
   */
  private async everyPartSize(
    request: ObjectReadRequest,
    versionId: string | undefined,
    eTag: string,
    count: number,
    size: number,
    where: string,
    limit: number,
    stopAt?: number,
  ): Promise<number[] | { problem: string; deadline?: true }> {
    if (count > limit) return { problem: `${where} has ${count} parts of differing sizes, more than the ${limit} the reader asks one by one before reading` };
    const inTime = () => stopAt === undefined || Date.now() < stopAt;
    const numbers = Array.from({ length: count }, (_, i) => i + 1);
    const parts = await mapLimited(numbers, PART_HEADS_IN_FLIGHT, (n) => this.partByHead(request, versionId, eTag, count, size, n), inTime);
    const asked = parts.filter((p) => p !== undefined).length;
    if (asked < count) return { problem: `only ${asked} of its ${count} part sizes were asked before the deadline`, deadline: true };
    let offset = 0;
    for (const [i, part] of (parts as Array<{ size: number; start?: number } | { problem: string }>).entries()) {
      if ("problem" in part) return part;
      if (part.start !== undefined && part.start !== offset) return { problem: `HEAD ?partNumber=${i + 1} answered bytes from ${part.start}, the parts before it end at ${offset}` };
      offset += part.size;
    }
    if (offset !== size) return { problem: `S3's part sizes add up to ${offset} bytes, the object has ${size}` };
    return parts.map((p) => (p as { size: number }).size);
  }

  /** One part's size (and start, from Content-Range) from `HEAD ?partNumber=n`, or why the answer cannot be used. */
  private async partByHead(
    request: ObjectReadRequest,
    versionId: string | undefined,
    eTag: string,
    count: number,
    size: number,
    partNumber: number,
  ): Promise<{ size: number; start?: number } | { problem: string }> {
    const pinned = request.versionId ?? versionId;
    const asked = `HEAD ?partNumber=${partNumber}`;
    let head: HeadObjectCommandOutput;
    try {
      head = await this.s3.send(
        new HeadObjectCommand({ Bucket: request.bucket, Key: request.key, VersionId: pinned, IfMatch: pinned ? undefined : quoteETag(eTag), PartNumber: partNumber }),
      );
    } catch (error) {
      return { problem: `${asked} failed: ${errorName(error) || "error"}${status(error) ? ` (${status(error)})` : ""}` };
    }
    if (unquote(head.ETag) !== eTag) return { problem: `${asked} answered ETag ${unquote(head.ETag)}, not the object's ${eTag}` };
    if (head.PartsCount !== count) return { problem: `${asked} answered ${head.PartsCount ?? "no"} parts count, the ETag names ${count}` };
    const range = parseContentRange(head.ContentRange);
    if (range) {
      const { start, end, total } = range;
      if (total !== size || end < start || (head.ContentLength !== undefined && head.ContentLength !== end - start + 1)) {
        return { problem: `${asked} answered Content-Range ${head.ContentRange} and Content-Length ${head.ContentLength}, the object has ${size} bytes` };
      }
      return { size: end - start + 1, start };
    }
    if (head.ContentLength === undefined || head.ContentLength < 1 || head.ContentLength > size) return { problem: `${asked} answered no usable Content-Length (${head.ContentLength})` };
    return { size: head.ContentLength };
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
