import { describe, expect, it } from "vitest";
import { decide, deletesVersion, removalPlan, verificationStep } from "../../lambda/decide";

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

describe("removalPlan", () => {
  it("asks S3 what it serves after a removal in a versioned bucket, whatever was removed", () => {
    expect(removalPlan({ versionId: "v1" })).toBe("ask-s3");
  });
  it("leaves a tombstone after a removal without versions", () => {
    expect(removalPlan({})).toBe("tombstone");
  });
});

describe("deletesVersion", () => {
  it("is true only for a delete of one version, not for a delete marker or an unversioned delete", () => {
    expect(deletesVersion({ removal: "delete", versionId: "v1" })).toBe(true);
    expect(deletesVersion({ removal: "delete-marker", versionId: "m1" })).toBe(false);
    expect(deletesVersion({ removal: "delete" })).toBe(false);
  });
});

describe("verificationStep", () => {
  it("records a read whose checksum matched, was absent or could not be compared", () => {
    for (const v of ["match", "absent", "not-comparable"]) expect(verificationStep(v, 1, 3)).toBe("record");
  });
  it("reads a mismatch again while attempts remain, then fails", () => {
    expect(verificationStep("mismatch", 1, 3)).toBe("reread");
    expect(verificationStep("mismatch", 2, 3)).toBe("reread");
    expect(verificationStep("mismatch", 3, 3)).toBe("fail");
  });
});
