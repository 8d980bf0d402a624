import { describe, expect, it } from "vitest";
import { parseRecord } from "../../lambda/event";
import { compareSequencers } from "../../lambda/sequencer";
import { keyOfPath, keysOfDeleteRequest, multiDeleteBucket, unstorableKeyReason } from "../../tools/local/local-endpoint";
import { sequencerClock, shapeRecord } from "../../tools/local/event-routing";
import { matchingRule, resolvePipeline, type ChecksumIndexStackProps, type Pipeline } from "../../stacks/pipeline";
import { synthStack, TEST_PROPS } from "../support/synth";

const props: Partial<ChecksumIndexStackProps> = { triggers: [{ prefix: "csv/", suffix: ".csv" }, { prefix: "img/", events: ["s3:ObjectCreated:*"] }] };
const pipeline: Pipeline = resolvePipeline("test", { ...TEST_PROPS, ...props });

const raw = (eventName: string, key: string, extra: Record<string, unknown> = {}) => ({
  eventName,
  eventTime: "2026-11-25T00:00:00.000Z",
  s3: { bucket: { name: "cix-test-source" }, object: { key, sequencer: "19ABC", ...extra } },
});

describe("the resolved pipeline the tools read", () => {
  it("has the notification's rules, buckets, index and retries", () => {
    expect(pipeline).toMatchObject({
      stack: "test",
      region: "eu-west-1",
      partition: "aws",
      source: { name: "cix-test-source", arn: "arn:aws:s3:::cix-test-source" },
      rules: [
        { id: "checksum-index-0", events: ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"], prefix: "csv/", suffix: ".csv" },
        { id: "checksum-index-1", events: ["s3:ObjectCreated:*"], prefix: "img/", suffix: "" },
      ],
      index: { name: "cix-test-index", prefix: "index/" },
      function: { maxRetryAttempts: 2 },
      buckets: ["cix-test-source", "cix-test-index"],
    });
  });

  it("is exactly what the synthesized stack deploys: notification rules, function environment and retries", () => {
    const s = synthStack(props);
    const notification = s.only("aws_s3_bucket_notification");
    expect(
      notification.lambda_function.map((r: any) => ({ id: r.id, events: r.events, prefix: r.filter_prefix ?? "", suffix: r.filter_suffix ?? "" })),
    ).toEqual(pipeline.rules);
    expect(s.only("aws_lambda_function").environment.variables.INDEX_PREFIX).toBe(pipeline.index.prefix);
    expect(s.only("aws_lambda_function_event_invoke_config").maximum_retry_attempts).toBe(pipeline.function.maxRetryAttempts);
    expect(Object.values(s.resources("aws_s3_bucket")).map((b: any) => b.bucket).sort()).toEqual([...pipeline.buckets].sort());
    expect(s.stack.pipeline).toEqual(pipeline);
  });
});

describe("routing", () => {
  it("sends what a rule's events, prefix and suffix match, and nothing else", () => {
    expect(matchingRule(pipeline, "cix-test-source", "ObjectCreated:Put", "csv/a.csv")?.id).toBe("checksum-index-0");
    expect(matchingRule(pipeline, "cix-test-source", "ObjectRemoved:Delete", "csv/a.csv")?.id).toBe("checksum-index-0");
    expect(matchingRule(pipeline, "cix-test-source", "ObjectCreated:Put", "csv/a.txt")).toBeUndefined();
    expect(matchingRule(pipeline, "cix-test-source", "ObjectRemoved:Delete", "img/a.png")).toBeUndefined();
    expect(matchingRule(pipeline, "cix-test-index", "ObjectCreated:Put", "csv/a.csv")).toBeUndefined();
  });

  it("shapes records as S3 does: encoded key, multipart name, eTag filled in, the given sequencer", () => {
    const shaped = shapeRecord(pipeline, raw("ObjectCreated:Post", "csv/Q3 report (final) ü.csv", { size: 10, eTag: "abc" }), "00FF")!;
    expect(shaped.record.eventName).toBe("ObjectCreated:CompleteMultipartUpload");
    expect(shaped.record.s3.object).toEqual({ key: "csv/Q3+report+%28final%29+%C3%BC.csv", sequencer: "00FF", size: 10, eTag: "abc" });
    expect(parseRecord(shaped.record)).toMatchObject({ key: "csv/Q3 report (final) ü.csv", kind: "created" });
    const copy = shapeRecord(pipeline, raw("ObjectCreated:Copy", "img/x.png", { size: 3 }), "0100", "etag-from-head")!;
    expect(copy.record.s3.object.eTag).toBe("etag-from-head");
  });

  it("makes sequencers strictly increasing even within one millisecond", () => {
    const next = sequencerClock(() => 1_700_000_000_000);
    const a = next();
    const b = next();
    expect(compareSequencers(b, a)).toBeGreaterThan(0);
    const later = sequencerClock(() => 1_700_000_000_001)();
    expect(compareSequencers(later, b)).toBeGreaterThan(0);
  });
});

describe("keys the local endpoint cannot store", () => {
  it("reads the key of a path-style request", () => {
    expect(keyOfPath("/bucket/a%20b/c.txt?uploads")).toBe("a b/c.txt");
    expect(keyOfPath("/bucket")).toBeUndefined();
    expect(keyOfPath("/bucket/")).toBeUndefined();
  });

  it("refuses a segment over 233 bytes or a key over 1024 bytes, and nothing else", () => {
    expect(unstorableKeyReason(`a/${"x".repeat(233)}`)).toBeUndefined();
    expect(unstorableKeyReason(`a/${"x".repeat(234)}`)).toMatch(/segment of 234 bytes/);
    expect(unstorableKeyReason("y/".repeat(600))).toMatch(/1200 bytes long/);
  });
});

describe("multi-object deletes", () => {
  it("are recognized by POST /<bucket>?delete", () => {
    expect(multiDeleteBucket("POST", "/my-bucket?delete")).toBe("my-bucket");
    expect(multiDeleteBucket("POST", "/my-bucket?delete=&x-id=DeleteObjects")).toBe("my-bucket");
    expect(multiDeleteBucket("POST", "/my-bucket/key?delete")).toBeUndefined();
    expect(multiDeleteBucket("PUT", "/my-bucket?delete")).toBeUndefined();
    expect(multiDeleteBucket("POST", "/my-bucket?uploads")).toBeUndefined();
  });

  it("name their keys, XML entities decoded", () => {
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>' +
      "<Object><Key>incoming/a &amp; b.txt</Key></Object><Object><Key>incoming/&#252;ber&lt;1&gt;.txt</Key><VersionId>v1</VersionId></Object></Delete>";
    expect(keysOfDeleteRequest(xml)).toEqual(["incoming/a & b.txt", "incoming/über<1>.txt"]);
  });
});
