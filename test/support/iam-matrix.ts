/**
 * The requests the IAM simulation evaluates, one line each: [who, action, resource, expected, context, only].
 * Placeholders: SRC and IDX (bucket names), ACCOUNT, REGION, FN (function name); `only` limits a line to one
 * stack variant ("plain", or "kms": versioned source with SSE-KMS). The README shows this table.
 */
export const ACCOUNT = "111122223333";
export const REGION = "eu-west-1";
export const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab`;

export type Expect = "Allowed" | "Denied";
export type Who = "function" | "s3" | "events";
/** [who, action, resource, expected, context, only] */
export type Variant = "plain" | "kms" | "eventbridge";
/** A line for one variant, or for the variants delivering through the bucket's notification. */
export type Only = Variant | "notification";
export type Case = [Who, string, string, Expect, Record<string, string>?, Only?];

/** The stack variants the simulation runs, and which deliver through the bucket's notification. */
const NOTIFICATION_VARIANTS: readonly Variant[] = ["plain", "kms"];

/** Whether a line of the matrix applies to a variant. */
export function appliesTo(c: Case, variant: Variant): boolean {
  const only = c[5];
  return only === undefined || only === variant || (only === "notification" && NOTIFICATION_VARIANTS.includes(variant));
}

const ONLY_LABEL: Record<Only, string> = {
  plain: "plain stack",
  kms: "versioned + KMS stack",
  eventbridge: "EventBridge + Batch Operations stack",
  notification: "notification delivery",
};

const FROM_SOURCE = { "aws:SourceArn": "arn:aws:s3:::SRC", "aws:SourceAccount": "ACCOUNT" };
const FROM_RULE = { "aws:SourceArn": "arn:aws:events:REGION:ACCOUNT:rule/FN-0", "aws:SourceAccount": "ACCOUNT" };
const LOGS = "arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/FN";

export const MATRIX: Case[] = [
  // What the handler does: allowed.
  ["function", "s3:GetObject", "arn:aws:s3:::SRC/incoming/report.pdf", "Allowed"],
  ["function", "s3:GetObject", "arn:aws:s3:::SRC/incoming/deep/path/ü b+c.bin", "Allowed"],
  ["function", "s3:GetObjectVersion", "arn:aws:s3:::SRC/incoming/report.pdf", "Allowed", {}, "kms"],
  ["function", "s3:GetObjectAttributes", "arn:aws:s3:::SRC/incoming/report.pdf", "Allowed"],
  ["function", "s3:GetObjectVersionAttributes", "arn:aws:s3:::SRC/incoming/report.pdf", "Allowed", {}, "kms"],
  ["function", "s3:GetObject", "arn:aws:s3:::IDX/index/objects/SRC/abc.json", "Allowed"],
  ["function", "s3:PutObject", "arn:aws:s3:::IDX/index/objects/SRC/abc.json", "Allowed"],
  ["function", "s3:DeleteObject", "arn:aws:s3:::IDX/index/by-sha256/00/SRC/abc.json", "Allowed"],
  ["function", "s3:ListBucket", "arn:aws:s3:::IDX", "Allowed"],
  ["function", "logs:CreateLogStream", `${LOGS}:log-stream:2026/11/25/[$LATEST]abc`, "Allowed"],
  ["function", "logs:PutLogEvents", `${LOGS}:log-stream:2026/11/25/[$LATEST]abc`, "Allowed"],
  ["function", "sqs:SendMessage", "arn:aws:sqs:REGION:ACCOUNT:FN-failures", "Allowed"],
  ["function", "kms:Decrypt", KEY, "Allowed", {}, "kms"],
  ["function", "kms:GenerateDataKey", KEY, "Allowed", {}, "kms"],
  ["s3", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Allowed", FROM_SOURCE, "notification"],
  // A read that outlasts one invocation continues in the next: the function invokes its own alias.
  ["function", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Allowed"],

  // Everything else: denied.
  ["function", "s3:GetObjectVersion", "arn:aws:s3:::SRC/incoming/report.pdf", "Denied", {}, "plain"],
  ["function", "s3:GetObjectVersionAttributes", "arn:aws:s3:::SRC/incoming/report.pdf", "Denied", {}, "plain"],
  ["function", "s3:GetObject", "arn:aws:s3:::SRC/outgoing/report.pdf", "Denied"],
  ["function", "s3:GetObjectAttributes", "arn:aws:s3:::SRC/outgoing/report.pdf", "Denied"],
  ["function", "s3:GetObject", "arn:aws:s3:::SRC/incomingX/report.pdf", "Denied"],
  ["function", "s3:GetObject", "arn:aws:s3:::another-bucket/incoming/report.pdf", "Denied"],
  ["function", "s3:PutObject", "arn:aws:s3:::SRC/incoming/report.pdf", "Denied"],
  ["function", "s3:DeleteObject", "arn:aws:s3:::SRC/incoming/report.pdf", "Denied"],
  ["function", "s3:ListBucket", "arn:aws:s3:::SRC", "Denied"],
  ["function", "s3:PutBucketPolicy", "arn:aws:s3:::SRC", "Denied"],
  ["function", "s3:PutBucketNotification", "arn:aws:s3:::SRC", "Denied"],
  ["function", "s3:PutObject", "arn:aws:s3:::IDX/elsewhere/x.json", "Denied"],
  ["function", "s3:DeleteObject", "arn:aws:s3:::IDX/elsewhere/x.json", "Denied"],
  ["function", "s3:DeleteBucket", "arn:aws:s3:::IDX", "Denied"],
  ["function", "s3:GetObject", "arn:aws:s3:::SRC/incoming/report.pdf", "Denied", { "aws:SecureTransport": "false" }],
  ["function", "s3:PutObject", "arn:aws:s3:::IDX/index/objects/SRC/abc.json", "Denied", { "aws:SecureTransport": "false" }],
  ["function", "iam:CreateRole", "arn:aws:iam::ACCOUNT:role/escalate", "Denied"],
  ["function", "iam:PassRole", "arn:aws:iam::ACCOUNT:role/FN", "Denied"],
  ["function", "iam:PutRolePolicy", "arn:aws:iam::ACCOUNT:role/FN", "Denied"],
  ["function", "logs:PutLogEvents", "arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/other:log-stream:x", "Denied"],
  ["function", "logs:CreateLogGroup", "arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/FN", "Denied"],
  ["function", "sqs:SendMessage", "arn:aws:sqs:REGION:ACCOUNT:other-queue", "Denied"],
  ["function", "sqs:ReceiveMessage", "arn:aws:sqs:REGION:ACCOUNT:FN-failures", "Denied"],
  ["function", "kms:Decrypt", KEY, "Denied", {}, "plain"],
  ["function", "kms:Decrypt", OTHER_KEY, "Denied"],
  ["function", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN", "Denied"],
  ["function", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:$LATEST", "Denied"],
  ["function", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:other-function:live", "Denied"],
  ["s3", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Denied", { "aws:SourceArn": "arn:aws:s3:::another-bucket", "aws:SourceAccount": "ACCOUNT" }],
  ["s3", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Denied", { "aws:SourceArn": "arn:aws:s3:::SRC", "aws:SourceAccount": "444455556666" }],
  ["s3", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN", "Denied", FROM_SOURCE],
  ["s3", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:$LATEST", "Denied", FROM_SOURCE],
  ["s3", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:staging", "Denied", FROM_SOURCE],
  // EventBridge delivery: only the stack's rules may invoke, only the alias; S3 may not invoke at all.
  ["events", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Allowed", FROM_RULE, "eventbridge"],
  ["events", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Denied", { "aws:SourceArn": "arn:aws:events:REGION:ACCOUNT:rule/someone-elses-rule", "aws:SourceAccount": "ACCOUNT" }, "eventbridge"],
  ["events", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN", "Denied", FROM_RULE, "eventbridge"],
  ["events", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Denied", { "aws:SourceArn": "arn:aws:events:REGION:444455556666:rule/FN-0", "aws:SourceAccount": "444455556666" }, "eventbridge"],
  ["s3", "lambda:InvokeFunction", "arn:aws:lambda:REGION:ACCOUNT:function:FN:live", "Denied", FROM_SOURCE, "eventbridge"],
];

/** The matrix as the README shows it. */
export function matrixMarkdown(): string {
  const rows = MATRIX.map(([who, action, resource, expected, context, only]) => {
    const ctx = context && Object.keys(context).length > 0 ? Object.entries(context).map(([k, v]) => `${k}=${v}`).join(", ") : "";
    const principal = who === "s3" ? "s3.amazonaws.com" : who === "events" ? "events.amazonaws.com" : "execution role";
    return `| ${expected === "Allowed" ? "allowed" : "**denied**"} | ${principal} | \`${action}\` | \`${resource}\` | ${ctx}${only ? `${ctx ? "; " : ""}${ONLY_LABEL[only]}` : ""} |`;
  });
  return ["| outcome | principal | action | resource | context / stack |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
}

