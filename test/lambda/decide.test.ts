import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { compareS3Checksum, crc32Base64, decide, removalAffectsCurrent } from "../../lambda/decide";

describe("decide", () => {
  it("applies an event to a key the index does not hold", () => {
    expect(decide("00A1", undefined)).toBe("apply");
  });
  it("applies a newer event", () => {
    expect(decide("00A2", { sequencer: "00A1" })).toBe("apply");
  });
  it("recognizes the same event delivered twice", () => {
    expect(decide("00a1", { sequencer: "00A1" })).toBe("duplicate");
  });
  it("never lets an older event overwrite a newer record", () => {
    expect(decide("00A1", { sequencer: "00A2" })).toBe("stale");
    expect(decide("FF", { sequencer: "0100" })).toBe("stale");
  });
});

describe("removalAffectsCurrent", () => {
  it("a delete marker or an unversioned delete always concerns the current state", () => {
    expect(removalAffectsCurrent({ eventName: "ObjectRemoved:DeleteMarkerCreated", versionId: "m1" }, { versionId: "v1", state: "present" })).toBe(true);
    expect(removalAffectsCurrent({ eventName: "ObjectRemoved:Delete" }, { versionId: null, state: "present" })).toBe(true);
  });
  it("deleting one version concerns the current state only if it is that version", () => {
    expect(removalAffectsCurrent({ eventName: "ObjectRemoved:Delete", versionId: "v1" }, { versionId: "v1", state: "present" })).toBe(true);
    expect(removalAffectsCurrent({ eventName: "ObjectRemoved:Delete", versionId: "v1" }, { versionId: "v2", state: "present" })).toBe(false);
  });
});

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
