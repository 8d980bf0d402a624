import { describe, expect, it } from "vitest";
import { decide, removalAffectsCurrent } from "../../lambda/decide";

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
