/**
 * The one-pass digest equals the reference implementations (the AWS SDK's CRC64NVME, AWS crypto's CRC32C,
 * zlib, node:crypto) on many inputs, however the stream is chunked and wherever the part boundaries fall.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { DigestAlgorithm } from "../../lambda/checksums";
import { digestStream } from "../../lambda/hashing";
import { bytes, chunks, generator } from "../support/byte-streams";
import { referenceDigest } from "../support/s3-checksums";

const ALGORITHMS: DigestAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "MD5"];

describe("the one-pass digest", () => {
  it.each(ALGORITHMS)("computes %s over the whole object exactly as the reference does, on 60 inputs", async (algorithm) => {
    const random = generator(algorithm.length * 7919);
    const lengths = [0, 1, 3, 4, 7, 8, 15, 16, 63, 64, 65, 4095, 4096, 65537, ...Array.from({ length: 46 }, () => Math.floor(random() * 200_000))];
    for (const length of lengths) {
      const data = bytes(random, length);
      const digest = await digestStream(chunks(random, data), { algorithm });
      expect(digest.verifying?.value, `${algorithm} of ${length} bytes`).toBe((await referenceDigest(algorithm, data)).toString("base64"));
      expect(digest.sha256Hex).toBe(createHash("sha256").update(data).digest("hex"));
      expect(digest.bytes).toBe(length);
    }
  });

  it.each(ALGORITHMS)("computes %s part by part, with part boundaries anywhere in the chunks", async (algorithm) => {
    const random = generator(algorithm.length * 104729);
    for (let trial = 0; trial < 20; trial++) {
      const sizes = Array.from({ length: 1 + Math.floor(random() * 6) }, () => 1 + Math.floor(random() * 30_000));
      const data = bytes(random, sizes.reduce((a, b) => a + b, 0));
      const digest = await digestStream(chunks(random, data), { algorithm, partSizes: sizes });
      const expected: Buffer[] = [];
      let offset = 0;
      for (const size of sizes) {
        expected.push(await referenceDigest(algorithm, data.subarray(offset, offset + size)));
        offset += size;
      }
      expect(digest.verifying?.parts).toEqual(expected.map((d) => d.toString("base64")));
      expect(digest.verifying?.ofParts).toBe((await referenceDigest(algorithm, Buffer.concat(expected))).toString("base64"));
    }
  });

  it("counts bytes past the last announced part as one more part, so they cannot match", async () => {
    const digest = await digestStream([Buffer.from("abcdefgh")], { algorithm: "CRC32", partSizes: [3, 3] });
    expect(digest.verifying?.parts).toHaveLength(3);
  });

  it("computes only SHA-256 without a plan", async () => {
    const digest = await digestStream([Buffer.from("abc")]);
    expect(digest).toEqual({ sha256Hex: createHash("sha256").update("abc").digest("hex"), bytes: 3 });
  });
});
