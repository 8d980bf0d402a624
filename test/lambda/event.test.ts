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
      [0, "the SQS message body is not a string"],
      [2, "the record has no valid sequencer (got undefined)"],
      [3, "the event ObjectTagging:Put is neither ObjectCreated, ObjectRemoved nor LifecycleExpiration"],
      [4, "the record has no valid object size (got -1)"],
      [5, "the record is not an object"],
    ]);
  });

  it("rejects an event that is not an S3 notification", () => {
    expect(parseEvent({ hello: "world" })).toMatchObject({ type: "records", changes: [], rejected: [{ index: -1 }] });
  });
});

describe("lifecycle expirations", () => {
  it("reads an expiration that created a delete marker as a delete-marker removal", () => {
    const parsed = parseEvent(fixture("lifecycle-expiration-delete-marker.json"));
    if (parsed.type !== "records") throw new Error("expected records");
    expect(parsed.rejected).toEqual([]);
    expect(parsed.changes[0]).toMatchObject({
      kind: "removed",
      removal: "delete-marker",
      eventName: "LifecycleExpiration:DeleteMarkerCreated",
      key: "incoming/old/archive 2019.tar",
      versionId: "Zn3dQ0l2Fq9mT6v1yXr8hLk4bCw7sAe5",
    });
  });

  it("reads an expiration that deleted the object (or one version) as a delete", () => {
    const record = fixture("lifecycle-expiration-delete-marker.json").Records[0];
    const parsed = parseEvent({ Records: [{ ...record, eventName: "LifecycleExpiration:Delete" }] });
    if (parsed.type !== "records") throw new Error("expected records");
    expect(parsed.changes[0]).toMatchObject({ kind: "removed", removal: "delete", eventName: "LifecycleExpiration:Delete" });
  });

  it("tells the two kinds of ObjectRemoved apart", () => {
    const marker = parseEvent(fixture("delete-marker.json"));
    if (marker.type !== "records") throw new Error("expected records");
    expect(marker.changes[0].removal).toBe("delete-marker");
  });

  it("rejects lifecycle transitions, which change no content", () => {
    const record = fixture("lifecycle-expiration-delete-marker.json").Records[0];
    const parsed = parseEvent({ Records: [{ ...record, eventName: "LifecycleTransition" }] });
    if (parsed.type !== "records") throw new Error("expected records");
    expect(parsed.changes).toEqual([]);
    expect(parsed.rejected).toHaveLength(1);
  });
});

describe("wrapped records", () => {
  const s3Notification = fixture("seed-put.json");
  const expected = { kind: "created", key: "b21b84d653bb07b05b1e6b33684dc11b", sequencer: "0C0F6F405D6ED209E1" };
  const sqs = (body: unknown) => ({ Records: [{ messageId: "m1", eventSource: "aws:sqs", body: typeof body === "string" ? body : JSON.stringify(body) }] });
  const sns = (message: unknown) => ({ Records: [{ EventSource: "aws:sns", Sns: { Type: "Notification", Message: JSON.stringify(message) } }] });
  const changesOf = (event: unknown) => {
    const parsed = parseEvent(event);
    if (parsed.type !== "records") throw new Error("expected records");
    return parsed;
  };

  it("unwraps an S3 notification delivered through SQS", () => {
    expect(changesOf(sqs(s3Notification))).toMatchObject({ changes: [expected], rejected: [] });
  });

  it("unwraps an S3 notification delivered through SNS", () => {
    expect(changesOf(sns(s3Notification))).toMatchObject({ changes: [expected], rejected: [] });
  });

  it("unwraps SNS inside SQS (a queue subscribed to a topic, without raw delivery)", () => {
    expect(changesOf(sqs({ Type: "Notification", MessageId: "x", Message: JSON.stringify(s3Notification) }))).toMatchObject({ changes: [expected], rejected: [] });
  });

  it("reads EventBridge's Object Created, whose key is not URL-encoded", () => {
    expect(changesOf(fixture("eventbridge-object-created.json"))).toMatchObject({
      rejected: [],
      changes: [
        {
          kind: "created",
          eventName: "ObjectCreated:Put",
          bucket: "checksum-index-example-source",
          key: "incoming/reports 2026/Q3 (final).pdf",
          size: 48213,
          eTag: "0f343b0931126a20f133d67c2b018a3b",
          versionId: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
          sequencer: "00674A1C3E2F5B8D91",
          s3RequestId: "9X3KZQ7T2M8R4B1N",
        },
      ],
    });
  });

  it("reads EventBridge's Object Deleted with a delete marker, also through SQS", () => {
    const deleted = fixture("eventbridge-object-deleted.json");
    for (const event of [deleted, sqs(deleted)]) {
      expect(changesOf(event).changes).toMatchObject([{ kind: "removed", removal: "delete-marker", eventName: "ObjectRemoved:DeleteMarkerCreated", versionId: "xCq7wrm.Ys1Y2yAsT9QkCMz5aVUh7CwP" }]);
    }
  });

  it("rejects, never drops, a wrapped message that is not an S3 event", () => {
    const parsed = changesOf(sqs("not json"));
    expect(parsed.changes).toEqual([]);
    expect(parsed.rejected).toEqual([{ index: 0, path: "Records[0]", reason: "the SQS message body is not JSON" }]);
    expect(changesOf(sns({ hello: "world" })).rejected).toHaveLength(1);
  });

  it("counts a test event inside a wrapper without rejecting it", () => {
    expect(changesOf(sqs({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: "b" }))).toMatchObject({ changes: [], rejected: [], testEvents: 1 });
  });
});
