/**
 * An S3-compatible endpoint on loopback for local mode: a storage server (s3rver in-process by default,
 * or moto_server) behind a small proxy that makes it behave like S3 where local mode needs it to.
 *
 * - Events come from what the server did, not from what it meant to do: each call that can change a key
 *   holds that key while the proxy looks at it before and after. A create, copy or multipart completion
 *   that succeeded raises one event with what the server now stores (size, ETag, version); a delete raises
 *   one when the key was there before and is gone after (whatever the answer: a storage error after the
 *   object was removed still counts), so a client's retry finds nothing and raises nothing. Multi-object
 *   deletes (DeleteObjects) are handled key by key the same way. A call that failed raises nothing.
 * - Bodies in the `aws-chunked` encoding (today's SDKs and CLI) are decoded, so objects are stored
 *   byte-exact, and a trailing CRC32 that does not match is refused with S3's BadDigest.
 * - Keys s3rver cannot store (a path segment too long for a file name) get S3's answers for a key that
 *   cannot exist: 400 KeyTooLongError for a write, 404 for a read, 204 for a delete; never a 500. Keys
 *   longer than S3's 1024 bytes get KeyTooLongError for any call.
 * - s3rver only: UploadPartCopy (what `aws s3 cp` sends to copy a large object inside S3) is served, and
 *   ACLs answer as in a bucket with ACLs disabled (owner FULL_CONTROL; only the private ACL can be set).
 */
import { once } from "node:events";
import { existsSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { mapLimited } from "../../lambda/map-limited";
import { AwsChunkedDecoder, decodedHeaders, isAwsChunked } from "./aws-chunked";
import type { StorageBackend } from "./backend";
import { startS3rverBackend, type S3rverBackend } from "./s3rver-backend";

/** The credentials s3rver knows; any client of the local endpoint uses them. */
export const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/** s3rver adds "._S3rver_metadata.json" (22 bytes) to a key's last segment to name its metadata file. */
export const MAX_LOCAL_SEGMENT_BYTES = 255 - "._S3rver_metadata.json".length;
export const MAX_KEY_BYTES = 1024;

/** An object event as s3rver emits it (unencoded key, millisecond sequencer). */
export interface ServerObjectEvent {
  readonly Records: Array<{
    eventName: string;
    eventTime: string;
    responseElements?: Record<string, string>;
    s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer: string } };
  }>;
}

export interface LocalEndpointOptions {
  /** Folder where objects are stored; kept across restarts (s3rver). */
  readonly directory: string;
  /** The storage server: s3rver in this process (default), or one already started (moto). */
  readonly backend?: StorageBackend;
  /** Port on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  /** Buckets to create if they do not exist. */
  readonly buckets: readonly string[];
  /** Called for every object event of every bucket, in the order the changes happened to each key. */
  readonly onEvent: (event: ServerObjectEvent) => void;
  /** Called with problems the endpoint handled without going down. */
  readonly onProblem?: (message: string) => void;
}

export interface LocalEndpoint {
  readonly url: string;
  readonly port: number;
  readonly backend: StorageBackend;
  /** Resolves once no call that can raise an event is in progress (its events, if any, are raised). */
  quiet(): Promise<void>;
  close(): Promise<void>;
}

