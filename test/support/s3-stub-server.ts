/**
 * A small S3 on loopback that answers GetObject (whole or Range), GetObjectAttributes and HeadObject (with `partNumber`) in
 * the shapes S3's API reference documents, for what local servers do not do faithfully (moto: composite
 * checksums without their "-N" suffix or type, a GetObjectAttributes date the JS SDK cannot parse, a part
 * HEAD that answers the part's own ETag). Each object says what S3 stored
 * (checksum headers, ETag, encryption, parts) and which bytes to serve, so a test can serve corrupted
 * bytes under the true stored values. The real SDK client talks to it: requests and responses go through
 * the SDK's own serializers and parsers.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { S3Client } from "@aws-sdk/client-s3";

export interface StubPart {
  readonly size: number;
  /** The part's checksum, under its algorithm's name (e.g. { ChecksumCRC32: "..." }). */
  readonly checksum?: Record<string, string>;
}

export interface StubObject {
  /** The bytes served (corrupt them to model a bad read). */
  readonly body: Buffer;
  /** The ETag, unquoted. */
  readonly eTag: string;
  /** x-amz-checksum-<algorithm> (lowercase) → value as S3 returns it, e.g. { crc32: "…==-3" }. */
  readonly checksum?: Record<string, string>;
  /** x-amz-checksum-type. */
  readonly checksumType?: "FULL_OBJECT" | "COMPOSITE";
  readonly serverSideEncryption?: string;
  readonly versionId?: string;
  /** Parts as GetObjectAttributes lists them (absent: S3 lists none, e.g. a multipart upload without checksums). */
  readonly parts?: readonly StubPart[];
  /** Parts per GetObjectAttributes page. @default 1000 (S3's) */
  readonly maxParts?: number;
  /** The ETag GetObjectAttributes reports, when it must differ (the object replaced in between). */
  readonly attributesETag?: string;
  /**
   * The upload's part sizes, as `HEAD ?partNumber=n` reports them: S3 answers them for every multipart
   * object, whether GetObjectAttributes lists its parts or not. Absent: a single-part object.
   */
  readonly uploadParts?: readonly number[];
  /**
   * How `HEAD ?partNumber=n` answers: "s3", as documented (206, the part's Content-Range and Content-Length,
   * the object's ETag, x-amz-mp-parts-count); "moto", as moto 5.2.1 does (200, the part's own MD5 ETag,
   * which If-Match is compared with, no Content-Range). @default "s3"
   */
  readonly partHeads?: "s3" | "moto";
}

export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage["headers"];
}

export interface S3Stub {
  readonly client: S3Client;
  readonly objects: Map<string, StubObject>;
  readonly requests: StubRequest[];
  close(): Promise<void>;
}

const LAST_MODIFIED = "Tue, 24 Nov 2026 10:00:00 GMT";
const XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";

const checksumElements = (values: Record<string, string> | undefined) =>
  Object.entries(values ?? {})
    .map(([name, value]) => `<${name}>${value}</${name}>`)
    .join("");

/** The documented GetObjectAttributes response body. */
function attributesXml(object: StubObject, request: StubRequest): string {
  const marker = Number(request.headers["x-amz-part-number-marker"] ?? 0);
  const maxParts = Math.min(Number(request.headers["x-amz-max-parts"] ?? 1000), object.maxParts ?? 1000);
  const all = (object.parts ?? []).map((p, i) => ({ ...p, number: i + 1 }));
  const page = all.filter((p) => p.number > marker).slice(0, maxParts);
  const truncated = page.length > 0 && page[page.length - 1].number < all.length;
  const objectChecksum = Object.fromEntries(
    Object.entries(object.checksum ?? {}).map(([alg, value]) => [`Checksum${alg.toUpperCase()}`, value.replace(/-\d+$/, "")]),
  );
  const parts = object.parts === undefined
    ? `<ObjectParts><PartsCount>${Number(/-(\d+)$/.exec(object.eTag)?.[1] ?? 1)}</PartsCount></ObjectParts>`
    : `<ObjectParts><IsTruncated>${truncated}</IsTruncated><MaxParts>${maxParts}</MaxParts>` +
      `<NextPartNumberMarker>${page.length > 0 ? page[page.length - 1].number : marker}</NextPartNumberMarker>` +
      `<PartNumberMarker>${marker}</PartNumberMarker>` +
      page.map((p) => `<Part>${checksumElements(p.checksum)}<PartNumber>${p.number}</PartNumber><Size>${p.size}</Size></Part>`).join("") +
      `<PartsCount>${all.length}</PartsCount></ObjectParts>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?><GetObjectAttributesResponse xmlns="${XMLNS}">` +
    `<ETag>${object.attributesETag ?? object.eTag}</ETag>` +
    (object.checksum ? `<Checksum>${checksumElements(objectChecksum)}${object.checksumType ? `<ChecksumType>${object.checksumType}</ChecksumType>` : ""}</Checksum>` : "") +
    parts +
    `<StorageClass>STANDARD</StorageClass><ObjectSize>${object.body.length}</ObjectSize></GetObjectAttributesResponse>`
  );
}

