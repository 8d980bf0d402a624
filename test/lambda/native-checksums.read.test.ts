/**
 * The function's reader opens the native CRCs (lambda/native-checksums.ts) for a CRC32C or CRC64NVME read of
 * 128 MiB or more, not before, and verifies with them against S3's documented responses
 * (test/support/s3-stub-server.ts): intact bytes match, one flipped bit is a mismatch. A file of its own, so
 * that the binary starts unopened.
 */
import { randomBytes } from "node:crypto";
import { createCRC32, createCRC64 } from "hash-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareS3Checksum } from "../../lambda/checksums";
import { NATIVE_CHECKSUMS_MIN_BYTES, nativeChecksumsOpen } from "../../lambda/native-checksums";
import { S3ObjectReader } from "../../lambda/s3-store";
import { flipped, fullObjectChecksum, partsOf, s3ETag } from "../support/s3-checksums";
import { startS3Stub, type S3Stub } from "../support/s3-stub-server";

const MiB = 1024 * 1024;
const big = randomBytes(NATIVE_CHECKSUMS_MIN_BYTES + 3 * MiB + 17);

/**
 * S3's stored value for the large object: from hash-wasm, which test/lambda/hashing.test.ts holds equal to
 * the AWS SDK's references (@aws-crypto/crc32c runs at about 60 MiB/s: 2 s for this object). The small
 * object's value comes from the references themselves.
 */
async function storedValue(algorithm: "CRC32C" | "CRC64NVME"): Promise<string> {
  const hasher = algorithm === "CRC32C" ? await createCRC32(0x82f63b78) : await createCRC64("9a6c9329ac4bc9b5");
  hasher.init();
  hasher.update(big);
  return Buffer.from(hasher.digest("binary")).toString("base64");
}
describe("a read of 128 MiB or more through the function's reader (S3's documented responses)", () => {
  let stub: S3Stub;
  beforeAll(async () => {
    stub = await startS3Stub();
  });
  afterAll(() => stub?.close());

  it("leaves the binary unopened for a CRC64NVME read under 128 MiB", async () => {
    const small = big.subarray(0, 8 * MiB);
    const eTag = await s3ETag(small);
    stub.objects.set("src/small", { body: small, eTag, checksum: { crc64nvme: await fullObjectChecksum("CRC64NVME", small) }, checksumType: "FULL_OBJECT" });
    const read = await new S3ObjectReader(stub.client).read({ bucket: "src", key: "small", ifMatch: eTag, expectedSize: small.length });
    expect(compareS3Checksum(read.stored, read.computed)).toMatchObject({ verification: "match", verifiedBy: "CRC64NVME" });
    expect(nativeChecksumsOpen()).toBe(false);
  });

  it.each([
    ["CRC64NVME", "single-part"],
    ["CRC32C", "single-part"],
    ["CRC64NVME", "multipart FULL_OBJECT, read as parallel Range GETs"],
  ] as const)("verifies %s (%s) with the native CRCs: intact is match, one flipped bit is mismatch", async (algorithm, upload) => {
    const parts = upload === "single-part" ? undefined : partsOf(big, 16 * MiB);
    const stored = {
      eTag: await s3ETag(big, parts),
      checksum: { [algorithm.toLowerCase()]: await storedValue(algorithm) },
      checksumType: "FULL_OBJECT" as const,
      ...(parts ? { parts: parts.map((p) => ({ size: p.length })), uploadParts: parts.map((p) => p.length) } : {}),
    };
    const reader = new S3ObjectReader(stub.client, undefined, { partSize: 16 * MiB, concurrency: 4 });
    const outcomes: string[] = [];
    for (const body of [big, flipped(big, 100 * MiB + 5)]) {
      const key = `${algorithm}-${upload}-${outcomes.length}`;
      stub.objects.set(`src/${key}`, { body, ...stored });
      const read = await reader.read({ bucket: "src", key, ifMatch: stored.eTag, expectedSize: big.length });
      const check = compareS3Checksum(read.stored, read.computed);
      outcomes.push(`${check.verification} ${check.verifiedBy ?? check.algorithm}`);
    }
    expect(outcomes).toEqual([`match ${algorithm}`, `mismatch ${algorithm}`]);
    expect(nativeChecksumsOpen()).toBe(true);
  }, 60_000);
});
