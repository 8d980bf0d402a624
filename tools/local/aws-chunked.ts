/**
 * Decoding of the `aws-chunked` content encoding that today's AWS SDKs and CLI use to stream uploads
 * (with a trailing checksum). Real S3 decodes it; s3rver stores the framing as if it were the object, so
 * the local endpoint decodes it before s3rver sees the body.
 *
 *   <hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n ... 0[;chunk-signature=<sig>]\r\n
 *   [<trailer name>:<value>\r\n]* \r\n
 *
 * Memory is bounded: only a chunk header or trailer line is ever held, never the body.
 */
import { Transform, type TransformCallback } from "node:stream";
import * as zlib from "node:zlib";

/** Whether a request's body is aws-chunked. */
export function isAwsChunked(headers: Record<string, string | string[] | undefined>): boolean {
  const encoding = String(headers["content-encoding"] ?? "").toLowerCase();
  const sha = String(headers["x-amz-content-sha256"] ?? "");
  return encoding.split(",").map((e) => e.trim()).includes("aws-chunked") || sha.startsWith("STREAMING-");
}

/** The headers s3rver should see once the body is decoded. */
export function decodedHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (["content-length", "x-amz-decoded-content-length", "x-amz-trailer", "transfer-encoding"].includes(name)) continue;
    if (name === "content-encoding") {
      const rest = String(value).split(",").map((e) => e.trim()).filter((e) => e && e.toLowerCase() !== "aws-chunked");
      if (rest.length > 0) out[name] = rest.join(", ");
      continue;
    }
    out[name] = value;
  }
  out["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
  const decodedLength = headers["x-amz-decoded-content-length"];
  if (decodedLength !== undefined) out["content-length"] = String(decodedLength);
  return out;
}

/** A request body that is not valid aws-chunked encoding (or whose chunk signatures do not add up). */
export class AwsChunkedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

type State = "header" | "data" | "data-crlf" | "trailer" | "done";

/** A Transform from aws-chunked framing to the payload; `trailers` holds the trailing headers at the end. */
export class AwsChunkedDecoder extends Transform {
  readonly trailers: Record<string, string> = {};
  private state: State = "header";
  private line = "";
  private remaining = 0;
  private crc = 0;
  private decodedBytes = 0;

  constructor(private readonly maxLineLength = 8192) {
    super();
  }

  /** CRC32 of the decoded payload, base64 as S3 writes it. */
  get crc32Base64(): string {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.crc >>> 0);
    return b.toString("base64");
  }

  get bytes(): number {
    return this.decodedBytes;
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  _flush(callback: TransformCallback): void {
    // Some clients end right after the last chunk's header, without the closing empty line.
    if (this.state === "trailer" && this.line === "") this.state = "done";
    if (this.state !== "done") return callback(new AwsChunkedError("the aws-chunked body ended before its final chunk"));
    const expected = this.trailers["x-amz-checksum-crc32"];
    if (expected !== undefined && expected !== this.crc32Base64) {
      return callback(new AwsChunkedError(`the body's CRC32 is ${this.crc32Base64}, its trailer says ${expected}`));
    }
    callback();
  }

  private consume(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      if (this.state === "data") {
        const n = Math.min(this.remaining, buf.length - i);
        const part = buf.subarray(i, i + n);
        this.crc = (zlib as unknown as { crc32(d: Uint8Array, v: number): number }).crc32(part, this.crc);
        this.decodedBytes += n;
        this.push(part);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = "data-crlf";
        continue;
      }
      if (this.state === "done") {
        if (buf.subarray(i).toString("latin1").trim() !== "") throw new AwsChunkedError("bytes after the end of the aws-chunked body");
        return;
      }
      // header, data-crlf and trailer states read lines.
      const newline = buf.indexOf(0x0a, i);
      const end = newline === -1 ? buf.length : newline + 1;
      this.line += buf.subarray(i, end).toString("latin1");
      i = end;
      if (this.line.length > this.maxLineLength) throw new AwsChunkedError("an aws-chunked header line is too long");
      if (newline === -1) continue;
      const line = this.line.replace(/\r?\n$/, "");
      this.line = "";
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    switch (this.state) {
      case "data-crlf":
        if (line !== "") throw new AwsChunkedError("a chunk is longer than its declared size");
        this.state = "header";
        return;
      case "header": {
        const size = parseInt(line.split(";")[0], 16);
        if (!/^[0-9a-fA-F]+/.test(line) || Number.isNaN(size)) throw new AwsChunkedError(`"${line.slice(0, 40)}" is not an aws-chunked chunk header`);
        if (size === 0) {
          this.state = "trailer";
        } else {
          this.remaining = size;
          this.state = "data";
        }
        return;
      }
      case "trailer": {
        if (line === "") {
          this.state = "done";
          return;
        }
        const colon = line.indexOf(":");
        if (colon <= 0) throw new AwsChunkedError(`"${line.slice(0, 40)}" is not a trailer`);
        this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        return;
      }
      default:
        throw new AwsChunkedError(`unexpected line in state ${this.state}`);
    }
  }
}
