/**
 * The verification decisions, pure: what the single pass must compute from what S3 stored, and the verdict.
 * Expected values come from the reference model of S3 (test/support/s3-checksums.ts), never from the code
 * under test; the computed side is the function's own one-pass digest.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { compareS3Checksum, digestPlanFor, needsObjectParts, needsPartSizesByHead, uniformPartSizes, type S3StoredChecksum } from "../../lambda/checksums";
import { digestStream } from "../../lambda/hashing";
import { compositeChecksum, flipped, fullObjectChecksum, partsOf, s3ETag } from "../support/s3-checksums";

const body = Buffer.from("hello, checksum ".repeat(100)); // 1,600 bytes
const parts = partsOf(body, 700); // 700 + 700 + 200

/** The verdict on `read` (default: the true bytes) of an object for which S3 stored `stored`. */
async function verdict(stored: S3StoredChecksum, read: Buffer = body) {
  const withSize = { size: body.length, ...stored };
  const { bytes: _bytes, ...computed } = await digestStream([read.subarray(0, 500), read.subarray(500)], digestPlanFor(withSize));
  return compareS3Checksum(withSize, computed);
}

describe("what the single pass computes", () => {
  it("computes the stored algorithm over the whole object for a full-object checksum, nothing extra for SHA-256", () => {
    expect(digestPlanFor({ type: "FULL_OBJECT", crc64nvme: "AAAAAAAAAAA=" })).toEqual({ algorithm: "CRC64NVME" });
    expect(digestPlanFor({ type: "FULL_OBJECT", crc32c: "AAAAAA==" })).toEqual({ algorithm: "CRC32C" });
    expect(digestPlanFor({ type: "FULL_OBJECT", sha256: "x" })).toBeUndefined();
  });

  it("computes the algorithm part by part for a composite checksum, once the part sizes are known", () => {
    const stored = { type: "COMPOSITE", crc32: "abcd-3", eTag: "0".repeat(32) + "-3" };
    expect(needsObjectParts(stored)).toBe(true);
    expect(digestPlanFor(stored)).toBeUndefined();
    expect(digestPlanFor({ ...stored, parts: [{ size: 700 }, { size: 700 }, { size: 200 }] })).toEqual({ algorithm: "CRC32", partSizes: [700, 700, 200] });
  });

  it("needs no parts for a full-object checksum of a multipart upload", () => {
    expect(needsObjectParts({ type: "FULL_OBJECT", crc64nvme: "AAAAAAAAAAA=", eTag: "0".repeat(32) + "-3" })).toBe(false);
  });

  it("falls back to MD5 of the bytes for an unencrypted or SSE-S3 object without a checksum", () => {
    expect(digestPlanFor({ eTag: "0".repeat(32) })).toEqual({ algorithm: "MD5" });
    expect(digestPlanFor({ eTag: "0".repeat(32), serverSideEncryption: "AES256" })).toEqual({ algorithm: "MD5" });
    expect(digestPlanFor({ eTag: "0".repeat(32), serverSideEncryption: "aws:kms" })).toBeUndefined();
    expect(needsObjectParts({ eTag: "0".repeat(32) + "-2" })).toBe(true);
    expect(needsObjectParts({ eTag: "0".repeat(32) + "-2", serverSideEncryption: "aws:kms" })).toBe(false);
  });
});

