/**
 * An S3-compatible endpoint on loopback for local mode: s3rver behind a small proxy that makes it behave
 * like S3 where local mode needs it to.
 *
 * - Bodies in the `aws-chunked` encoding (today's SDKs and CLI) are decoded, so objects are stored
 *   byte-exact, and a trailing CRC32 that does not match is refused with S3's BadDigest.
 * - s3rver stores each key as a file path; a path segment too long for a file name made it crash with an
 *   unhandled ENAMETOOLONG. Such keys get a clear S3 error (KeyTooLongError) instead, and the server stays up.
 * - Keys longer than S3's 1024 bytes get S3's KeyTooLongError too.
 * - A multi-object delete (DeleteObjects, as `aws s3 rm --recursive` sends) produces one ObjectRemoved:Delete
 *   event per key, as in S3; s3rver sends none.
 */
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { AwsChunkedDecoder, decodedHeaders, isAwsChunked } from "./aws-chunked";
// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");

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
    s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; sequencer: string } };
  }>;
}

export interface LocalEndpointOptions {
  /** Folder where objects are stored; kept across restarts. */
  readonly directory: string;
  /** Port on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  /** Buckets to create if they do not exist. */
  readonly buckets: readonly string[];
  /** Called for every object event of every bucket, in the order s3rver emits them. */
  readonly onEvent: (event: ServerObjectEvent) => void;
  /** Called with problems the endpoint handled without going down. */
  readonly onProblem?: (message: string) => void;
}

export interface LocalEndpoint {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function s3Error(res: http.ServerResponse, status: number, code: string, message: string, resource: string): void {
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>` +
    `<Resource>${escapeXml(resource)}</Resource><RequestId>local</RequestId></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(xml) });
  res.end(xml);
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

/** The keys of a DeleteObjects request body (`<Delete><Object><Key>…</Key></Object>…</Delete>`). */
export function keysOfDeleteRequest(xml: string): string[] {
  return [...xml.matchAll(/<Object>[\s\S]*?<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Object>/g)].map(([, key]) =>
    key.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (entity, name: string) =>
      name.startsWith("#x") ? String.fromCodePoint(parseInt(name.slice(2), 16)) : name.startsWith("#") ? String.fromCodePoint(Number(name.slice(1))) : (XML_ENTITIES[name] ?? entity),
    ),
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

export async function startLocalEndpoint(options: LocalEndpointOptions): Promise<LocalEndpoint> {
  const problem = options.onProblem ?? ((m: string) => console.error(m));
  const s3rver = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  s3rver.on("event", options.onEvent);
  // s3rver reports every S3 error answer here too (a 404 for a missing key is normal): only report its own.
  s3rver.on("error", (error: Error & { status?: number }) => {
    if (error.status === undefined || error.status >= 500) problem(`storage error: ${error.message}`);
  });
  const inner = (await s3rver.run()) as AddressInfo;

  const proxy = http.createServer((req, res) => {
    const key = keyOfPath(req.url ?? "/");
    if (key !== undefined && (req.method === "PUT" || req.method === "POST")) {
      const reason = unstorableKeyReason(key);
      if (reason) {
        req.resume();
        return s3Error(res, 400, "KeyTooLongError", reason, req.url ?? "");
      }
    }
    const chunked = isAwsChunked(req.headers);
    const headers = chunked ? decodedHeaders(req.headers) : { ...req.headers };
    // A multi-object delete: keep its (small) body to announce each deleted key once s3rver has answered.
    const deleteBucket = multiDeleteBucket(req.method, req.url ?? "/");
    const deleteBody: Buffer[] = [];
    const upstream = http.request(
      { host: "127.0.0.1", port: inner.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        if (deleteBucket !== undefined && answer.statusCode === 200) {
          answer.on("end", () => {
            for (const key of keysOfDeleteRequest(Buffer.concat(deleteBody).toString("utf8"))) {
              options.onEvent({
                Records: [
                  {
                    eventName: "ObjectRemoved:Delete",
                    eventTime: new Date().toISOString(),
                    s3: { bucket: { name: deleteBucket }, object: { key, sequencer: "0" } },
                  },
                ],
              });
            }
          });
        }
      },
    );
    upstream.on("error", (error) => {
      problem(`forwarding ${req.method} ${req.url} failed: ${error.message}`);
      if (!res.headersSent) s3Error(res, 500, "InternalError", error.message, req.url ?? "");
      else res.destroy();
    });
    const body: NodeJS.ReadableStream = chunked ? req.pipe(new AwsChunkedDecoder()) : req;
    if (deleteBucket !== undefined) body.on("data", (chunk: Buffer) => deleteBody.push(chunk));
    if (!chunked) {
      req.pipe(upstream);
      return;
    }
    const decoder = body as AwsChunkedDecoder;
    decoder.on("error", (error) => {
      upstream.destroy();
      if (!res.headersSent) s3Error(res, 400, "BadDigest", error.message, req.url ?? "");
    });
    decoder.pipe(upstream);
  });
  proxy.on("clientError", (_error, socket) => socket.destroy());
  proxy.listen(options.port, "127.0.0.1");
  await once(proxy, "listening");
  const port = (proxy.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      proxy.closeAllConnections?.();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await s3rver.close();
    },
  };
}
