/**
 * Delivery through EventBridge: the rules' patterns select exactly what the notification would, the
 * stack wires rule → alias with its own permission, retries and dead-letter queue, and Terraform accepts it.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { App } from "cdktf";
import { describe, expect, it } from "vitest";
import { INDEXED_EVENT_TYPES } from "../../lambda/contract";
import { ChecksumIndexStack } from "../../stacks/checksum-index-stack";
import { batchOperationsStatements } from "../../stacks/iam";
import { EVENT_PATTERN_MAX_CHARS, eventBridgeFormOf, eventMatchesPattern, eventPattern, resolvePipeline, ruleMatches } from "../../stacks/pipeline";
import { terraformRunner, assertMirrorHasAws } from "../../tools/terraform";
import { synthStack, TEST_PROPS } from "../support/synth";
import { tempDir } from "../support/temp";

const fixture = (name: string) => JSON.parse(readFileSync(path.join(__dirname, "..", "fixtures", "events", name), "utf8"));
const created = fixture("eventbridge-object-created.json");
const deleted = fixture("eventbridge-object-deleted.json");
const BUCKET = created.detail.bucket.name;

/** An EventBridge S3 event of the fixture's shape for another key, type, reason or deletion type. */
const ebEvent = (detailType: string, key: string, extra: Record<string, unknown> = {}) => ({
  ...created,
  "detail-type": detailType,
  detail: { ...created.detail, object: { ...created.detail.object, key }, ...extra },
});

