/**
 * Changes an attacker's pull request could make, each as the plan JSON Terraform would show, and the
 * warning the summary must give for it. A change that only narrows access must not be called a widening.
 */
import { describe, expect, it } from "vitest";
import { renderMarkdown, summarizePlan, type AccessChange } from "../../tools/plan/plan-summary";
import type { PlanJson } from "../../tools/plan/plan-json";
import { ACCOUNT, OTHER_ACCOUNT, change, doc, planOf, update } from "../support/plan-fixtures";

const SRC = "arn:aws:s3:::acme-source";
const FN = `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:acme-indexer`;
const read = { Sid: "ReadSource", Effect: "Allow", Action: ["s3:GetObject"], Resource: [`${SRC}/incoming/*`] };
const tlsOnly = { Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [SRC, `${SRC}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } };
const permission = {
  action: "lambda:InvokeFunction",
  function_name: "acme-indexer",
  principal: "s3.amazonaws.com",
  qualifier: "live",
  source_arn: SRC,
  source_account: ACCOUNT,
  statement_id: "AllowS3Invoke",
};
const notification = (lambdaArn: string, extra: object = {}) => ({
  bucket: "acme-source",
  eventbridge: false,
  lambda_function: [{ events: ["s3:ObjectCreated:*"], filter_prefix: "incoming/", filter_suffix: null, id: "r0", lambda_function_arn: lambdaArn }],
  queue: [],
  topic: [],
  ...extra,
});
/** The home account is read from the plan's own ARNs: the function below. */
const functionInAccount = change("aws_lambda_function", ["no-op"], { arn: FN, function_name: "acme-indexer" }, { arn: FN, function_name: "acme-indexer" }, { name: "fn" });

interface HostileCase {
  readonly name: string;
  readonly plan: PlanJson;
  /** The warning or fact the summary must show (in the access change's warnings or facts). */
  readonly shows: RegExp;
  readonly direction?: AccessChange["direction"];
}

const policyUpdate = (type: string, before: object[], after: object[]) => update(type, { policy: doc(...before) }, { policy: doc(...after) });

const HOSTILE: HostileCase[] = [
  {
    name: "attaching AdministratorAccess to the role",
    plan: planOf([change("aws_iam_role_policy_attachment", ["create"], null, { role: "acme-indexer", policy_arn: "arn:aws:iam::aws:policy/AdministratorAccess" })]),
    shows: /AdministratorAccess is an AWS managed policy granting every action on every resource/,
  },
  {
    name: "a Deny statement turned into an Allow",
    plan: policyUpdate("aws_iam_role_policy", [read, { Sid: "NoDelete", Effect: "Deny", Action: "s3:DeleteObject", Resource: "*" }], [read, { Sid: "NoDelete", Effect: "Allow", Action: "s3:DeleteObject", Resource: "*" }]),
    shows: /Sid NoDelete: effect Deny → Allow/,
  },
  {
    name: "Action turned into NotAction",
    plan: policyUpdate("aws_iam_role_policy", [read], [{ ...read, Action: undefined, NotAction: ["s3:GetObject"] }]),
    shows: /allows every action except s3:GetObject \(NotAction\)/,
  },
  {
    name: "Resource turned into NotResource",
    plan: policyUpdate("aws_iam_role_policy", [read], [{ ...read, Resource: undefined, NotResource: [`${SRC}/incoming/*`] }]),
    shows: /applies to every resource except arn:aws:s3:::acme-source\/incoming\/\* \(NotResource\)/,
  },
  {
    name: "an action wildcard",
    plan: policyUpdate("aws_iam_role_policy", [read], [{ ...read, Action: ["s3:GetObject", "s3:*"] }]),
    shows: /allows every s3 action \("s3:\*"\)/,
  },
  {
    name: "the * action",
    plan: policyUpdate("aws_iam_role_policy", [read], [{ ...read, Action: "*" }]),
    shows: /allows every action \("\*"\)/,
  },
  {
    name: "the * resource",
    plan: policyUpdate("aws_iam_role_policy", [read], [{ ...read, Resource: [`${SRC}/incoming/*`, "*"] }]),
    shows: /applies to every resource \("\*"\)/,
  },
  {
    name: "a removed condition",
    plan: policyUpdate(
      "aws_iam_role_policy",
      [{ ...read, Condition: { StringEquals: { "s3:ExistingObjectTag/class": "public" } } }],
      [read],
    ),
    shows: /- condition StringEquals s3:ExistingObjectTag\/class=public/,
  },
  {
    name: "a Deny statement removed from a bucket policy",
    plan: policyUpdate("aws_s3_bucket_policy", [tlsOnly], []),
    shows: /Deny Sid DenyInsecureTransport no longer denies: s3:\* on arn:aws:s3:::acme-source/,
  },
  {
    name: "a condition added to a Deny (it then denies less)",
    plan: policyUpdate("aws_s3_bucket_policy", [tlsOnly], [{ ...tlsOnly, Condition: { ...tlsOnly.Condition, StringEquals: { "aws:PrincipalAccount": ACCOUNT } } }]),
    shows: /Deny Sid DenyInsecureTransport denies less than before/,
  },
  {
    name: "principal * in a queue policy",
    plan: policyUpdate(
      "aws_sqs_queue_policy",
      [{ Sid: "S3Sends", Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sqs:SendMessage", Resource: "arn:aws:sqs:eu-west-1:111122223333:q", Condition: { ArnEquals: { "aws:SourceArn": SRC } } }],
      [{ Sid: "S3Sends", Effect: "Allow", Principal: { AWS: "*" }, Action: "sqs:SendMessage", Resource: "arn:aws:sqs:eu-west-1:111122223333:q", Condition: { ArnEquals: { "aws:SourceArn": SRC } } }],
    ),
    shows: /Allow Sid S3Sends allows any principal \("\*"\)$/,
  },
  {
    name: "a public bucket policy",
    plan: policyUpdate("aws_s3_bucket_policy", [tlsOnly], [tlsOnly, { Sid: "Public", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `${SRC}/*` }]),
    shows: /Allow Sid Public allows any principal \("\*"\) with no condition: public, anyone on the internet/,
  },
  {
    name: "a KMS key policy opened to another account",
    plan: policyUpdate(
      "aws_kms_key_policy",
      [{ Sid: "Root", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: "kms:*", Resource: "*" }],
      [{ Sid: "Root", Effect: "Allow", Principal: { AWS: [`arn:aws:iam::${ACCOUNT}:root`, OTHER_ACCOUNT] }, Action: "kms:*", Resource: "*" }],
    ),
    shows: /\+ principal AWS:arn:aws:iam::444455556666:root/,
  },
  {
    name: "a trust policy that lets another account assume the role",
    plan: update(
      "aws_iam_role",
      { name: "acme-indexer", assume_role_policy: doc({ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }) },
      { name: "acme-indexer", assume_role_policy: doc({ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com", AWS: `arn:aws:iam::${OTHER_ACCOUNT}:root` }, Action: "sts:AssumeRole" }) },
    ),
    shows: /statement 1: \+ principal AWS:arn:aws:iam::444455556666:root/,
  },
  {
    name: "a managed policy ARN added to the role (managed_policy_arns)",
    plan: update("aws_iam_role", { name: "acme-indexer", managed_policy_arns: [] }, { name: "acme-indexer", managed_policy_arns: ["arn:aws:iam::aws:policy/AmazonS3FullAccess"] }),
    shows: /AmazonS3FullAccess is an AWS managed policy granting broad access/,
  },
  {
    name: "an inline_policy block added to the role",
    plan: update(
      "aws_iam_role",
      { name: "acme-indexer", inline_policy: [] },
      { name: "acme-indexer", inline_policy: [{ name: "extra", policy: doc({ Effect: "Allow", Action: "iam:PassRole", Resource: "*" }) }] },
    ),
    shows: /Allow statement 1 applies to every resource/,
  },
  {
    name: "a standalone managed policy widened (aws_iam_policy)",
    plan: policyUpdate("aws_iam_policy", [read], [{ ...read, Action: ["s3:GetObject", "s3:PutObject"] }]),
    shows: /Allow Sid ReadSource: \+ action s3:PutObject/,
  },
  {
    name: "the permission losing source_arn",
    plan: update("aws_lambda_permission", permission, { ...permission, source_arn: null }),
    shows: /may invoke the function on behalf of any resource: source_arn and source_account should both be set/,
  },
  {
    name: "the permission losing source_account",
    plan: update("aws_lambda_permission", permission, { ...permission, source_account: null }),
    shows: /may invoke the function on behalf of any account/,
  },
  {
    name: "the permission granted to the unqualified function",
    plan: update("aws_lambda_permission", permission, { ...permission, qualifier: null }),
    shows: /qualifier: "live" → null/,
  },
  {
    name: "BucketOwnerEnforced changed to ObjectWriter",
    plan: update("aws_s3_bucket_ownership_controls", { bucket: "acme-source", rule: [{ object_ownership: "BucketOwnerEnforced" }] }, { bucket: "acme-source", rule: [{ object_ownership: "ObjectWriter" }] }),
    shows: /ACLs are back on/,
  },
  {
    name: "a public-read ACL",
    plan: planOf([change("aws_s3_bucket_acl", ["create"], null, { bucket: "acme-source", acl: "public-read" })]),
    shows: /grants access to everyone/,
  },
  {
    name: "the public access block deleted",
    plan: planOf([change("aws_s3_bucket_public_access_block", ["delete"], { bucket: "acme-source", block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true }, null)]),
    shows: /public access is no longer blocked \(block_public_acls, block_public_policy, ignore_public_acls, restrict_public_buckets\)/,
  },
  {
    name: "encryption removed",
    plan: planOf([
      change("aws_s3_bucket_server_side_encryption_configuration", ["delete"], { bucket: "acme-source", rule: [{ apply_server_side_encryption_by_default: [{ sse_algorithm: "aws:kms", kms_master_key_id: "arn:aws:kms:eu-west-1:111122223333:key/k" }] }] }, null),
    ]),
    shows: /default encryption configuration removed: new objects are no longer encrypted with the KMS key/,
  },
  {
    name: "the notification moved from the alias to the unqualified function",
    plan: planOf([functionInAccount, change("aws_s3_bucket_notification", ["update"], notification(`${FN}:live`), notification(FN))]),
    shows: /S3 would invoke the unqualified function arn:aws:lambda:eu-west-1:111122223333:function:acme-indexer, i.e. its \$LATEST code/,
  },
  {
    name: "a queue in another account added to the notification",
    plan: planOf([
      functionInAccount,
      change("aws_s3_bucket_notification", ["update"], notification(`${FN}:live`), notification(`${FN}:live`, { queue: [{ events: ["s3:ObjectCreated:*"], queue_arn: `arn:aws:sqs:eu-west-1:${OTHER_ACCOUNT}:exfil`, filter_prefix: "", filter_suffix: null, id: "q" }] })),
    ]),
    shows: /queue arn:aws:sqs:eu-west-1:444455556666:exfil is in another account \(444455556666\)/,
  },
  {
    name: "a topic added to the notification",
    plan: planOf([change("aws_s3_bucket_notification", ["update"], notification(`${FN}:live`), notification(`${FN}:live`, { topic: [{ events: ["s3:ObjectRemoved:*"], topic_arn: `arn:aws:sns:eu-west-1:${ACCOUNT}:t`, id: "t" }] }))]),
    shows: /\+ topic arn:aws:sns:eu-west-1:111122223333:t: s3:ObjectRemoved:\*/,
  },
  {
    name: "a new notification to a function created in the same plan, unqualified (its ARN known only after apply)",
    plan: planOf([change("aws_s3_bucket_notification", ["create"], null, { ...notification("ignored"), lambda_function: [{ events: ["s3:ObjectCreated:*"], filter_prefix: "", id: "r0" }] }, { afterUnknown: { lambda_function: [{ lambda_function_arn: true }] } })], {
      configuration: { root_module: { resources: [{ address: "aws_s3_bucket_notification.x", expressions: { lambda_function: [{ lambda_function_arn: { references: ["aws_lambda_function.fn.arn", "aws_lambda_function.fn"] } }] } }] } },
    }),
    shows: /S3 would invoke the unqualified function ⟨known after apply: aws_lambda_function\.fn\.arn⟩/,
  },
  {
    name: "an action no longer excluded from a NotAction statement",
    plan: policyUpdate("aws_iam_role_policy", [{ Effect: "Allow", NotAction: ["iam:*", "sts:*"], Resource: "*" }], [{ Effect: "Allow", NotAction: ["iam:*"], Resource: "*" }]),
    shows: /- not-action sts:\*/,
  },
  {
    name: "a principal removed from a NotPrincipal Deny (the Deny now applies to fewer)",
    plan: policyUpdate(
      "aws_s3_bucket_policy",
      [{ Sid: "OnlyOwner", Effect: "Deny", NotPrincipal: { AWS: `arn:aws:iam::${ACCOUNT}:role/owner` }, Action: "s3:*", Resource: `${SRC}/*` }],
      [{ Sid: "OnlyOwner", Effect: "Deny", NotPrincipal: { AWS: [`arn:aws:iam::${ACCOUNT}:role/owner`, `arn:aws:iam::${OTHER_ACCOUNT}:root`] }, Action: "s3:*", Resource: `${SRC}/*` }],
    ),
    shows: /Deny Sid OnlyOwner denies less than before/,
  },
  {
    name: "EventBridge turned on for the bucket",
    plan: update("aws_s3_bucket_notification", notification(`${FN}:live`), notification(`${FN}:live`, { eventbridge: true })),
    shows: /every event of the bucket is sent to EventBridge/,
  },
];

