/** What a platform team runs the pipeline with: alarms, lifecycle rules, and the order of the notification. */
import { describe, expect, it } from "vitest";
import { ConfigurationError } from "../../stacks/validation";
import { synthAppStacks, synthStack } from "../support/synth";

const ref = (type: string, id: string) => `${type}.${id}`;
const idOf = (s: ReturnType<typeof synthStack>, type: string, pick: (block: any) => boolean) =>
  Object.entries(s.resources(type)).find(([, b]) => pick(b))![0];

describe("alarms", () => {
  const metrics = (s: ReturnType<typeof synthStack>) =>
    Object.values(s.resources("aws_cloudwatch_metric_alarm")).map((a: any) => `${a.namespace} ${a.metric_name} ${a.statistic} >= ${a.threshold}`).sort();

  it("watch the failure queue's depth, and the function's errors, throttles and dropped events", () => {
    expect(metrics(synthStack())).toEqual([
      "AWS/Lambda AsyncEventsDropped Sum >= 1",
      "AWS/Lambda Errors Sum >= 1",
      "AWS/Lambda Throttles Sum >= 1",
      "AWS/SQS ApproximateNumberOfMessagesVisible Maximum >= 1",
    ]);
    const s = synthStack();
    const queue = idOf(s, "aws_sqs_queue", () => true);
    const fn = idOf(s, "aws_lambda_function", () => true);
    for (const alarm of Object.values(s.resources("aws_cloudwatch_metric_alarm")) as any[]) {
      expect(alarm).toMatchObject({ period: 300, evaluation_periods: 1, comparison_operator: "GreaterThanOrEqualToThreshold", treat_missing_data: "notBreaching" });
      expect(alarm.dimensions).toEqual(
        alarm.namespace === "AWS/SQS" ? { QueueName: `\${${ref("aws_sqs_queue", queue)}.name}` } : { FunctionName: `\${${ref("aws_lambda_function", fn)}.function_name}` },
      );
    }
  });

  it("notify nobody by default, and no topic is created", () => {
    const s = synthStack();
    expect(s.resources("aws_sns_topic")).toEqual({});
    for (const alarm of Object.values(s.resources("aws_cloudwatch_metric_alarm")) as any[]) {
      expect(alarm.alarm_actions).toEqual([]);
      expect(alarm.ok_actions).toEqual([]);
    }
  });

  it("notify a topic the stack creates", () => {
    const s = synthStack({ alarms: { topic: { create: true } } });
    expect(s.only("aws_sns_topic").name).toBe("cix-test-alarms");
    const topic = idOf(s, "aws_sns_topic", () => true);
    for (const alarm of Object.values(s.resources("aws_cloudwatch_metric_alarm")) as any[]) {
      expect(alarm.alarm_actions).toEqual([`\${aws_sns_topic.${topic}.arn}`]);
      expect(alarm.ok_actions).toEqual([`\${aws_sns_topic.${topic}.arn}`]);
    }
  });

  it("notify an existing topic, and refuse something that is not a topic ARN", () => {
    const arn = "arn:aws:sns:eu-west-1:111122223333:oncall";
    const s = synthStack({ alarms: { topic: { existingTopicArn: arn } } });
    expect(s.resources("aws_sns_topic")).toEqual({});
    for (const alarm of Object.values(s.resources("aws_cloudwatch_metric_alarm")) as any[]) expect(alarm.alarm_actions).toEqual([arn]);
    expect(() => synthStack({ alarms: { topic: { existingTopicArn: "oncall" } } })).toThrow(ConfigurationError);
    expect(() => synthStack({ alarms: { topic: { existingTopicArn: "oncall" } } })).toThrow(/not an SNS topic ARN/);
  });

  it("take thresholds and a period, checked, and can be turned off", () => {
    expect(metrics(synthStack({ alarms: { errorsThreshold: 5, periodSeconds: 60 } }))).toContain("AWS/Lambda Errors Sum >= 5");
    expect(() => synthStack({ alarms: { periodSeconds: 90 } })).toThrow(/multiple of 60/);
    expect(() => synthStack({ alarms: { throttlesThreshold: 0 } })).toThrow(/throttlesThreshold/);
    expect(synthStack({ alarms: { enabled: false } }).resources("aws_cloudwatch_metric_alarm")).toEqual({});
  });
});