function s3Error(res: http.ServerResponse, status: number, code: string, message: string, resource: string): void {
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>` +
    `<Resource>${escapeXml(resource)}</Resource><RequestId>local</RequestId></Error>`;
  // A HEAD answer has no body: S3 puts the code in a header.
  if (res.req?.method === "HEAD") {
    res.writeHead(status, { "x-amz-error-code": code, "content-length": 0 });
    res.end();
    return;
  }
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(xml) });
  res.end(xml);
}

function xmlAnswer(res: http.ServerResponse, status: number, xml: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The key of a path-style request (`/<bucket>/<key>`), or undefined for bucket-level requests. */
export function keyOfPath(url: string): string | undefined {
  const path = url.split("?")[0];
  const slash = path.indexOf("/", 1);
  if (slash === -1 || slash === path.length - 1) return undefined;
  try {
    return decodeURIComponent(path.slice(slash + 1));
  } catch {
    return undefined;
  }
}

/** The bucket of a path-style request that is a multi-object delete (`POST /<bucket>?delete`), if it is one. */
export function multiDeleteBucket(method: string | undefined, url: string): string | undefined {
  if (method !== "POST") return undefined;
  const [pathPart, query = ""] = url.split("?");
  const segments = pathPart.split("/").filter(Boolean);
  if (segments.length !== 1) return undefined;
  return query.split("&").some((p) => p === "delete" || p.startsWith("delete=")) ? decodeURIComponent(segments[0]) : undefined;
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

const decodeXmlText = (text: string) =>
  text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (entity, name: string) =>
    name.startsWith("#x") ? String.fromCodePoint(parseInt(name.slice(2), 16)) : name.startsWith("#") ? String.fromCodePoint(Number(name.slice(1))) : (XML_ENTITIES[name] ?? entity),
  );

const xmlField = (element: string, name: string) => {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(element);
  return match ? decodeXmlText(match[1]) : undefined;
};

/** The keys of a DeleteObjects request body (`<Delete><Object><Key>…</Key></Object>…</Delete>`). */
export function keysOfDeleteRequest(xml: string): string[] {
  return [...xml.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].flatMap(([, object]) => {
    const key = xmlField(object, "Key");
    return key === undefined ? [] : [key];
  });
}

/** What a DeleteObjects answer says it deleted: `<Deleted>` entries, with their versions and markers. */
export function deletedOfDeleteResult(xml: string): Array<{ key: string; versionId?: string; deleteMarkerVersionId?: string }> {
  return [...xml.matchAll(/<Deleted>([\s\S]*?)<\/Deleted>/g)].flatMap(([, entry]) => {
    const key = xmlField(entry, "Key");
    if (key === undefined) return [];
    const marker = xmlField(entry, "DeleteMarker") === "true";
    return [{ key, versionId: xmlField(entry, "VersionId"), deleteMarkerVersionId: marker ? xmlField(entry, "DeleteMarkerVersionId") : undefined }];
  });
}

/** What a request does to the keys of a bucket, as far as events and the proxy's own answers go. */
export type Operation =
  | { readonly type: "create"; readonly bucket: string; readonly key: string; readonly eventName: string }
  | { readonly type: "delete"; readonly bucket: string; readonly key: string; readonly versionId?: string }
  | { readonly type: "multi-delete"; readonly bucket: string }
  | { readonly type: "upload-part-copy"; readonly bucket: string; readonly key: string; readonly uploadId: string; readonly partNumber: number }
  | { readonly type: "acl"; readonly bucket: string; readonly key?: string }
  | { readonly type: "other"; readonly bucket?: string; readonly key?: string };

/** Query parameters that do not make a PUT or DELETE of a key something else than a write or a delete. */
const PLAIN_PARAMETERS = new Set(["x-id", "versionId"]);

/** Classifies a path-style request by method, path, query and headers. Pure. */
export function classifyRequest(method: string | undefined, url: string, headers: Record<string, string | string[] | undefined>): Operation {
  const [pathPart, queryPart = ""] = url.split("?");
  const query = new URLSearchParams(queryPart);
  const names = [...query.keys()];
  const segments = pathPart.split("/");
  let bucket: string | undefined;
  try {
    bucket = segments[1] ? decodeURIComponent(segments[1]) : undefined;
  } catch {
    bucket = undefined;
  }
  const key = keyOfPath(url);
  if (!bucket) return { type: "other" };
  if (query.has("acl") && (method === "GET" || method === "HEAD" || method === "PUT")) return { type: "acl", bucket, key };
  if (key === undefined) {
    return multiDeleteBucket(method, url) !== undefined ? { type: "multi-delete", bucket } : { type: "other", bucket };
  }
  const plain = names.every((n) => PLAIN_PARAMETERS.has(n));
  if (method === "PUT" && plain) {
    return { type: "create", bucket, key, eventName: headers["x-amz-copy-source"] ? "ObjectCreated:Copy" : "ObjectCreated:Put" };
  }
  if (method === "PUT" && query.has("uploadId") && query.has("partNumber") && headers["x-amz-copy-source"]) {
    return { type: "upload-part-copy", bucket, key, uploadId: query.get("uploadId")!, partNumber: Number(query.get("partNumber")) };
  }
  if (method === "POST" && query.has("uploadId")) return { type: "create", bucket, key, eventName: "ObjectCreated:CompleteMultipartUpload" };
  if (method === "DELETE" && plain) return { type: "delete", bucket, key, versionId: query.get("versionId") ?? undefined };
  return { type: "other", bucket, key };
}

/** A HEAD of one part of an object (`?partNumber=n`, not of an upload in progress). Pure. */
export function isPartHead(url: string): boolean {
  const query = new URLSearchParams(url.split("?")[1] ?? "");
  return query.has("partNumber") && !query.has("uploadId") && keyOfPath(url) !== undefined;
}

/** The path and query without one query parameter. Pure. */
export function withoutQueryParameter(url: string, name: string): string {
  const [pathPart, queryPart] = url.split("?");
  if (queryPart === undefined) return url;
  const kept = queryPart.split("&").filter((pair) => pair !== "" && decodeURIComponent(pair.split("=")[0]) !== name);
  return kept.length > 0 ? `${pathPart}?${kept.join("&")}` : pathPart;
}

/** Per-key exclusive holds, so that the proxy's before/after looks at a key see only the call in between. */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for every key (in a fixed order, so that two callers never wait on each other), then returns the release. */
  async acquire(keys: readonly string[]): Promise<() => void> {
    const releases: Array<() => void> = [];
    for (const key of [...new Set(keys)].sort()) {
      const previous = this.tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      const tail = previous.then(() => mine);
      this.tails.set(key, tail);
      await previous;
      releases.push(() => {
        release();
        if (this.tails.get(key) === tail) this.tails.delete(key);
      });
    }
    return () => releases.forEach((r) => r());
  }

  get held(): number {
    return this.tails.size;
  }
}

/** What `x-amz-copy-source` names: `/bucket/key` or `bucket/key`, URL-encoded, maybe `?versionId=`. */
export function parseCopySource(header: string): { bucket: string; key: string; versionId?: string } | undefined {
  const [pathPart, query = ""] = header.split("?");
  const trimmed = pathPart.replace(/^\//, "");
  const slash = trimmed.indexOf("/");
  if (slash <= 0 || slash === trimmed.length - 1) return undefined;
  try {
    return {
      bucket: decodeURIComponent(trimmed.slice(0, slash)),
      key: decodeURIComponent(trimmed.slice(slash + 1)),
      versionId: new URLSearchParams(query).get("versionId") ?? undefined,
    };
  } catch {
    return undefined;
  }
}

/** `bytes=first-last` of `x-amz-copy-source-range`, inclusive. */
export function parseCopyRange(header: string | undefined): { start: number; end: number } | undefined | "invalid" {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d+)$/.exec(header.trim());
  if (!match) return "invalid";
  const start = Number(match[1]);
  const end = Number(match[2]);
  return end >= start ? { start, end } : "invalid";
}

/** The canned ACLs a bucket with ACLs disabled (object ownership "bucket owner enforced") accepts. */
const ACCEPTED_CANNED_ACLS = new Set(["private", "bucket-owner-full-control"]);
const LOCAL_OWNER = { id: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a", displayName: "local" };

/** The ACL of every bucket and object: the owner has FULL_CONTROL, as with ACLs disabled in S3. */
export function ownerOnlyAcl(): string {
  const owner = `<ID>${LOCAL_OWNER.id}</ID><DisplayName>${LOCAL_OWNER.displayName}</DisplayName>`;
  return (
    `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner>${owner}</Owner><AccessControlList>` +
    `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${owner}</Grantee>` +
    `<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>`
  );
}

/** Why the local endpoint cannot store this key, or undefined when it can. */
export function unstorableKeyReason(key: string): string | undefined {
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES) return `Your key is ${bytes} bytes long; S3 keys are at most ${MAX_KEY_BYTES} bytes.`;
  const long = key.split("/").find((segment) => Buffer.byteLength(segment, "utf8") > MAX_LOCAL_SEGMENT_BYTES);
  if (long !== undefined) {
    return (
      `The local endpoint stores each key as a file path, and this key has a segment of ${Buffer.byteLength(long, "utf8")} bytes ` +
      `between slashes; it can store at most ${MAX_LOCAL_SEGMENT_BYTES}. S3 itself accepts this key: only local mode cannot.`
    );
  }
  return undefined;
}


/** An answer of the storage server, once it has been passed on to the client. */
interface Forwarded {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The answer's body, when it was asked to be kept. */
  readonly body?: Buffer;
}

export async function startLocalEndpoint(options: LocalEndpointOptions): Promise<LocalEndpoint> {
  const problem = options.onProblem ?? ((m: string) => console.error(m));
  const backend: StorageBackend =
    options.backend ?? (await startS3rverBackend({ directory: options.directory, buckets: options.buckets, onProblem: problem }));
  const s3rver = backend.kind === "s3rver" ? (backend as S3rverBackend) : undefined;
  const inner = new URL(backend.url);
  const locks = new KeyLocks();
  const lockName = (bucket: string, key: string) => `${bucket}\u0000${key}`;

  const emit = (bucket: string, key: string, eventName: string, object: { size?: number; eTag?: string; versionId?: string } = {}) => {
    options.onEvent({
      Records: [
        {
          eventName,
          eventTime: new Date().toISOString(),
          s3: { bucket: { name: bucket }, object: { key, sequencer: "0", ...object } },
        },
      ],
    });
  };

  /** Sends the request on to the storage server and its answer back to the client. */
  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: NodeJS.ReadableStream | Buffer,
    headers: http.OutgoingHttpHeaders,
    keep = false,
    /** Changes a 200 answer's body before the client gets it. */
    rewrite?: (body: Buffer) => Buffer,
  ) =>
    new Promise<Forwarded>((resolve, reject) => {
      const upstream = http.request(
        { host: inner.hostname, port: inner.port, method: req.method, path: req.url, headers },
        (answer) => {
          const status = answer.statusCode ?? 502;
          const kept: Buffer[] = [];
          const rewriting = rewrite !== undefined && status === 200;
          if (keep || rewriting) answer.on("data", (chunk: Buffer) => kept.push(chunk));
          if (rewriting) {
            answer.on("end", () => {
              const changed = rewrite(Buffer.concat(kept));
              const { "transfer-encoding": _chunked, ...answerHeaders } = answer.headers;
              res.writeHead(status, { ...answerHeaders, "content-length": changed.length });
              res.end(changed);
              resolve({ status, headers: answer.headers, body: changed });
            });
          } else {
            res.writeHead(status, answer.headers);
            answer.pipe(res);
            answer.on("end", () => resolve({ status, headers: answer.headers, body: keep ? Buffer.concat(kept) : undefined }));
            // A client that hangs up before the end (a reader that took the bytes it needed): the storage
            // server's answer is dropped too, or its connection would wait, paused, forever (and so would close()).
            res.on("close", () => {
              if (res.writableFinished) return;
              answer.destroy();
              resolve({ status, headers: answer.headers });
            });
          }
          answer.on("error", reject);
        },
      );
      upstream.on("error", (error) => {
        problem(`forwarding ${req.method} ${req.url} failed: ${error.message}`);
        if (!res.headersSent) s3Error(res, 500, "InternalError", error.message, req.url ?? "");
        else res.destroy();
        reject(error);
      });
      if (Buffer.isBuffer(body)) {
        upstream.end(body);
        return;
      }
      if (body instanceof AwsChunkedDecoder) {
        body.on("error", (error) => {
          upstream.destroy();
          if (!res.headersSent) s3Error(res, 400, "BadDigest", error.message, req.url ?? "");
          reject(error);
        });
      }
      body.pipe(upstream);
    });

  /** A HEAD sent to the storage server as is: its status and headers. */
  const upstreamHead = (pathAndQuery: string, headers: http.OutgoingHttpHeaders) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const upstream = http.request({ host: inner.hostname, port: inner.port, method: "HEAD", path: pathAndQuery, headers }, (answer) => {
        answer.resume();
        answer.on("end", () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers }));
      });
      upstream.on("error", reject);
      upstream.end();
    });

  /**
   * `HEAD ?partNumber=n` on moto, answered as S3 does: moto gives the part's size and the parts count but
   * the part's own ETag (and compares If-Match with it); S3 answers 206 with the object's ETag. The
   * object's ETag comes from a HEAD of the same key and version; If-Match is checked against it here.
   * Content-Range is left out: moto does not tell where the part starts.
   */
  const motoPartHead = async (req: http.IncomingMessage, res: http.ServerResponse, headers: http.OutgoingHttpHeaders): Promise<void> => {
    const url = req.url ?? "/";
    const { "if-match": ifMatch, ...rest } = headers;
    try {
      const whole = await upstreamHead(withoutQueryParameter(url, "partNumber"), rest);
      const eTag = header(whole.headers, "etag");
      if (whole.status !== 200 || eTag === undefined) {
        res.writeHead(whole.status, whole.headers).end();
        return;
      }
      if (typeof ifMatch === "string" && ifMatch.replace(/"/g, "") !== eTag.replace(/"/g, "")) return s3Error(res, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", url);
      const part = await upstreamHead(url, rest);
      if (part.status !== 200 || header(part.headers, "x-amz-mp-parts-count") === undefined) {
        res.writeHead(part.status, part.headers).end();
        return;
      }
      res.writeHead(206, { ...part.headers, etag: eTag }).end();
    } catch (error) {
      problem(`HEAD ${url} failed: ${(error as Error).message}`);
      if (!res.headersSent) s3Error(res, 500, "InternalError", (error as Error).message, url);
    }
  };

  const readAll = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks);
  };

  let inFlight = 0;
  const quietWaiters: Array<() => void> = [];
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const operation = classifyRequest(req.method, req.url ?? "/", req.headers);
    const raisesEvents = operation.type === "create" || operation.type === "delete" || operation.type === "multi-delete";
    if (!raisesEvents) return handleOperation(req, res, operation);
    inFlight++;
    try {
      await handleOperation(req, res, operation);
    } finally {
      inFlight--;
      if (inFlight === 0) for (const resolve of quietWaiters.splice(0)) resolve();
    }
  };

  const handleOperation = async (req: http.IncomingMessage, res: http.ServerResponse, operation: Operation): Promise<void> => {
    const url = req.url ?? "/";
    const key = keyOfPath(url);
    if (key !== undefined) {
      const bytes = Buffer.byteLength(key, "utf8");
      const reason = bytes > MAX_KEY_BYTES || s3rver ? unstorableKeyReason(key) : undefined;
      if (reason) {
        req.resume();
        if (req.method === "PUT" || req.method === "POST" || bytes > MAX_KEY_BYTES) return s3Error(res, 400, "KeyTooLongError", reason, url);
        if (req.method === "DELETE") {
          res.writeHead(204).end();
          return;
        }
        return s3Error(res, 404, "NoSuchKey", `The specified key does not exist. ${reason}`, url);
      }
    }
    const chunked = isAwsChunked(req.headers);
    const headers: http.OutgoingHttpHeaders = chunked ? decodedHeaders(req.headers) : { ...req.headers };
    if (backend.kind === "moto") {
      // S3 accepts an ETag without its quotes in If-Match / If-None-Match (the function sends one so);
      // moto compares the header with the quoted ETag as it is. moto does not check signatures.
      for (const name of ["if-match", "if-none-match"]) {
        const value = headers[name];
        if (typeof value === "string" && value !== "*" && !value.startsWith('"') && !value.startsWith("W/")) headers[name] = `"${value}"`;
      }
    }
    const body: NodeJS.ReadableStream = chunked ? req.pipe(new AwsChunkedDecoder()) : req;

    if (backend.kind === "moto" && req.method === "HEAD" && operation.type === "other" && isPartHead(url)) return motoPartHead(req, res, headers);
    if (s3rver && operation.type === "acl") return answerAcl(req, res, s3rver, operation);
    if (s3rver && operation.type === "upload-part-copy") return uploadPartCopy(req, res, s3rver, operation);

    if (operation.type === "create") {
      const release = await locks.acquire([lockName(operation.bucket, operation.key)]);
      try {
        const answer = await forward(req, res, body, headers).catch(() => undefined);
        if (answer && answer.status >= 200 && answer.status < 300) {
          const stored = await backend.stat(operation.bucket, operation.key);
          if (stored) emit(operation.bucket, operation.key, operation.eventName, stored);
        }
      } finally {
        release();
      }
      return;
    }

    if (operation.type === "delete") {
      const versioned = backend.versionedBuckets.has(operation.bucket);
      const release = await locks.acquire([lockName(operation.bucket, operation.key)]);
      try {
        const before = versioned ? undefined : await backend.stat(operation.bucket, operation.key);
        const answer = await forward(req, res, body, headers).catch(() => undefined);
        if (versioned) {
          if (answer && answer.status >= 200 && answer.status < 300) {
            const markerVersion = header(answer.headers, "x-amz-version-id");
            if (header(answer.headers, "x-amz-delete-marker") === "true" && !operation.versionId) {
              emit(operation.bucket, operation.key, "ObjectRemoved:DeleteMarkerCreated", { versionId: markerVersion });
            } else {
              emit(operation.bucket, operation.key, "ObjectRemoved:Delete", { versionId: operation.versionId });
            }
          }
        } else if (before && !(await backend.stat(operation.bucket, operation.key))) {
          if (answer && answer.status >= 500) problem(`DELETE ${url} answered ${answer.status} but the object is gone: its event is sent`);
          emit(operation.bucket, operation.key, "ObjectRemoved:Delete");
        }
      } finally {
        release();
      }
      return;
    }

    if (operation.type === "multi-delete") {
      let request: Buffer;
      try {
        request = await readAll(body);
      } catch (error) {
        if (!res.headersSent) s3Error(res, 400, "BadDigest", (error as Error).message, url);
        return;
      }
      const keys = keysOfDeleteRequest(request.toString("utf8"));
      const versioned = backend.versionedBuckets.has(operation.bucket);
      const release = await locks.acquire(keys.map((k) => lockName(operation.bucket, k)));
      try {
        const before = new Set<string>();
        if (!versioned) {
          await mapLimited(keys, 16, async (k) => {
            if (!(s3rver && unstorableKeyReason(k)) && (await backend.stat(operation.bucket, k))) before.add(k);
          });
        }
        // Keys s3rver cannot store cannot exist: they are deleted already, as S3 says of a missing key.
        const unstorable = s3rver ? keys.filter((k) => unstorableKeyReason(k) !== undefined) : [];
        let forwardedBody = request;
        let rewrite: ((answer: Buffer) => Buffer) | undefined;
        const forwardedHeaders = { ...headers };
        if (unstorable.length > 0) {
          const quiet = /<Quiet>\s*true\s*<\/Quiet>/.test(request.toString("utf8"));
          const storable = keys.filter((k) => unstorableKeyReason(k) === undefined);
          const deleted = quiet ? "" : unstorable.map((k) => `<Deleted><Key>${escapeXml(k)}</Key></Deleted>`).join("");
          if (storable.length === 0) {
            xmlAnswer(res, 200, `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${deleted}</DeleteResult>`);
            return;
          }
          forwardedBody = Buffer.from(
            `<Delete>${quiet ? "<Quiet>true</Quiet>" : ""}${storable.map((k) => `<Object><Key>${escapeXml(k)}</Key></Object>`).join("")}</Delete>`,
          );
          for (const name of Object.keys(forwardedHeaders)) if (name === "content-md5" || name.startsWith("x-amz-checksum-") || name === "x-amz-sdk-checksum-algorithm") delete forwardedHeaders[name];
          rewrite = (answer) => Buffer.from(answer.toString("utf8").replace("</DeleteResult>", `${deleted}</DeleteResult>`));
        }
        forwardedHeaders["content-length"] = String(forwardedBody.length);
        delete forwardedHeaders["transfer-encoding"];
        const answer = await forward(req, res, forwardedBody, forwardedHeaders, versioned, rewrite).catch(() => undefined);
        if (versioned) {
          if (answer && answer.status === 200 && answer.body) {
            for (const d of deletedOfDeleteResult(answer.body.toString("utf8"))) {
              if (d.deleteMarkerVersionId !== undefined && d.versionId === undefined) {
                emit(operation.bucket, d.key, "ObjectRemoved:DeleteMarkerCreated", { versionId: d.deleteMarkerVersionId });
              } else {
                emit(operation.bucket, d.key, "ObjectRemoved:Delete", { versionId: d.versionId });
              }
            }
          }
        } else {
          const gone = new Set<string>();
          await mapLimited([...before], 16, async (k) => {
            if (!(await backend.stat(operation.bucket, k))) gone.add(k);
          });
          if (answer && answer.status >= 500 && gone.size > 0) problem(`DeleteObjects ${url} answered ${answer.status} after deleting ${gone.size} objects: their events are sent`);
          // In the request's order, once per key even if the request names it twice.
          for (const k of new Set(keys)) if (gone.has(k)) emit(operation.bucket, k, "ObjectRemoved:Delete");
        }
      } finally {
        release();
      }
      return;
    }

    await forward(req, res, body, headers).catch(() => undefined);
  };

  const proxy = http.createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      problem(`${req.method} ${req.url}: ${error.stack ?? error.message}`);
      if (!res.headersSent) s3Error(res, 500, "InternalError", error.message, req.url ?? "");
      else res.destroy();
    });
  });
  proxy.on("clientError", (_error, socket) => socket.destroy());
  try {
    proxy.listen(options.port, "127.0.0.1");
    await once(proxy, "listening");
  } catch (error) {
    await backend.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw new PortInUseError(
        `port ${options.port} on 127.0.0.1 is already in use (another npm start?): choose another with --port, e.g. npm start -- --port ${options.port + 1}, or --port 0 for any free port`,
        { cause: error },
      );
    }
    throw error;
  }
  const port = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    backend,
    quiet: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => quietWaiters.push(resolve))),
    async close() {
      proxy.closeAllConnections?.();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await backend.close();
    },
  };
}

/** The endpoint's port is taken; the message says which option to use. */
export class PortInUseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

const header = (headers: http.IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

async function answerAcl(req: http.IncomingMessage, res: http.ServerResponse, backend: S3rverBackend, op: { bucket: string; key?: string }): Promise<void> {
  req.resume();
  const url = req.url ?? "";
  if (!(await backend.store.getBucket(op.bucket))) return s3Error(res, 404, "NoSuchBucket", "The specified bucket does not exist", url);
  if (op.key !== undefined && !(await backend.stat(op.bucket, op.key))) return s3Error(res, 404, "NoSuchKey", "The specified key does not exist.", url);
  if (req.method === "PUT") {
    const canned = header(req.headers, "x-amz-acl");
    const grants = Object.keys(req.headers).some((h) => h.startsWith("x-amz-grant-"));
    if (grants || (canned !== undefined && !ACCEPTED_CANNED_ACLS.has(canned))) {
      return s3Error(res, 400, "AccessControlListNotSupported", "The bucket does not allow ACLs (local mode, like the stack's buckets, has ACLs disabled)", url);
    }
    res.writeHead(200, { "content-length": 0 }).end();
    return;
  }
  xmlAnswer(res, 200, ownerOnlyAcl());
}

/** UploadPartCopy: a part of a multipart upload copied from (a range of) an object, read and written in the store. */
async function uploadPartCopy(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  backend: S3rverBackend,
  op: { bucket: string; key: string; uploadId: string; partNumber: number },
): Promise<void> {
  req.resume();
  const url = req.url ?? "";
  const source = parseCopySource(header(req.headers, "x-amz-copy-source") ?? "");
  if (!source) return s3Error(res, 400, "InvalidArgument", "x-amz-copy-source must be bucket/key", url);
  const range = parseCopyRange(header(req.headers, "x-amz-copy-source-range"));
  if (range === "invalid") return s3Error(res, 400, "InvalidArgument", "x-amz-copy-source-range must be bytes=first-last", url);
  if (!Number.isInteger(op.partNumber) || op.partNumber < 1 || op.partNumber > 10000) {
    return s3Error(res, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", url);
  }
  const uploadDir = path.join(backend.store.getResourcePath(op.bucket, undefined, "uploads"), op.uploadId);
  if (!/^[0-9a-f]+$/i.test(op.uploadId) || !existsSync(uploadDir)) {
    return s3Error(res, 404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", url);
  }
  const stored = await backend.stat(source.bucket, source.key);
  if (!stored) return s3Error(res, 404, "NoSuchKey", "The specified key does not exist.", url);
  if (range && range.end >= stored.size) {
    return s3Error(res, 416, "InvalidRange", `The range ${range.start}-${range.end} is outside the ${stored.size} bytes of the source`, url);
  }
  const object = await backend.store.getObject(source.bucket, source.key, range);
  if (!object.content) return s3Error(res, 416, "InvalidRange", "The requested range is not satisfiable", url);
  const { md5 } = await backend.store.putPart(op.bucket, op.uploadId, op.partNumber, object.content);
  xmlAnswer(
    res,
    200,
    `<CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>${new Date().toISOString()}</LastModified>` +
      `<ETag>&quot;${md5}&quot;</ETag></CopyPartResult>`,
  );
}
