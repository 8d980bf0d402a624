import { describe, expect, it } from "vitest";
import { eventsOverlap, filtersOverlap } from "../../stacks/validation";
import { synthStack } from "../support/synth";

describe("bad configuration fails at synth with an error that says what to change", () => {
  const cases: Array<[string, Parameters<typeof synthStack>[0], RegExp]> = [
    ["an empty name prefix", { namePrefix: "" }, /namePrefix is empty/],
    ["a name prefix with spaces", { namePrefix: "my stack" }, /namePrefix "my stack" must be 1 to 40 letters, digits or hyphens/],
    ["an empty bucket name", { sourceBucket: { name: "" } }, /sourceBucket.name is empty/],
    ["an uppercase bucket name", { sourceBucket: { name: "My-Uploads" } }, /"My-Uploads" is not a valid S3 bucket name: only lowercase/],
    ["a too short bucket name", { index: { name: "ab" } }, /index.name "ab" is not a valid S3 bucket name: it is 2 characters long/],
    ["a bucket name like an IP address", { index: { name: "192.168.1.1" } }, /must not look like an IP address/],
    ["a bucket name with adjacent dots", { sourceBucket: { name: "a..b" } }, /two adjacent dots/],
    ["a reserved bucket suffix", { sourceBucket: { name: "uploads-s3alias" } }, /suffix "-s3alias" is reserved/],
    [
      "overlapping prefixes for the same events",
      { triggers: [{ prefix: "incoming/" }, { prefix: "incoming/images/" }] },
      /triggers\[0\] .* and triggers\[1\] .* overlap for s3:ObjectCreated:\*, s3:ObjectRemoved:\*, s3:LifecycleExpiration:\*: S3 would reject the notification at apply with "Unable to validate the following destination configurations"/,
    ],
    [
      "an empty prefix beside another rule with compatible suffixes",
      { triggers: [{ prefix: "", suffix: ".csv" }, { prefix: "a/", suffix: "data.csv", events: ["s3:ObjectCreated:Put"] }] },
      /overlap for s3:ObjectCreated:\*/,
    ],
    ["no triggers", { triggers: [] }, /triggers is empty/],
    ["an index prefix starting with a slash", { index: { prefix: "/index/" } }, /index.prefix "\/index\/" must not start with "\/"/],
    ["an unknown event type", { triggers: [{ events: ["s3:ObjectUploaded:*"] }] }, /"s3:ObjectUploaded:\*", which is not an S3 event type the function processes: use one of s3:ObjectCreated:\*/],
    ["an S3 event type the function cannot process", { triggers: [{ events: ["s3:ObjectTagging:*"] }] }, /"s3:ObjectTagging:\*", which is not an S3 event type the function processes/],
    ["a log retention CloudWatch rejects", { function: { logRetentionDays: 10 } }, /logRetentionDays is 10 days, which CloudWatch Logs does not accept: use one of 1, 3, 5/],
    ["a memory size out of range", { function: { memorySize: 64 } }, /memorySize is 64 MiB: give a whole number from 128 to 10240 MiB/],
    ["a read part size out of range", { function: { readPartSizeMiB: 0 } }, /function\.readPartSizeMiB/],
    ["reads in flight out of range", { function: { readConcurrency: 65 } }, /function\.readConcurrency/],
    ["digest worker setting unknown", { function: { digestWorker: "always" as never } }, /function\.digestWorker is "always": use "auto", "on", "off"/],
    ["read buffers over half the memory", { function: { memorySize: 256, readPartSizeMiB: 64, readConcurrency: 4 } }, /readConcurrency × function\.readPartSizeMiB is 256 MiB, more than half of function\.memorySize \(256 MiB\)/],
    ["a timeout over 15 minutes", { function: { timeoutSeconds: 1000 } }, /timeoutSeconds is 1000 seconds: give a whole number from 1 to 900/],
    ["$LATEST as the alias", { function: { aliasName: "$LATEST" } }, /S3 must invoke a published alias/],
    ["a numeric alias", { function: { aliasName: "42" } }, /not only digits/],
    ["too many retries", { function: { maxRetryAttempts: 3 } }, /maxRetryAttempts is 3: give a whole number from 0 to 2/],
    ["an invalid region", { region: "Europe" }, /region "Europe" is not an AWS region name/],
    ["an invalid account id", { accountId: "12345" }, /accountId "12345" is not an AWS account id/],
    ["a KMS alias instead of a key ARN", { sourceBucket: { kmsKeyArn: "alias/uploads" } }, /is not a KMS key ARN/],
    [
      "both a created and an existing source bucket",
      { sourceBucket: {}, existingSourceBucket: { name: "uploads-bucket", versioned: false } },
      /Both sourceBucket and existingSourceBucket are set: keep only one of them/,
    ],
    [
      "an index the trigger would watch",
      { sourceBucket: { name: "shared-bucket" }, index: { name: "shared-bucket", prefix: "incoming/index/" } },
      /The index \(bucket "shared-bucket", prefix "incoming\/index\/"\) is inside what triggers\[0\] watches .* every index write would invoke the function again/,
    ],
    [
      "an index in the watched bucket when the trigger watches every key",
      { sourceBucket: { name: "shared-bucket" }, index: { name: "shared-bucket" }, triggers: [{ prefix: "" }] },
      /every index write would invoke the function again/,
    ],
  ];

  it.each(cases)("refuses %s", (_name, props, message) => {
    expect(() => synthStack(props)).toThrow(message);
  });

  it("accepts an index in the source bucket outside every trigger's prefix", () => {
    const s = synthStack({ sourceBucket: { name: "shared-bucket" }, index: { name: "shared-bucket", prefix: "index/" } });
    expect(Object.values(s.resources("aws_s3_bucket")).map((b: any) => b.bucket)).toEqual(["shared-bucket"]);
  });

  it("accepts an index in the source bucket when the trigger's suffix excludes the records", () => {
    expect(() =>
      synthStack({ sourceBucket: { name: "shared-bucket" }, index: { name: "shared-bucket" }, triggers: [{ prefix: "", suffix: ".csv" }] }),
    ).not.toThrow();
  });

  it("accepts disjoint rules: different prefixes, or the same prefix with different suffixes, or different events", () => {
    expect(() =>
      synthStack({
        triggers: [
          { prefix: "a/", suffix: ".csv" },
          { prefix: "a/", suffix: ".png" },
          { prefix: "b/", events: ["s3:ObjectCreated:*"] },
          { prefix: "b/", events: ["s3:ObjectRemoved:*"] },
        ],
      }),
    ).not.toThrow();
  });
});

describe("overlap rules, as S3 applies them", () => {
  it("a wildcard event covers its family, and only its family", () => {
    expect(eventsOverlap("s3:ObjectCreated:*", "s3:ObjectCreated:Put")).toBe(true);
    expect(eventsOverlap("s3:ObjectCreated:Put", "s3:ObjectCreated:Post")).toBe(false);
    expect(eventsOverlap("s3:ObjectCreated:*", "s3:ObjectRemoved:*")).toBe(false);
  });

  it("filters overlap when one prefix starts the other and one suffix ends the other", () => {
    expect(filtersOverlap({ prefix: "a/", suffix: "" }, { prefix: "a/b/", suffix: ".csv" })).toBe(true);
    expect(filtersOverlap({ prefix: "a/", suffix: ".csv" }, { prefix: "a/", suffix: ".json" })).toBe(false);
    expect(filtersOverlap({ prefix: "a/", suffix: "" }, { prefix: "b/", suffix: "" })).toBe(false);
  });
});
