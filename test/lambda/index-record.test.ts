import { describe, expect, it } from "vitest";
import { parseRecord } from "../../lambda/event";
import { indexKeys, keyId } from "../../lambda/index-keys";
import { deletedRecord, parseIndexRecord, presentRecord } from "../../lambda/index-record";
import { s3Record } from "../support/events";

const ctx = { requestId: "req-1", now: new Date("2026-11-25T12:00:00.000Z") };

describe("index records", () => {
  it("hold every field of an indexed object", () => {
    const change = parseRecord(s3Record({ eventName: "ObjectCreated:Put", bucket: "src", key: "incoming/a b.txt", sequencer: "00ab", size: 3, eTag: "e1", versionId: "v1" }));
    const record = presentRecord(
      change,
      { computed: { sha256Hex: "a".repeat(64) }, size: 3, eTag: "e1", contentType: "text/plain", lastModified: new Date("2026-11-24T10:00:00Z"), stored: {} },
      { verification: "absent" },
      ctx,
    );
    expect(record).toEqual({
      schemaVersion: 1,
      state: "present",
      bucket: "src",
      key: "incoming/a b.txt",
      versionId: "v1",
      size: 3,
      eTag: "e1",
      sha256: "a".repeat(64),
      contentType: "text/plain",
      lastModified: "2026-11-24T10:00:00.000Z",
      s3Checksum: { verification: "absent" },
      eventName: "ObjectCreated:Put",
      eventTime: "2026-11-24T10:00:00.000Z",
      sequencer: "00AB",
      indexedAt: "2026-11-25T12:00:00.000Z",
      requestId: "req-1",
      s3RequestId: "TESTREQUEST",
    });
    expect(parseIndexRecord(JSON.stringify(record))).toEqual(record);
  });

  it("mark a delete marker as such", () => {
    const change = parseRecord(s3Record({ eventName: "ObjectRemoved:DeleteMarkerCreated", bucket: "src", key: "k", sequencer: "01", versionId: "m1" }));
    expect(deletedRecord(change, ctx)).toMatchObject({ state: "deleted", deleteMarker: true, versionId: "m1" });
  });

  it("refuse to parse what is not a record", () => {
    expect(() => parseIndexRecord('{"schemaVersion":9}')).toThrow(/unknown index record schema version 9/);
    expect(() => parseIndexRecord('{"schemaVersion":1,"state":"present","bucket":"b","key":"k","versionId":null,"sequencer":"01","sha256":"nope"}')).toThrow(/needs a sha256/);
    expect(() => parseIndexRecord('{"schemaVersion":1,"state":"deleted","bucket":"b","key":"k","versionId":null,"sequencer":"zz"}')).toThrow(/sequencer "zz" is not hexadecimal/);
  });
});

describe("index keys", () => {
  const keys = indexKeys("index/");

  it("have a fixed length whatever the key, even a 1024-byte one", () => {
    const long = "ü".repeat(512);
    expect(keys.current("src", long)).toBe(`index/objects/src/${keyId(long)}.json`);
    expect(Buffer.byteLength(keys.version("src", long, "v".repeat(32)))).toBeLessThan(200);
  });

  it("give each version its own record and content entry", () => {
    expect(keys.version("src", "k", "a.b")).toBe(`index/versions/src/${keyId("k")}/a.b.json`);
    expect(keys.content("f".repeat(64), "src", "k", "v1")).toBe(`index/by-sha256/${"f".repeat(64)}/src/${keyId("k")}/v1.json`);
    expect(keys.content("f".repeat(64), "src", "k")).toBe(`index/by-sha256/${"f".repeat(64)}/src/${keyId("k")}.json`);
    expect(keys.content("f".repeat(64), "src", "k").startsWith(keys.contentPrefix("f".repeat(64)))).toBe(true);
  });
});
