/**
 * The rules the usual scanners (Checkov, tfsec, KICS) apply to these resources, as checks of a synthesized
 * cdk.tf.json. Each returns what violates it (empty when met). The README lists the rules this project
 * does not meet on purpose, and why.
 */
import { bucketPolicies, executionRole, resolve } from "./policies";

type Json = any;

export interface Rule {
  /** The scanners' ids. */
  readonly id: string;
  readonly title: string;
  check(config: Json): string[];
}

const blocks = (config: Json, type: string): Array<[string, Json]> => Object.entries(config.resource?.[type] ?? {});
const bucketNames = (config: Json): string[] => blocks(config, "aws_s3_bucket").map(([, b]) => b.bucket);
/** The bucket name a sub-resource (`bucket = aws_s3_bucket.x.id`) belongs to. */
const bucketOf = (config: Json, ref: string) => resolve(config, String(ref).replace(/\.id\}$/, ".bucket}"));
const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Actions that have no resource-level permissions: "*" is the only resource they accept. */
export const ACTIONS_WITHOUT_RESOURCES = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

function perBucket(config: Json, type: string, ok: (block: Json) => boolean, what: string): string[] {
  const good = new Set(blocks(config, type).filter(([, b]) => ok(b)).map(([, b]) => bucketOf(config, b.bucket)));
  return bucketNames(config).filter((name) => !good.has(name)).map((name) => `${name}: ${what}`);
}

