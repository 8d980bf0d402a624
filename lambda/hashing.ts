/**
 * One pass over a stream: SHA-256 and CRC32 (S3's default checksum) of every byte, and the byte count.
 * Memory stays bounded: chunks are hashed as they arrive and dropped, with the stream's own backpressure.
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import type { ComputedChecksums } from "./checksums";

export interface StreamDigest extends ComputedChecksums {
  readonly bytes: number;
}

// zlib.crc32 exists from Node 20.15 and 22.2 (the Lambda nodejs22.x runtime has it).
const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
if (typeof crc32 !== "function") throw new Error("zlib.crc32 is missing: run on Node.js 20.15+ or 22.2+");

export async function digestStream(stream: AsyncIterable<Uint8Array | string>): Promise<StreamDigest> {
  const sha = createHash("sha256");
  let crc = 0;
  let bytes = 0;
  for await (const chunk of stream) {
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    sha.update(data);
    crc = crc32!(data, crc);
    bytes += data.length;
  }
  return { sha256Hex: sha.digest("hex"), crc32: crc >>> 0, bytes };
}
