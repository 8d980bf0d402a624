/** The resolved pipeline and the role's statements, as pure functions: no synth. */
import { describe, expect, it } from "vitest";
import { rolePolicyStatements } from "../../stacks/iam";
import { DEFAULTS, partitionOf, resolvePipeline, ruleMatches } from "../../stacks/pipeline";
import { stackPropsMarkdown } from "../support/generated-docs";
import { synthStack, TEST_PROPS } from "../support/synth";

const refs = {
  logGroupArn: "${aws_cloudwatch_log_group.logs.arn}",
  queueArn: "${aws_sqs_queue.failures.arn}",
  accountId: '${element(split(":", aws_iam_role.role.arn), 4)}',
};

describe("the partition of every ARN follows the region", () => {
  it.each([
    ["us-east-1", "aws"],
    ["eu-west-1", "aws"],
    ["cn-north-1", "aws-cn"],
    ["cn-northwest-1", "aws-cn"],
    ["us-gov-west-1", "aws-us-gov"],
    ["us-iso-east-1", "aws-iso"],
    ["us-isob-east-1", "aws-iso-b"],
  ])("%s is in %s", (region, partition) => {
    expect(partitionOf(region)).toBe(partition);
  });

  it("a China stack writes arn:aws-cn: in the role's policy, the bucket policies and the permission's source_arn", () => {
    const s = synthStack({ region: "cn-north-1", accountId: "111122223333" });
    const arns = s.json.match(/arn:[a-z-]+:/g) ?? [];
    expect(arns.length).toBeGreaterThan(5);
    expect(new Set(arns)).toEqual(new Set(["arn:aws-cn:"]));
    expect(s.only("aws_lambda_permission").source_arn).toBe("arn:aws-cn:s3:::cix-test-source");
  });

  it("a GovCloud pipeline's literal ARNs are arn:aws-us-gov:", () => {
    const pipeline = resolvePipeline("gov", { ...TEST_PROPS, region: "us-gov-west-1", accountId: "111122223333" });
    const statements = rolePolicyStatements(pipeline, refs);
    for (const resource of statements.flatMap((s) => s.resources)) expect(resource).toMatch(/^arn:aws-us-gov:/);
  });
});

describe("the role's statements, one per concern", () => {
  it("read only the watched objects, write only the index prefix, log and fail only to their own", () => {
    const pipeline = resolvePipeline("test", { ...TEST_PROPS, accountId: "111122223333", triggers: [{ prefix: "a/" }, { prefix: "b/", suffix: ".csv" }] });
    expect(rolePolicyStatements(pipeline, refs)).toEqual([
      { sid: "ReadSourceObjects0", effect: "Allow", actions: ["s3:GetObject", "s3:GetObjectAttributes"], resources: ["arn:aws:s3:::cix-test-source/a/*"] },
      { sid: "ReadSourceObjects1", effect: "Allow", actions: ["s3:GetObject", "s3:GetObjectAttributes"], resources: ["arn:aws:s3:::cix-test-source/b/*.csv"] },
      { sid: "ReadWriteIndexRecords", effect: "Allow", actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources: ["arn:aws:s3:::cix-test-index/index/*"] },
      { sid: "FindIndexRecords", effect: "Allow", actions: ["s3:ListBucket"], resources: ["arn:aws:s3:::cix-test-index"] },
      { sid: "WriteOwnLogs", effect: "Allow", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: ["arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/cix-test-indexer:log-stream:*"] },
      { sid: "SendFailedEvents", effect: "Allow", actions: ["sqs:SendMessage"], resources: ["arn:aws:sqs:eu-west-1:111122223333:cix-test-indexer-failures"] },
      { sid: "ContinueOwnReads", effect: "Allow", actions: ["lambda:InvokeFunction"], resources: ["arn:aws:lambda:eu-west-1:111122223333:function:cix-test-indexer:live"] },
    ]);
  });

  it("uses the log group and queue references when the account is not known", () => {
    const statements = rolePolicyStatements(resolvePipeline("test", TEST_PROPS), refs);
    expect(statements.find((s) => s.sid === "WriteOwnLogs")!.resources).toEqual([`${refs.logGroupArn}:log-stream:*`]);
    expect(statements.find((s) => s.sid === "SendFailedEvents")!.resources).toEqual([refs.queueArn]);
    expect(statements.find((s) => s.sid === "ContinueOwnReads")!.resources).toEqual([`arn:aws:lambda:eu-west-1:${refs.accountId}:function:cix-test-indexer:live`]);
  });

  it("adds version reads, X-Ray and KMS only when the pipeline asks for them", () => {
    const kms = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const pipeline = resolvePipeline("test", { ...TEST_PROPS, sourceBucket: { versioned: true, kmsKeyArn: kms }, index: { kmsKeyArn: kms }, function: { tracing: "Active" } });
    const statements = rolePolicyStatements(pipeline, refs);
    expect(statements.find((s) => s.sid === "ReadSourceObjects0")!.actions).toEqual(["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"]);
    expect(statements.find((s) => s.sid === "WriteTraces")!.resources).toEqual(["*"]);
    expect(statements.find((s) => s.sid === "UseBucketKeys")!.resources).toEqual([kms]);
  });

  it("are exactly the statements of the synthesized role policy", () => {
    const props = { ...TEST_PROPS, accountId: "111122223333" };
    const s = synthStack(props);
    const document = Object.values(s.data("aws_iam_policy_document")).find((d: any) => d.statement?.some((st: any) => st.sid === "ReadWriteIndexRecords")) as any;
    expect(document.statement).toEqual(rolePolicyStatements(resolvePipeline("test", props), refs));
  });
});

describe("rules route as S3 matches them", () => {
  const rule = { prefix: "csv/", suffix: ".csv", events: ["s3:ObjectCreated:*"] };
  it("matches on event family, prefix and suffix", () => {
    expect(ruleMatches(rule, "ObjectCreated:Put", "csv/a.csv")).toBe(true);
    expect(ruleMatches(rule, "s3:ObjectCreated:CompleteMultipartUpload", "csv/a.csv")).toBe(true);
    expect(ruleMatches(rule, "ObjectRemoved:Delete", "csv/a.csv")).toBe(false);
    expect(ruleMatches(rule, "ObjectCreated:Put", "csvX/a.csv")).toBe(false);
    expect(ruleMatches(rule, "ObjectCreated:Put", "csv/a.txt")).toBe(false);
  });
});

describe("defaults are written once", () => {
  it("each function default in DEFAULTS is the one its prop documents (and docs/configuration.md shows)", () => {
    const table = stackPropsMarkdown();
    for (const [name, value] of Object.entries(DEFAULTS.function)) {
      const row = table.split("\n").find((line) => line.startsWith(`| \`function.${name}\` |`));
      expect(row, `function.${name} is documented`).toBeDefined();
      expect(row!.split(" | ")[1].split(" ")[0], `function.${name}`).toBe(JSON.stringify(value));
    }
    expect(resolvePipeline("test", { namePrefix: "x" }).region).toBe(DEFAULTS.region);
    expect(table).toContain(`| \`region\` | "${DEFAULTS.region}" |`);
  });
});