const found = (summary: ReturnType<typeof summarizePlan>) => summary.access.filter((a) => a.direction === "widens");

describe("hostile changes, each with its warning", () => {
  it.each(HOSTILE.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const summary = summarizePlan(c.plan);
    const widening = found(summary);
    expect(widening.length, JSON.stringify(summary.access, null, 2)).toBeGreaterThan(0);
    expect(widening.flatMap((a) => [...a.warnings, ...a.facts]).join("\n")).toMatch(new RegExp(c.shows.source, "m"));
    const markdown = renderMarkdown("review", summary);
    expect(markdown).toContain("⚠️ **widens access**");
    expect(markdown).toMatch(/> \*\*\d+ changes? widens? access\*\*/);
  });
});

describe("changes that must not be called widening", () => {
  it("a statement that only loses an action and a resource narrows access", () => {
    const before = { ...read, Action: ["s3:GetObject", "s3:GetObjectVersion"], Resource: [`${SRC}/incoming/*`, `${SRC}/archive/*`] };
    const summary = summarizePlan(policyUpdate("aws_iam_role_policy", [before], [read]));
    expect(summary.access).toHaveLength(1);
    expect(summary.access[0]).toMatchObject({ direction: "narrows", warnings: [] });
    expect(summary.access[0].facts).toEqual(["Allow Sid ReadSource: - action s3:GetObjectVersion, - resource arn:aws:s3:::acme-source/archive/*"]);
    expect(renderMarkdown("review", summary)).not.toContain("widen");
  });

  it("a wildcard replaced by the one action it covered narrows access", () => {
    const summary = summarizePlan(policyUpdate("aws_iam_role_policy", [{ ...read, Action: "s3:Get*" }], [read]));
    expect(summary.access[0].direction).toBe("narrows");
  });

  it("a condition added to an Allow narrows access", () => {
    const summary = summarizePlan(policyUpdate("aws_iam_role_policy", [read], [{ ...read, Condition: { Bool: { "aws:SecureTransport": "true" } } }]));
    expect(summary.access[0].direction).toBe("narrows");
  });

  it("two statements merged into one that grants the same is not a widening", () => {
    const a = { Effect: "Allow", Action: "s3:GetObject", Resource: `${SRC}/a/*` };
    const b = { Effect: "Allow", Action: "s3:GetObject", Resource: `${SRC}/b/*` };
    const summary = summarizePlan(policyUpdate("aws_iam_role_policy", [a, b], [{ Effect: "Allow", Action: "s3:GetObject", Resource: [`${SRC}/a/*`, `${SRC}/b/*`] }]));
    expect(found(summary)).toEqual([]);
  });

  it("a Deny that now covers more narrows access", () => {
    const summary = summarizePlan(policyUpdate("aws_s3_bucket_policy", [{ ...tlsOnly, Action: "s3:PutObject" }], [tlsOnly]));
    expect(summary.access[0].direction).toBe("narrows");
  });

  it("the notification moved from the unqualified function to the alias is not flagged as unqualified", () => {
    const summary = summarizePlan(planOf([functionInAccount, change("aws_s3_bucket_notification", ["update"], notification(FN), notification(`${FN}:live`))]));
    expect(summary.access[0].warnings).toEqual([]);
  });

  it("the widening rule is the same whatever else narrows: one wider statement makes the change widen", () => {
    const summary = summarizePlan(
      policyUpdate("aws_iam_role_policy", [read, { Sid: "Logs", Effect: "Allow", Action: "logs:PutLogEvents", Resource: "arn:aws:logs:*" }], [{ ...read, Resource: `${SRC}/*` }]),
    );
    expect(summary.access[0].direction).toBe("widens");
  });
});