function handle(objects: Map<string, StubObject>, requests: StubRequest[], req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://stub");
  const request = { method: req.method ?? "", path: decodeURIComponent(url.pathname), query: url.searchParams, headers: req.headers };
  requests.push(request);
  const object = objects.get(request.path.slice(1));
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(501).end();
    return;
  }
  if (!object) {
    res.writeHead(404, { "content-type": "application/xml" }).end(`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`);
    return;
  }
  const common: Record<string, string> = { "last-modified": LAST_MODIFIED, ...(object.versionId ? { "x-amz-version-id": object.versionId } : {}) };
  if (url.searchParams.has("attributes")) {
    res.writeHead(200, { ...common, "content-type": "application/xml" }).end(attributesXml(object, request));
    return;
  }
  const ifMatch = req.headers["if-match"];
  const partNumber = url.searchParams.has("partNumber") ? Number(url.searchParams.get("partNumber")) : undefined;
  if (req.method === "HEAD" && partNumber !== undefined) {
    partHead(object, partNumber, ifMatch, common, res);
    return;
  }
  if (ifMatch !== undefined && ifMatch.replace(/"/g, "") !== object.eTag) {
    res.writeHead(412, { "content-type": "application/xml" }).end(PRECONDITION_FAILED);
    return;
  }
  const headers: Record<string, string> = {
    ...common,
    etag: `"${object.eTag}"`,
    "content-length": String(object.body.length),
    "content-type": "application/octet-stream",
    ...(object.serverSideEncryption ? { "x-amz-server-side-encryption": object.serverSideEncryption } : {}),
  };
  if (req.headers["x-amz-checksum-mode"] === "ENABLED") {
    for (const [alg, value] of Object.entries(object.checksum ?? {})) headers[`x-amz-checksum-${alg}`] = value;
    if (object.checksum && object.checksumType) headers["x-amz-checksum-type"] = object.checksumType;
  }
  // A Range GET: 206 with the slice, as S3 answers it (and without stored checksums, which S3 sends for
  // whole-object GETs only).
  const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
  if (range && req.method === "GET") {
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), object.body.length - 1);
    for (const name of Object.keys(headers)) if (name.startsWith("x-amz-checksum-")) delete headers[name];
    res
      .writeHead(206, { ...headers, "content-length": String(end - start + 1), "content-range": `bytes ${start}-${end}/${object.body.length}` })
      .end(object.body.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, headers).end(req.method === "HEAD" ? undefined : object.body);
}

const PRECONDITION_FAILED = `<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`;

/** `HEAD ?partNumber=n`, as S3 documents it or as moto answers it (StubObject.partHeads). */
function partHead(object: StubObject, partNumber: number, ifMatch: string | undefined, common: Record<string, string>, res: ServerResponse): void {
  const sizes = object.uploadParts ?? [object.body.length];
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > sizes.length) {
    res.writeHead(416).end();
    return;
  }
  const start = sizes.slice(0, partNumber - 1).reduce((a, b) => a + b, 0);
  const size = sizes[partNumber - 1];
  const partsCount = object.uploadParts ? { "x-amz-mp-parts-count": String(sizes.length) } : {};
  if (object.partHeads === "moto") {
    const eTag = createHash("md5").update(object.body.subarray(start, start + size)).digest("hex");
    if (ifMatch !== undefined && ifMatch.replace(/"/g, "") !== eTag) return void res.writeHead(412).end();
    res.writeHead(200, { ...common, etag: `"${eTag}"`, "content-length": String(size), ...partsCount }).end();
    return;
  }
  if (ifMatch !== undefined && ifMatch.replace(/"/g, "") !== object.eTag) return void res.writeHead(412, { "content-type": "application/xml" }).end(PRECONDITION_FAILED);
  res
    .writeHead(206, {
      ...common,
      etag: `"${object.eTag}"`,
      "content-length": String(size),
      "content-range": `bytes ${start}-${start + size - 1}/${object.body.length}`,
      "content-type": "application/octet-stream",
      ...partsCount,
    })
    .end();
}

export async function startS3Stub(): Promise<S3Stub> {
  const objects = new Map<string, StubObject>();
  const requests: StubRequest[] = [];
  const server = createServer((req, res) => handle(objects, requests, req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "STUB", secretAccessKey: "STUB" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
  return {
    client,
    objects,
    requests,
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
