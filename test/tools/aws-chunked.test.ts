import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { AwsChunkedDecoder, decodedHeaders, isAwsChunked } from "../../tools/local/aws-chunked";

const crc32 = (b: Buffer) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE((zlib as any).crc32(b) >>> 0);
  return out.toString("base64");
};

async function decode(framed: Buffer, pieceSize = 7): Promise<{ body: Buffer; decoder: AwsChunkedDecoder }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < framed.length; i += pieceSize) pieces.push(framed.subarray(i, i + pieceSize));
  const decoder = new AwsChunkedDecoder();
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), decoder, async function* (source) {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return { body: Buffer.concat(out), decoder };
}

const payload = Buffer.from("The quick brown fox jumps over the lazy dog. ".repeat(50));

describe("aws-chunked decoding", () => {
  it("decodes unsigned chunks with a CRC32 trailer, split at any byte", async () => {
    const framed = Buffer.concat([
      Buffer.from(`400\r\n`), payload.subarray(0, 0x400), Buffer.from(`\r\n`),
      Buffer.from(`${(payload.length - 0x400).toString(16)}\r\n`), payload.subarray(0x400), Buffer.from(`\r\n`),
      Buffer.from(`0\r\nx-amz-checksum-crc32:${crc32(payload)}\r\n\r\n`),
    ]);
    for (const piece of [1, 3, 64, 10_000]) {
      const { body, decoder } = await decode(framed, piece);
      expect(body.equals(payload)).toBe(true);
      expect(decoder.trailers["x-amz-checksum-crc32"]).toBe(crc32(payload));
    }
  });

  it("decodes signed chunks (chunk-signature extensions) without a trailer", async () => {
    const sig = ";chunk-signature=" + "a".repeat(64);
    const framed = Buffer.from(`${payload.length.toString(16)}${sig}\r\n${payload}\r\n0${sig}\r\n\r\n`);
    expect((await decode(framed)).body.equals(payload)).toBe(true);
  });

  it("refuses a body whose trailing CRC32 does not match", async () => {
    const framed = Buffer.from(`5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n`);
    await expect(decode(framed)).rejects.toThrow(/CRC32 is .*, its trailer says AAAAAA==/);
  });

  it("refuses a truncated body", async () => {
    await expect(decode(Buffer.from(`a\r\nhello`))).rejects.toThrow(/ended before its final chunk/);
  });

  it("refuses a chunk longer than declared", async () => {
    await expect(decode(Buffer.from(`2\r\nhello\r\n0\r\n\r\n`))).rejects.toThrow(/longer than its declared size/);
  });
});

describe("headers", () => {
  it("recognizes aws-chunked by its content encoding or streaming payload hash", () => {
    expect(isAwsChunked({ "content-encoding": "aws-chunked" })).toBe(true);
    expect(isAwsChunked({ "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER" })).toBe(true);
    expect(isAwsChunked({ "content-encoding": "gzip", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" })).toBe(false);
  });

  it("gives the stored object its decoded length and keeps other encodings", () => {
    expect(
      decodedHeaders({
        "content-encoding": "aws-chunked, gzip",
        "content-length": "1043",
        "x-amz-decoded-content-length": "1000",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        host: "localhost",
      }),
    ).toEqual({ "content-encoding": "gzip", "content-length": "1000", "x-amz-content-sha256": "UNSIGNED-PAYLOAD", host: "localhost" });
  });
});
