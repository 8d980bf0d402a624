import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeS3Key, encodeS3Key, parseEvent } from "../../lambda/event";

const fixture = (name: string) => JSON.parse(readFileSync(path.join(__dirname, "..", "fixtures", "events", name), "utf8"));

describe("key decoding", () => {
  it.each([
    ["incoming/Q3+summary.pdf", "incoming/Q3 summary.pdf"],
    ["incoming/a%2Bb.txt", "incoming/a+b.txt"],
    ["incoming/100%25.txt", "incoming/100%.txt"],
    ["incoming/reports/Q3+summary%282026%29+%C3%BCber.pdf", "incoming/reports/Q3 summary(2026) über.pdf"],
    ["deep/a/b/c/d/e/f/g.bin", "deep/a/b/c/d/e/f/g.bin"],
    ["%E6%97%A5%E6%9C%AC%E8%AA%9E/%F0%9F%93%84", "日本語/📄"],
  ])("decodes %s as %s", (encoded, key) => {
    expect(decodeS3Key(encoded)).toBe(key);
  });

  it("round-trips every kind of key through S3's encoding", () => {
    for (const key of ["a b+c%d", "ü/ß/é", "x".repeat(1024), "(!'*)~", "tab\there"]) {
      expect(decodeS3Key(encodeS3Key(key))).toBe(key);
    }
  });

  it("accepts a 1024-byte key and refuses a longer one", () => {
    expect(decodeS3Key("ü".repeat(512))).toHaveLength(512);
    expect(() => decodeS3Key("a".repeat(1025))).toThrow(/1025 bytes long, S3 keys are at most 1024/);
  });

  it("refuses broken percent-encoding", () => {
    expect(() => decodeS3Key("bad%E0%A4%A.txt")).toThrow(/not valid URL encoding/);
  });
});

describe("event parsing", () => {
  it("reads the AWS guide's example put", () => {
    const parsed = parseEvent(fixture("seed-put.json"));
    expect(parsed).toEqual({
      type: "records",
      rejected: [],
      changes: [
        {
          kind: "created",
          eventName: "ObjectCreated:Put",
          eventTime: "2019-09-03T19:37:27.192Z",
          bucket: "lambda-artifacts-deafc19498e3f2df",
          key: "b21b84d653bb07b05b1e6b33684dc11b",
          versionId: undefined,
          size: 1305107,
          eTag: "b21b84d653bb07b05b1e6b33684dc11b",
          sequencer: "0C0F6F405D6ED209E1",
          s3RequestId: "D82B88E5F771F645",
        },
      ],
    });
  });

  it("decodes the key and keeps the version of a versioned multipart upload", () => {
    const parsed = parseEvent(fixture("versioned-put-encoded-key.json"));
    if (parsed.type !== "records") throw new Error("expected records");
    expect(parsed.changes[0]).toMatchObject({
      kind: "created",
      key: "incoming/reports/Q3 summary(2026) über.pdf",
      versionId: "096fKKXTRTtl3on89fVO.nfljtsv6qko",
      eTag: "9b2cf535f27731c974343645a3985328-4",
    });
  });

  it("reads a delete marker as a removal", () => {
    const parsed = parseEvent(fixture("delete-marker.json"));
    if (parsed.type !== "records") throw new Error("expected records");
    expect(parsed.changes[0]).toMatchObject({ kind: "removed", eventName: "ObjectRemoved:DeleteMarkerCreated", key: "incoming/reports/Q3 summary.pdf" });
  });

  it("recognizes S3's test event", () => {
    expect(parseEvent(fixture("test-event.json"))).toEqual({ type: "test-event", bucket: "example-uploads" });
  });

  it("rejects malformed and foreign records one by one, keeping the good ones", () => {
    const good = fixture("seed-put.json").Records[0];
    const parsed = parseEvent({
      Records: [
        { ...good, eventSource: "aws:sqs" },
        good,
        { ...good, s3: { ...good.s3, object: { ...good.s3.object, sequencer: undefined } } },
        { ...good, eventName: "ObjectTagging:Put" },
        { ...good, s3: { ...good.s3, object: { ...good.s3.object, size: -1 } } },
        "not a record",
      ],
    });
    if (parsed.type !== "records") throw new Error("expected records");
    expect(parsed.changes).toHaveLength(1);
    expect(parsed.rejected.map((r) => [r.index, r.reason])).toEqual([
      [0, 'the record comes from "aws:sqs", not from aws:s3'],
      [2, "the record has no valid sequencer (got undefined)"],
      [3, "the event ObjectTagging:Put is neither ObjectCreated nor ObjectRemoved"],
      [4, "the record has no valid object size (got -1)"],
      [5, "the record is not an object"],
    ]);
  });

  it("rejects an event that is not an S3 notification", () => {
    expect(parseEvent({ hello: "world" })).toMatchObject({ type: "records", changes: [], rejected: [{ index: -1 }] });
  });
});