describe("lifecycle rules", () => {
  const rules = (s: ReturnType<typeof synthStack>) =>
    Object.values(s.resources("aws_s3_bucket_lifecycle_configuration")).map((l: any) => ({ bucket: l.bucket, rules: l.rule }));

  it("abort incomplete multipart uploads after 7 days on both buckets, expire replaced index versions after 30 and continuation state after 15", () => {
    const s = synthStack();
    const [source, index] = ["cix-test-source", "cix-test-index"].map((name) => `\${aws_s3_bucket.${idOf(s, "aws_s3_bucket", (b) => b.bucket === name)}.id}`);
    const found = rules(s);
    expect(found).toHaveLength(2);
    expect(found.find((l) => l.bucket === source)!.rules).toEqual([
      { id: "abort-incomplete-multipart-uploads", status: "Enabled", filter: [{}], abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }] },
    ]);
    expect(found.find((l) => l.bucket === index)!.rules).toEqual([
      { id: "abort-incomplete-multipart-uploads", status: "Enabled", filter: [{}], abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }] },
      { id: "expire-noncurrent-versions", status: "Enabled", filter: [{}], noncurrent_version_expiration: [{ noncurrent_days: 30 }] },
      { id: "expire-continuation-state", status: "Enabled", filter: [{ prefix: "index/continuations/" }], expiration: [{ days: 15 }] },
    ]);
  });

  it("take other periods, checked", () => {
    const found = rules(synthStack({ lifecycle: { abortIncompleteMultipartUploadDays: 2, noncurrentIndexVersionDays: 365, continuationStateDays: 40 } })).flatMap((l) => l.rules);
    const days = (r: any) => r.abort_incomplete_multipart_upload?.[0].days_after_initiation ?? r.noncurrent_version_expiration?.[0].noncurrent_days ?? r.expiration[0].days;
    expect(found.map(days).sort((a: number, b: number) => a - b)).toEqual([2, 2, 40, 365]);
    expect(() => synthStack({ lifecycle: { abortIncompleteMultipartUploadDays: 0 } })).toThrow(/abortIncompleteMultipartUploadDays/);
    expect(() => synthStack({ lifecycle: { continuationStateDays: 0 } })).toThrow(/expirePrefix\.days/);
  });

  it("are written after versioning is on, and never on an existing source bucket", () => {
    const s = synthStack({ index: { versioned: true } });
    const versioning = idOf(s, "aws_s3_bucket_versioning", () => true);
    const indexRules = Object.values(s.resources("aws_s3_bucket_lifecycle_configuration")).find((l: any) => l.rule.length === 3) as any;
    expect(indexRules.depends_on).toEqual([`aws_s3_bucket_versioning.${versioning}`]);
    const attached = synthStack({ existingSourceBucket: { name: "acme-uploads", versioned: false } });
    expect(rules(attached)).toHaveLength(1);
  });
});

describe("the notification", () => {
  it("is written after the permission and after the bucket policy", () => {
    for (const s of synthAppStacks()) {
      const permission = idOf(s, "aws_lambda_permission", () => true);
      const sourcePolicy = Object.entries(s.resources("aws_s3_bucket_policy")).find(([id]) => id.startsWith("source_"))![0];
      expect(s.only("aws_s3_bucket_notification").depends_on).toEqual([
        `aws_lambda_permission.${permission}`,
        `aws_s3_bucket_policy.${sourcePolicy}`,
      ]);
    }
  });
});