describe("S3's stored checksum against the bytes read", () => {
  it.each(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const)("verifies a full-object %s and names it", async (algorithm) => {
    const value = await fullObjectChecksum(algorithm, body);
    const stored = { type: "FULL_OBJECT", [algorithm.toLowerCase()]: value };
    expect(await verdict(stored)).toEqual({ type: "FULL_OBJECT", algorithm, source: "checksum", value, computed: value, verification: "match", verifiedBy: algorithm });
    expect(await verdict(stored, flipped(body, 1000))).toMatchObject({ algorithm, value, verification: "mismatch" });
  });

  it("verifies a composite checksum part by part, and names the corrupted part", async () => {
    const composite = await compositeChecksum("SHA256", parts);
    const stored = { type: "COMPOSITE", sha256: composite.value, eTag: await s3ETag(body, parts), parts: parts.map((p, i) => ({ size: p.length, checksum: composite.parts[i] })) };
    expect(await verdict(stored)).toEqual({
      type: "COMPOSITE", algorithm: "SHA256", source: "checksum", value: composite.value, computed: composite.value, parts: 3, verification: "match", verifiedBy: "SHA256",
    });
    expect(await verdict(stored, flipped(body, 1500))).toMatchObject({ verification: "mismatch", mismatchedParts: [3] });
  });

  it("accepts a composite value without its -<parts> suffix (as GetObjectAttributes may give it)", async () => {
    const composite = await compositeChecksum("CRC32C", parts);
    const bare = composite.value.replace(/-\d+$/, "");
    expect(await verdict({ type: "COMPOSITE", crc32c: bare, parts: parts.map((p) => ({ size: p.length })) })).toMatchObject({ verification: "match", computed: bare });
  });

  it("does not check a composite checksum whose parts are unknown or disagree with it, and says why", async () => {
    const composite = await compositeChecksum("CRC32", parts);
    expect(await verdict({ type: "COMPOSITE", crc32: composite.value })).toMatchObject({ verification: "not-comparable", reason: expect.stringContaining("sizes of the object's parts") });
    expect(await verdict({ type: "COMPOSITE", crc32: composite.value, parts: [{ size: 800 }, { size: 800 }] })).toMatchObject({ verification: "not-comparable", reason: expect.stringContaining("names 3 parts") });
    expect(await verdict({ type: "COMPOSITE", crc32: composite.value, parts: [{ size: 700 }, { size: 700 }, { size: 100 }] })).toMatchObject({ verification: "not-comparable", reason: expect.stringContaining("add up to 1500") });
  });

  it("does not guess whether a CRC of a multipart object without a checksum type is full-object or composite", async () => {
    const value = await fullObjectChecksum("CRC32", body);
    expect(await verdict({ crc32: value, eTag: await s3ETag(body, parts) })).toMatchObject({ verification: "not-comparable", algorithm: "CRC32" });
  });

  it("does not check a composite CRC64NVME, which S3 never stores", async () => {
    expect(await verdict({ type: "COMPOSITE", crc64nvme: "AAAAAAAAAAA=-3", parts: parts.map((p) => ({ size: p.length })) })).toMatchObject({ verification: "not-comparable", reason: expect.stringContaining("full-object only") });
  });

  it("verifies a single-part object without a checksum by its MD5 ETag, unless KMS or a customer key encrypted it", async () => {
    const eTag = await s3ETag(body);
    expect(await verdict({ eTag })).toEqual({ type: "FULL_OBJECT", algorithm: "MD5", source: "etag", value: eTag, computed: eTag, verification: "match", verifiedBy: "MD5" });
    expect(await verdict({ eTag }, flipped(body, 3))).toMatchObject({ algorithm: "MD5", verification: "mismatch" });
    expect(await verdict({ eTag, serverSideEncryption: "aws:kms" })).toMatchObject({ verification: "absent", reason: expect.stringContaining("KMS") });
    expect(await verdict({ eTag, customerKeyEncrypted: true })).toMatchObject({ verification: "absent" });
  });

  it("verifies a multipart ETag from the parts' MD5s when the part sizes are known", async () => {
    const eTag = await s3ETag(body, parts);
    const sized = parts.map((p) => ({ size: p.length }));
    expect(await verdict({ eTag, parts: sized })).toMatchObject({ type: "COMPOSITE", algorithm: "MD5", source: "etag", value: eTag, computed: eTag, parts: 3, verification: "match", verifiedBy: "MD5" });
    expect(await verdict({ eTag, parts: sized }, flipped(body, 0))).toMatchObject({ verification: "mismatch" });
    expect(await verdict({ eTag, parts: [] })).toMatchObject({ algorithm: "MD5", verification: "not-comparable" });
  });

  it("reports a mismatch, never hides it", async () => {
    expect(await verdict({ type: "FULL_OBJECT", crc32: "AAAAAA==" })).toMatchObject({ verification: "mismatch", value: "AAAAAA==" });
  });

  it("cannot compare what the read did not compute", () => {
    const computed = { sha256Hex: createHash("sha256").update(body).digest("hex") };
    expect(compareS3Checksum({ type: "FULL_OBJECT", crc32c: "AAAAAA==" }, computed)).toMatchObject({ verification: "not-comparable", reason: "the read did not compute CRC32C" });
  });

  it("says when S3 stores no checksum and no usable ETag", async () => {
    expect(await verdict({})).toMatchObject({ verification: "absent" });
  });
});

describe("part sizes of a multipart upload without checksums", () => {
  it("infers parts of one size but the last from the first and last part", () => {
    expect(uniformPartSizes(18, 4, 5, 3)).toEqual([5, 5, 5, 3]);
    expect(uniformPartSizes(20, 4, 5, 5)).toEqual([5, 5, 5, 5]);
    expect(uniformPartSizes(7, 1, 7, 7)).toEqual([7]);
  });

  it("infers nothing when the first and last part do not add up to the object that way", () => {
    expect(uniformPartSizes(19, 4, 5, 3)).toBeUndefined();
    // A last part larger than the others is not how any client splits a file.
    expect(uniformPartSizes(21, 3, 5, 11)).toBeUndefined();
    expect(uniformPartSizes(6, 1, 7, 7)).toBeUndefined();
    expect(uniformPartSizes(0, 2, 0, 0)).toBeUndefined();
  });

  it("asks HEAD for part sizes only when a multipart MD5 ETag is the one thing that can verify the bytes", () => {
    const eTag = "0123456789abcdef0123456789abcdef-3";
    expect(needsPartSizesByHead({ eTag, parts: [] })).toBe(true);
    expect(needsPartSizesByHead({ eTag, parts: [], serverSideEncryption: "aws:kms" })).toBe(false);
    expect(needsPartSizesByHead({ eTag, parts: [], crc64nvme: "AAAAAAAAAAA=", type: "FULL_OBJECT" })).toBe(false);
    expect(needsPartSizesByHead({ eTag: "0123456789abcdef0123456789abcdef", parts: [] })).toBe(false);
  });

  it("never calls a disagreement under inferred part sizes a mismatch: the parts may differ in size", async () => {
    const body = Buffer.from("a".repeat(5) + "b".repeat(6) + "c".repeat(4) + "d".repeat(3));
    const trueParts = [body.subarray(0, 5), body.subarray(5, 11), body.subarray(11, 15), body.subarray(15)];
    const stored: S3StoredChecksum = { eTag: await s3ETag(body, trueParts), size: body.length, parts: [5, 5, 5, 3].map((size) => ({ size })) };
    const computed = await digestStream([body], digestPlanFor(stored));
    expect(compareS3Checksum({ ...stored, partSizesInferred: true }, computed)).toMatchObject({ verification: "not-comparable", reason: expect.stringContaining("inferred") });
    // The same sizes, confirmed one by one, make it a mismatch.
    expect(compareS3Checksum(stored, computed)).toMatchObject({ verification: "mismatch" });
  });
});
