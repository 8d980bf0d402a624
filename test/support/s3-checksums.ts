/**
 * A model of how S3 computes what it stores, written with other implementations than the function's
 * (the AWS SDK's own CRC64NVME and the AWS crypto CRC32C in JavaScript, zlib's CRC32, node:crypto), so
 * that a test comparing the function's verdict with it proves something:
 * - a full-object checksum: the algorithm over every byte, base64 of the big-endian value;
 * - a composite checksum: the algorithm over the concatenated binary checksums of the parts, "-<parts>";
 * - the ETag: hex MD5 of the bytes; for a multipart upload, hex MD5 of the concatenated binary part MD5s,
 *   "-<parts>".
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { AwsCrc32c } from "@aws-crypto/crc32c";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import type { DigestAlgorithm } from "../../lambda/checksums";

export const ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const;

export async function referenceDigest(algorithm: DigestAlgorithm, data: Uint8Array): Promise<Buffer> {
  switch (algorithm) {
    case "CRC32": {
      const out = Buffer.alloc(4);
      out.writeUInt32BE((zlib as unknown as { crc32(d: Uint8Array): number }).crc32(data) >>> 0);
      return out;
    }
    case "CRC32C": {
      const h = new AwsCrc32c();
      h.update(data);
      return Buffer.from(await h.digest());
    }
    case "CRC64NVME": {
      const h = new Crc64Nvme();
      h.update(data);
      return Buffer.from(await h.digest());
    }
    case "SHA1":
      return createHash("sha1").update(data).digest();
    case "SHA256":
      return createHash("sha256").update(data).digest();
    case "MD5":
      return createHash("md5").update(data).digest();
  }
}

/** Splits `body` into parts of `partSize` bytes (the last one shorter), as an uploader does. */
export function partsOf(body: Buffer, partSize: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += partSize) parts.push(body.subarray(offset, offset + partSize));
  return parts;
}

/** S3's full-object checksum of `body`, base64. */
export async function fullObjectChecksum(algorithm: DigestAlgorithm, body: Uint8Array): Promise<string> {
  return (await referenceDigest(algorithm, body)).toString("base64");
}

/** S3's composite checksum of an upload in `parts`: "<base64>-<parts>", and each part's own. */
export async function compositeChecksum(algorithm: DigestAlgorithm, parts: Buffer[]): Promise<{ value: string; parts: string[] }> {
  const digests = await Promise.all(parts.map((p) => referenceDigest(algorithm, p)));
  const ofParts = await referenceDigest(algorithm, Buffer.concat(digests));
  return { value: `${ofParts.toString("base64")}-${parts.length}`, parts: digests.map((d) => d.toString("base64")) };
}

/** S3's ETag (unquoted) of a single-part upload, or of a multipart upload in `parts`. */
export async function s3ETag(body: Buffer, parts?: Buffer[]): Promise<string> {
  if (!parts) return createHash("md5").update(body).digest("hex");
  const md5s = parts.map((p) => createHash("md5").update(p).digest());
  return `${createHash("md5").update(Buffer.concat(md5s)).digest("hex")}-${parts.length}`;
}

/** The same bytes with one bit flipped at `offset`: what a corrupted read delivers. */
export function flipped(body: Buffer, offset: number): Buffer {
  const copy = Buffer.from(body);
  copy[offset] ^= 0x01;
  return copy;
}