export const RULES: Rule[] = [
  {
    id: "CKV2_AWS_6, CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56 (tfsec aws-s3-block-public-*)",
    title: "S3 buckets block all public access",
    check: (c) =>
      perBucket(
        c,
        "aws_s3_bucket_public_access_block",
        (b) => b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets,
        "public access not fully blocked",
      ),
  },
  {
    id: "CKV_AWS_19 (tfsec aws-s3-enable-bucket-encryption)",
    title: "S3 buckets are encrypted at rest by default",
    check: (c) =>
      perBucket(
        c,
        "aws_s3_bucket_server_side_encryption_configuration",
        (b) => ["AES256", "aws:kms", "aws:kms:dsse"].includes(b.rule?.[0]?.apply_server_side_encryption_by_default?.sse_algorithm),
        "no default encryption",
      ),
  },
  {
    id: "CKV_AWS_145 (tfsec aws-s3-encryption-customer-key)",
    title: "S3 buckets are encrypted with a KMS key",
    check: (c) =>
      perBucket(
        c,
        "aws_s3_bucket_server_side_encryption_configuration",
        (b) => String(b.rule?.[0]?.apply_server_side_encryption_by_default?.sse_algorithm).startsWith("aws:kms"),
        "SSE-S3, not SSE-KMS",
      ),
  },
  {
    id: "KICS S3 Bucket Without SSL In Write Actions (AWS Foundational Security S3.5)",
    title: "S3 buckets deny requests not made over TLS",
    check: (c) => {
      const policies = bucketPolicies(c);
      return bucketNames(c).filter((name) => {
        const statements = asList(policies[name]?.Statement);
        return !statements.some(
          (s: Json) =>
            s.Effect === "Deny" &&
            (s.Principal === "*" || s.Principal?.AWS === "*") &&
            asList(s.Action).includes("s3:*") &&
            asList(s.Resource).includes(`arn:aws:s3:::${name}`) &&
            asList(s.Resource).includes(`arn:aws:s3:::${name}/*`) &&
            asList(s.Condition?.Bool?.["aws:SecureTransport"]).includes("false"),
        );
      }).map((name) => `${name}: no TLS-only policy`);
    },
  },
  {
    id: "CKV2_AWS_65",
    title: "S3 buckets have ACLs disabled (bucket owner enforced)",
    check: (c) => perBucket(c, "aws_s3_bucket_ownership_controls", (b) => b.rule?.object_ownership === "BucketOwnerEnforced", "ACLs not disabled"),
  },
  {
    id: "CKV_AWS_21 (tfsec aws-s3-enable-versioning)",
    title: "S3 buckets keep versions",
    check: (c) => perBucket(c, "aws_s3_bucket_versioning", (b) => b.versioning_configuration?.status === "Enabled", "versioning off"),
  },
  {
    id: "CKV_AWS_18 (tfsec aws-s3-enable-bucket-logging)",
    title: "S3 buckets log access",
    check: (c) => perBucket(c, "aws_s3_bucket_logging", () => true, "no access logging"),
  },
  {
    id: "CKV_AWS_116",
    title: "Lambda failures are kept (dead-letter queue or on-failure destination)",
    check: (c) =>
      blocks(c, "aws_lambda_function")
        .filter(([, fn]) => {
          const destination = blocks(c, "aws_lambda_function_event_invoke_config").some(
            ([, cfg]) => resolve(c, cfg.function_name) === fn.function_name && cfg.destination_config?.on_failure?.destination,
          );
          return !fn.dead_letter_config && !destination;
        })
        .map(([, fn]) => `${fn.function_name}: failed events are dropped`),
  },
  {
    id: "CKV_AWS_50 (tfsec aws-lambda-enable-tracing)",
    title: "Lambda X-Ray tracing is active",
    check: (c) => blocks(c, "aws_lambda_function").filter(([, f]) => f.tracing_config?.mode !== "Active").map(([, f]) => `${f.function_name}: tracing ${f.tracing_config?.mode ?? "off"}`),
  },
  {
    id: "CKV_AWS_115",
    title: "Lambda has reserved concurrency",
    check: (c) => blocks(c, "aws_lambda_function").filter(([, f]) => f.reserved_concurrent_executions === undefined).map(([, f]) => `${f.function_name}: unreserved`),
  },
  {
    id: "CKV_AWS_45",
    title: "Lambda environment variables hold no secrets",
    check: (c) =>
      blocks(c, "aws_lambda_function").flatMap(([, f]) =>
        Object.entries(f.environment?.variables ?? {})
          .filter(([name, value]) => /secret|password|passwd|token|private_?key|api_?key/i.test(name) || /AKIA[0-9A-Z]{16}|-----BEGIN/.test(String(value)))
          .map(([name]) => `${f.function_name}: ${name} looks like a secret`),
      ),
  },
  {
    id: "CKV_AWS_117",
    title: "Lambda runs inside a VPC",
    check: (c) => blocks(c, "aws_lambda_function").filter(([, f]) => !f.vpc_config).map(([, f]) => `${f.function_name}: not in a VPC`),
  },
  {
    id: "CKV_AWS_272",
    title: "Lambda code is signed",
    check: (c) => blocks(c, "aws_lambda_function").filter(([, f]) => !f.code_signing_config_arn).map(([, f]) => `${f.function_name}: unsigned`),
  },
  {
    id: "CKV_AWS_173",
    title: "Lambda environment variables are encrypted with a customer managed key",
    check: (c) => blocks(c, "aws_lambda_function").filter(([, f]) => !f.kms_key_arn).map(([, f]) => `${f.function_name}: AWS managed key`),
  },
  {
    id: "tfsec aws-lambda-restrict-source-arn",
    title: "Lambda permissions for AWS services are scoped by source ARN and source account",
    check: (c) =>
      blocks(c, "aws_lambda_permission")
        .filter(([, p]) => p.principal.endsWith(".amazonaws.com") && (!p.source_arn || !p.source_account))
        .map(([id]) => `${id}: not scoped`),
  },
  {
    id: "CKV_AWS_62, CKV_AWS_63, CKV_AWS_290 (tfsec aws-iam-no-policy-wildcards)",
    title: "IAM policies allow no wildcard action",
    check: (c) =>
      asList(executionRole(c).identity.Statement)
        .filter((s: Json) => s.Effect === "Allow")
        .flatMap((s: Json) => asList<string>(s.Action).filter((a) => a.includes("*")).map((a) => `${s.Sid}: action ${a}`)),
  },
  {
    id: "CKV_AWS_355, CKV_AWS_288 (tfsec aws-iam-no-policy-wildcards)",
    title: "IAM policies allow no wildcard resource (except for actions that have no resource-level permissions)",
    check: (c) =>
      asList(executionRole(c).identity.Statement)
        .filter((s: Json) => s.Effect === "Allow" && asList(s.Resource).includes("*"))
        .filter((s: Json) => asList<string>(s.Action).some((a) => !ACTIONS_WITHOUT_RESOURCES.includes(a)))
        .map((s: Json) => `${s.Sid}: resource *`),
  },
  {
    id: "CKV_AWS_60",
    title: "IAM roles can be assumed only by the service that needs them",
    check: (c) =>
      asList(executionRole(c).trust.Statement)
        .filter((s: Json) => s.Effect === "Allow")
        .filter((s: Json) => JSON.stringify(s.Principal) !== JSON.stringify({ Service: "lambda.amazonaws.com" }))
        .map((s: Json) => `${s.Sid}: principal ${JSON.stringify(s.Principal)}`),
  },
  {
    id: "CKV_AWS_66",
    title: "CloudWatch log groups have a retention period",
    check: (c) => blocks(c, "aws_cloudwatch_log_group").filter(([, g]) => !(g.retention_in_days > 0)).map(([, g]) => `${g.name}: kept forever`),
  },
  {
    id: "CKV_AWS_338",
    title: "CloudWatch log groups keep logs at least a year",
    check: (c) => blocks(c, "aws_cloudwatch_log_group").filter(([, g]) => !(g.retention_in_days >= 365)).map(([, g]) => `${g.name}: ${g.retention_in_days} days`),
  },
  {
    id: "CKV_AWS_158 (tfsec aws-cloudwatch-log-group-customer-key)",
    title: "CloudWatch log groups are encrypted with a KMS key",
    check: (c) => blocks(c, "aws_cloudwatch_log_group").filter(([, g]) => !g.kms_key_id).map(([, g]) => `${g.name}: default encryption`),
  },
  {
    id: "CKV_AWS_27 (tfsec aws-sqs-enable-queue-encryption)",
    title: "SQS queues are encrypted",
    check: (c) => blocks(c, "aws_sqs_queue").filter(([, q]) => q.sqs_managed_sse_enabled !== true && !q.kms_master_key_id).map(([, q]) => `${q.name}: unencrypted`),
  },
];

