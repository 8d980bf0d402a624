import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { compareS3Checksum, crc32Base64 } from "../../lambda/checksums";

describe("S3's stored checksum against the bytes read", () => {
  const body = Buffer.from("hello, checksum");
  const computed = {
    sha256Hex: createHash("sha256").update(body).digest("hex"),
    crc32: (zlib as any).crc32(body) as number,
  };

  it("matches a full-object CRC32 (what today's SDKs send by default)", () => {
    expect(compareS3Checksum({ type: "FULL_OBJECT", crc32: crc32Base64(computed.crc32) }, computed)).toEqual({
      type: "FULL_OBJECT",
      algorithm: "CRC32",
      value: crc32Base64(computed.crc32),
      verification: "match",
    });
  });

  it("matches a full-object SHA-256", () => {
    const value = Buffer.from(computed.sha256Hex, "hex").toString("base64");
    expect(compareS3Checksum({ type: "FULL_OBJECT", sha256: value }, computed).verification).toBe("match");
  });

  it("reports a mismatch, never hides it", () => {
    expect(compareS3Checksum({ type: "FULL_OBJECT", crc32: "AAAAAA==" }, computed)).toMatchObject({ verification: "mismatch", value: "AAAAAA==" });
  });

  it("does not compare a composite (multipart) checksum", () => {
    expect(compareS3Checksum({ type: "COMPOSITE", crc32: "abcd==-4" }, computed).verification).toBe("not-comparable");
    expect(compareS3Checksum({ sha256: "abcd==-2" }, computed).verification).toBe("not-comparable");
  });

  it("does not compare an algorithm it does not compute", () => {
    expect(compareS3Checksum({ type: "FULL_OBJECT", crc64nvme: "AAAAAAAAAAA=" }, computed)).toMatchObject({ algorithm: "CRC64NVME", verification: "not-comparable" });
  });

  it("says when S3 stores no checksum", () => {
    expect(compareS3Checksum({}, computed)).toEqual({ verification: "absent" });
  });
});