describe("EventBridge patterns select what the notification rule would", () => {
  const rules = [
    { prefix: "incoming/", suffix: "", events: ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"] },
    { prefix: "csv/", suffix: ".csv", events: ["s3:ObjectCreated:*"] },
    { prefix: "", suffix: ".pdf", events: ["s3:ObjectCreated:Put", "s3:ObjectRemoved:DeleteMarkerCreated"] },
    { prefix: "odd*name\\/", suffix: "", events: ["s3:LifecycleExpiration:*"] },
  ];
  const cases: Array<[string, any, string]> = [
    ["a put under incoming/", created, "ObjectCreated:Put"],
    ["a delete marker under incoming/", deleted, "ObjectRemoved:DeleteMarkerCreated"],
    ["a permanent delete", ebEvent("Object Deleted", "incoming/a.pdf", { reason: "DeleteObject", "deletion-type": "Permanently Deleted" }), "ObjectRemoved:Delete"],
    ["a copy of a csv", ebEvent("Object Created", "csv/2026/a.csv", { reason: "CopyObject" }), "ObjectCreated:Copy"],
    ["a csv under another prefix", ebEvent("Object Created", "other/a.csv"), "ObjectCreated:Put"],
    ["a csv deleted", ebEvent("Object Deleted", "csv/a.csv", { reason: "DeleteObject", "deletion-type": "Permanently Deleted" }), "ObjectRemoved:Delete"],
    ["a multipart pdf anywhere", ebEvent("Object Created", "x/y.pdf", { reason: "CompleteMultipartUpload" }), "ObjectCreated:CompleteMultipartUpload"],
    ["a lifecycle expiration of odd*name\\/", ebEvent("Object Deleted", "odd*name\\/k", { reason: "Lifecycle Expiration", "deletion-type": "Permanently Deleted" }), "LifecycleExpiration:Delete"],
    ["a lifecycle expiration elsewhere", ebEvent("Object Deleted", "oddXname\\/k", { reason: "Lifecycle Expiration", "deletion-type": "Permanently Deleted" }), "LifecycleExpiration:Delete"],
  ];
  it.each(cases)("%s", (_name, event, eventName) => {
    for (const rule of rules) {
      const viaEventBridge = eventMatchesPattern(eventPattern(BUCKET, rule), event);
      expect(viaEventBridge, `${JSON.stringify(rule)}`).toBe(ruleMatches(rule, eventName, event.detail.object.key));
    }
  });

  it("never matches another bucket's events", () => {
    const other = { ...created, detail: { ...created.detail, bucket: { name: "another-bucket" } } };
    expect(eventMatchesPattern(eventPattern(BUCKET, rules[0]), other)).toBe(false);
  });

  it("writes the default rule as one alternative, and several event kinds under $or", () => {
    expect(eventPattern("src", rules[0])).toEqual({
      source: ["aws.s3"],
      $or: [
        { "detail-type": ["Object Created"], detail: { bucket: { name: ["src"] }, object: { key: [{ prefix: "incoming/" }] } } },
        { "detail-type": ["Object Deleted"], detail: { bucket: { name: ["src"] }, object: { key: [{ prefix: "incoming/" }] }, reason: ["DeleteObject"] } },
      ],
    });
    expect(eventPattern("src", rules[1])).toEqual({
      source: ["aws.s3"],
      "detail-type": ["Object Created"],
      detail: { bucket: { name: ["src"] }, object: { key: [{ wildcard: "csv/*.csv" }] } },
    });
  });

  it("refuses an event type EventBridge delivery cannot express, saying which it can", () => {
    // Every event type the function processes has its EventBridge form: the map is keyed by the contract's list.
    for (const event of INDEXED_EVENT_TYPES) expect(() => eventPattern("src", { prefix: "", suffix: "", events: [event] })).not.toThrow();
    expect(() => eventPattern("src", { prefix: "", suffix: "", events: ["s3:ObjectTagging:*"] })).toThrow(/"s3:ObjectTagging:\*" cannot be routed through EventBridge: use one of s3:ObjectCreated:\*/);
  });
});

describe("EventBridge patterns at their edges", () => {
  const ev = (eventName: string, key: string) => {
    const form = eventBridgeFormOf(eventName)!;
    return { "detail-type": form.detailType, detail: { bucket: { name: "b" }, object: { key }, reason: form.reason, ...(form.deletionType ? { "deletion-type": form.deletionType } : {}) } };
  };

  it("match a key where prefix and suffix overlap (prefix 'data.', suffix '.csv', key 'data.csv'), as S3 does", () => {
    const rule = { prefix: "data.", suffix: ".csv", events: ["s3:ObjectCreated:*"] };
    for (const key of ["data.csv", "data.x.csv", "data..csv"]) {
      expect(eventMatchesPattern(eventPattern("b", rule), ev("ObjectCreated:Put", key)), key).toBe(ruleMatches(rule, "ObjectCreated:Put", key));
    }
    expect(eventMatchesPattern(eventPattern("b", rule), ev("ObjectCreated:Put", "data.cs"))).toBe(false);
  });

  it("join the reasons of narrow event types, so that every type at once still fits EventBridge's 2048 characters", () => {
    const events = INDEXED_EVENT_TYPES.filter((e) => !e.endsWith(":*"));
    const rule = { prefix: `tenants/acme/uploads/${"x".repeat(100)}/`, suffix: ".parquet", events: [...events] };
    const pattern = eventPattern("b", rule);
    expect(JSON.stringify(pattern).length).toBeLessThanOrEqual(EVENT_PATTERN_MAX_CHARS);
    for (const event of events) {
      const name = event.slice(3);
      expect(eventMatchesPattern(pattern, ev(name, `${rule.prefix}k${rule.suffix}`)), name).toBe(true);
    }
    expect(eventMatchesPattern(pattern, ev("ObjectRemoved:Delete", `${rule.prefix}k.csv`))).toBe(false);
  });

  it("refuse at synth a pattern over EventBridge's limit, naming the rule", () => {
    expect(() => eventPattern("b", { prefix: "p".repeat(1020), suffix: "s".repeat(1000), events: ["s3:ObjectCreated:*"] })).toThrow(/over EventBridge's default limit of 2048/);
  });

  it("refuse a bucket another account owns: S3 sends its EventBridge events only to the owner's bus", () => {
    expect(() =>
      resolvePipeline("x", {
        namePrefix: "cix-x",
        accountId: "222222222222",
        delivery: "eventbridge",
        existingSourceBucket: { name: "their-bucket", versioned: false, ownerAccountId: "111111111111", eventBridge: "already-enabled" },
      }),
    ).toThrow(/only to the default event bus of the bucket owner's account/);
  });
});

describe("the EventBridge delivery stack", () => {
  const s = synthStack({ delivery: "eventbridge", accountId: "111122223333", triggers: [{ prefix: "incoming/" }, { prefix: "csv/", suffix: ".csv" }] });

  it("turns on the bucket's EventBridge delivery and writes no Lambda notification", () => {
    const notification = s.only("aws_s3_bucket_notification");
    expect(notification.eventbridge).toBe(true);
    expect(notification.lambda_function).toBeUndefined();
  });

  it("has one rule per trigger, each targeting the alias with the function's retries and the failure queue as dead-letter queue", () => {
    const rules = Object.values(s.resources("aws_cloudwatch_event_rule")) as any[];
    expect(rules.map((r) => r.name)).toEqual(["cix-test-indexer-0", "cix-test-indexer-1"]);
    expect(JSON.parse(rules[1].event_pattern)).toEqual(eventPattern("cix-test-source", { prefix: "csv/", suffix: ".csv", events: ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"] }));
    const targets = Object.values(s.resources("aws_cloudwatch_event_target")) as any[];
    expect(targets).toHaveLength(2);
    for (const target of targets) {
      expect(target.arn).toMatch(/^\$\{aws_lambda_alias\.[^.]+\.arn\}$/);
      expect(target.dead_letter_config.arn).toMatch(/^\$\{aws_sqs_queue\.[^.]+\.arn\}$/);
      expect(target.retry_policy).toEqual({ maximum_retry_attempts: 2, maximum_event_age_in_seconds: 3600 });
    }
  });

  it("lets each rule, and only it, invoke only the alias", () => {
    const permissions = Object.values(s.resources("aws_lambda_permission")) as any[];
    expect(permissions).toHaveLength(2);
    for (const [i, p] of permissions.entries()) {
      expect(p).toMatchObject({ principal: "events.amazonaws.com", action: "lambda:InvokeFunction" });
      expect(p.qualifier).toMatch(/^\$\{aws_lambda_alias\.[^.]+\.name\}$/);
      expect(p.source_arn).toBe(`\${aws_cloudwatch_event_rule.eventbridge_rule-${i}_${p.source_arn.split("_").at(-1).split(".")[0]}.arn}`);
    }
  });

  it("lets only its rules dead-letter into the failure queue", () => {
    const doc = Object.values(s.data("aws_iam_policy_document")).find((d: any) => d.statement?.[0]?.sid === "EventBridgeRulesDeadLetter") as any;
    expect(doc.statement[0].principals).toEqual([{ type: "Service", identifiers: ["events.amazonaws.com"] }]);
    expect(doc.statement[0].condition[0].values).toHaveLength(2);
  });

  it("writes nothing to an existing bucket whose EventBridge delivery is on already", () => {
    const existing = synthStack({ delivery: "eventbridge", sourceBucket: undefined, existingSourceBucket: { name: "shared-uploads", versioned: false, eventBridge: "already-enabled" } });
    expect(existing.resources("aws_s3_bucket_notification")).toEqual({});
    expect(Object.keys(existing.resources("aws_cloudwatch_event_rule"))).toHaveLength(1);
    expect(existing.stack.pipeline.warnings).toEqual([]);
  });

  it("warns, for an existing bucket it enables, that the notification resource owns the bucket's whole configuration", () => {
    const existing = synthStack({ delivery: "eventbridge", existingSourceBucket: { name: "shared-uploads", versioned: false } });
    expect(existing.only("aws_s3_bucket_notification").eventbridge).toBe(true);
    expect(existing.stack.pipeline.warnings.join(" ")).toMatch(/already-enabled/);
  });

  it("terraform validates it", () => {
    assertMirrorHasAws();
    const dir = tempDir("cix-eb-");
    const app = new App({ outdir: dir });
    new ChecksumIndexStack(app, "eb", { ...TEST_PROPS, delivery: "eventbridge", batchOperations: {} });
    app.synth();
    const stackDir = path.join(dir, "stacks", "eb");
    const tf = terraformRunner(tempDir("cix-eb-tf-"));
    tf.ok(["init", "-input=false", "-no-color", "-backend=false"], stackDir);
    const result = JSON.parse(tf.ok(["validate", "-json", "-no-color"], stackDir));
    expect(result.diagnostics).toEqual([]);
  });
});

describe("the Batch Operations role", () => {
  const s = synthStack({ batchOperations: {}, accountId: "111122223333" });
  const role = (Object.values(s.resources("aws_iam_role")) as any[]).find((r) => r.name === "cix-test-batch");
  const policy = (Object.values(s.resources("aws_iam_role_policy")) as any[]).find((p) => p.name === "batch-backfill");

  it("is assumed only by S3 Batch Operations", () => {
    expect(role).toBeDefined();
    const trust = (Object.values(s.data("aws_iam_policy_document")) as any[]).find((d) => d.statement?.[0]?.sid === "BatchOperationsAssumesRole");
    expect(trust.statement[0].principals).toEqual([{ type: "Service", identifiers: ["batchoperations.s3.amazonaws.com"] }]);
  });

  it("may list the source, read and write only under the report prefix of the index bucket, and invoke only the alias", () => {
    // The policy is jsonencode() of its statements, so that a function update never makes it "known after apply".
    const encoded = /^\$\{jsonencode\((.*)\)\}$/s.exec(policy.policy)![1];
    // HCL object syntax ("key" = value, references bare): as JSON, with the alias reference as a string.
    const statements = JSON.parse(encoded.replace(/" = /g, '": ').replace(/\baws_lambda_alias\.([A-Za-z0-9_-]+)\.arn\b/g, '"ALIAS:$1"')).Statement;
    expect(statements).toEqual([
      { Sid: "ListSourceForManifest", Effect: "Allow", Action: ["s3:ListBucket"], Resource: ["arn:aws:s3:::cix-test-source"] },
      { Sid: "ReadManifests", Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion"], Resource: ["arn:aws:s3:::cix-test-index/batch-operations/*"] },
      { Sid: "WriteManifestsAndReports", Effect: "Allow", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::cix-test-index/batch-operations/*"] },
      { Sid: "InvokeIndexerAlias", Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [expect.stringMatching(/^ALIAS:/)] },
    ]);
  });

  it("may read S3 Inventory manifests only where batchOperations.inventoryLocation says", () => {
    const pipeline = resolvePipeline("t", { ...TEST_PROPS, batchOperations: { inventoryLocation: "s3://acme-inventory/cix-test-source/" } });
    expect(batchOperationsStatements(pipeline, "alias-arn").find((st) => st.sid === "ReadInventoryManifests")).toEqual({
      sid: "ReadInventoryManifests",
      effect: "Allow",
      actions: ["s3:GetObject", "s3:GetObjectVersion"],
      resources: ["arn:aws:s3:::acme-inventory/cix-test-source/*"],
    });
    expect(batchOperationsStatements(resolvePipeline("t", { ...TEST_PROPS, batchOperations: {} }), "alias-arn").map((st) => st.sid)).not.toContain("ReadInventoryManifests");
  });

  it("refuses a report prefix that a trigger watches when the index shares the source bucket", () => {
    expect(() =>
      resolvePipeline("x", { namePrefix: "cix-x", sourceBucket: { name: "cix-shared" }, index: { name: "cix-shared", prefix: "index/" }, triggers: [{ prefix: "", suffix: ".csv" }], batchOperations: {} }),
    ).toThrow(/batchOperations.reportPrefix "batch-operations\/" is in the source bucket .* where triggers\[0\]/);
  });

  it("refuses a report prefix inside the index", () => {
    expect(() => resolvePipeline("t", { ...TEST_PROPS, batchOperations: { reportPrefix: "index/reports/" } })).toThrow(/overlaps the index prefix "index\/"/);
  });
});