/**
 * Rules not met on purpose, by stack, with the reason (the README shows the same list). The test checks
 * both directions: every other rule is met, and each of these is really unmet (so the list stays true).
 */
export const INTENTIONALLY_UNMET: Record<string, { stacks: string[]; reason: string }> = {
  "CKV_AWS_145 (tfsec aws-s3-encryption-customer-key)": {
    stacks: ["dev", "prod"],
    reason: "SSE-S3 by default: no key policy to manage, no KMS cost. Set sourceBucket.kmsKeyArn / index.kmsKeyArn for SSE-KMS.",
  },
  "CKV_AWS_21 (tfsec aws-s3-enable-versioning)": {
    stacks: ["dev"],
    reason: "dev holds test data; prod keeps versions (sourceBucket.versioned, index.versioned).",
  },
  "CKV_AWS_18 (tfsec aws-s3-enable-bucket-logging)": {
    stacks: ["dev", "prod"],
    reason: "Access logs need a separate log bucket, usually an organization-wide one; CloudTrail data events are the alternative. Not part of this stack.",
  },
  "CKV_AWS_50 (tfsec aws-lambda-enable-tracing)": {
    stacks: ["dev", "prod"],
    reason: "X-Ray costs per trace and needs xray:Put* on \"*\"; set function.tracing: \"Active\" to turn it on.",
  },
  CKV_AWS_115: {
    stacks: ["dev", "prod"],
    reason: "Reserving concurrency fails on accounts with the default quota of 10; set function.reservedConcurrency where there is room.",
  },
  CKV_AWS_338: {
    stacks: ["dev"],
    reason: "dev keeps logs 14 days; prod keeps them 365.",
  },
  CKV_AWS_117: {
    stacks: ["dev", "prod"],
    reason: "The function only calls S3, CloudWatch Logs and SQS; in a VPC it would need NAT or VPC endpoints for each, and gains nothing.",
  },
  CKV_AWS_272: {
    stacks: ["dev", "prod"],
    reason: "The bundle is built reproducibly from reviewed source and its hash is in the plan; code signing (AWS Signer) is left to those who require it.",
  },
  CKV_AWS_173: {
    stacks: ["dev", "prod"],
    reason: "The environment holds only the index bucket and prefix (CKV_AWS_45 checks that nothing secret is there); Lambda encrypts it with its AWS managed key.",
  },
  "CKV_AWS_158 (tfsec aws-cloudwatch-log-group-customer-key)": {
    stacks: ["dev", "prod"],
    reason: "The logs hold no object data (keys, sizes, hashes); CloudWatch's default encryption applies.",
  },
};

/** The rules as the README shows them. */
export function rulesMarkdown(): string {
  const rows = RULES.map((rule) => {
    const exception = INTENTIONALLY_UNMET[rule.id];
    const status = exception
      ? `not met in ${exception.stacks.join(" and ")}, on purpose: ${exception.reason}`
      : "met";
    return `| ${rule.id} | ${rule.title} | ${status} |`;
  });
  return ["| rule | what it requires | status |", "| --- | --- | --- |", ...rows].join("\n");
}
