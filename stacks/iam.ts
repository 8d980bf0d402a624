/**
 * The execution role's permissions as a pure function of the resolved pipeline: one statement per
 * concern (as terraform-aws-modules splits its IAM), testable without synthesizing. Each statement says
 * why the function needs it; nothing is granted that the handler does not use.
 */
import type { Pipeline } from "./pipeline";

/** An IAM policy statement, in the shape of the provider's aws_iam_policy_document. */
export interface PolicyStatement {
  readonly sid: string;
  readonly effect: "Allow" | "Deny";
  readonly actions: string[];
  readonly resources: string[];
}

/**
 * ARNs that are known only after apply unless the account is given. When `pipeline.accountId` is set
 * they are written out from names, so that `terraform plan` shows the whole policy.
 */
export interface RoleReferences {
  /** The log group's ARN (a Terraform reference). */
  readonly logGroupArn: string;
  /** The failure queue's ARN (a Terraform reference). */
  readonly queueArn: string;
  /**
   * The account id as a Terraform expression that does not depend on the function (taken from the role's
   * ARN), so that the function's own alias ARN can be written without a cycle (the function depends on
   * this policy).
   */
  readonly accountId: string;
}

/** The resolved ARNs of the role's own resources. */
export interface RoleArns {
  readonly logGroupArn: string;
  readonly queueArn: string;
  /** The function's alias: the only function the role may invoke. */
  readonly aliasArn: string;
}

/** The log group, queue and alias ARNs: literal when the account is known, else from the references given. */
export function resolvedRoleArns(pipeline: Pipeline, refs: RoleReferences): RoleArns {
  const { partition, region, accountId } = pipeline;
  const fn = pipeline.function;
  const aliasArn = `arn:${partition}:lambda:${region}:${accountId ?? refs.accountId}:function:${fn.name}:${fn.aliasName}`;
  if (accountId === undefined) return { logGroupArn: refs.logGroupArn, queueArn: refs.queueArn, aliasArn };
  return {
    logGroupArn: `arn:${partition}:logs:${region}:${accountId}:log-group:${fn.logGroupName}`,
    queueArn: `arn:${partition}:sqs:${region}:${accountId}:${fn.queueName}`,
    aliasArn,
  };
}

/**
 * Read the watched objects, and only them: one statement per trigger rule's prefix and suffix. The
 * *Attributes actions are GetObjectAttributes (the part sizes and part checksums that verify a multipart
 * object against its composite checksum or ETag); S3 requires GetObjectVersionAttributes for a version.
 */
export function readSourceStatements(pipeline: Pipeline): PolicyStatement[] {
  const actions = pipeline.source.versioned
    ? ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"]
    : ["s3:GetObject", "s3:GetObjectAttributes"];
  return pipeline.rules.map((rule, i) => ({
    sid: `ReadSourceObjects${i}`,
    effect: "Allow",
    actions: [...actions],
    resources: [`${pipeline.source.arn}/${rule.prefix}*${rule.suffix}`],
  }));
}

/** Read and write the index records under the index prefix, and list the index bucket. */
export function indexStatements(pipeline: Pipeline): PolicyStatement[] {
  return [
    {
      sid: "ReadWriteIndexRecords",
      effect: "Allow",
      actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      resources: [`${pipeline.index.arn}/${pipeline.index.prefix}*`],
    },
    {
      // Only so that S3 answers 404, not 403, for a record that does not exist yet: without ListBucket S3
      // hides whether a key exists. Lists index record names, nothing of the source.
      sid: "FindIndexRecords",
      effect: "Allow",
      actions: ["s3:ListBucket"],
      resources: [pipeline.index.arn],
    },
  ];
}

/** Write to the function's own log group only. */
export function logStatements(arns: RoleArns): PolicyStatement[] {
  return [{ sid: "WriteOwnLogs", effect: "Allow", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`${arns.logGroupArn}:log-stream:*`] }];
}

/** Send failed asynchronous events to the function's own queue only. */
export function failureQueueStatements(arns: RoleArns): PolicyStatement[] {
  return [{ sid: "SendFailedEvents", effect: "Allow", actions: ["sqs:SendMessage"], resources: [arns.queueArn] }];
}

/**
 * Invoke the function's own alias, and nothing else: a read that outlasts one invocation continues in the
 * next one, which the function starts itself, asynchronously (lambda/continuation.ts, docs/function.md).
 */
export function continuationStatements(arns: RoleArns): PolicyStatement[] {
  return [{ sid: "ContinueOwnReads", effect: "Allow", actions: ["lambda:InvokeFunction"], resources: [arns.aliasArn] }];
}

/** X-Ray, when tracing is active: these actions have no resource-level permissions, "*" is the only resource. */
export function tracingStatements(pipeline: Pipeline): PolicyStatement[] {
  if (pipeline.function.tracing !== "Active") return [];
  return [{ sid: "WriteTraces", effect: "Allow", actions: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources: ["*"] }];
}

/** Decrypt source objects and encrypt index records with the buckets' customer managed keys. */
export function kmsStatements(pipeline: Pipeline): PolicyStatement[] {
  if (pipeline.function.kmsKeyArns.length === 0) return [];
  return [{ sid: "UseBucketKeys", effect: "Allow", actions: ["kms:Decrypt", "kms:GenerateDataKey"], resources: [...pipeline.function.kmsKeyArns] }];
}

/** Every statement of the execution role's policy, in a stable order. */
export function rolePolicyStatements(pipeline: Pipeline, refs: RoleReferences): PolicyStatement[] {
  const arns = resolvedRoleArns(pipeline, refs);
  return [
    ...readSourceStatements(pipeline),
    ...indexStatements(pipeline),
    ...logStatements(arns),
    ...failureQueueStatements(arns),
    ...continuationStatements(arns),
    ...tracingStatements(pipeline),
    ...kmsStatements(pipeline),
  ];
}

/** The role's trust policy: only Lambda may assume it. */
export const LAMBDA_TRUST_STATEMENT = {
  sid: "LambdaAssumesRole",
  effect: "Allow",
  actions: ["sts:AssumeRole"],
  principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }],
};

/** The trust policy of the Batch Operations role: only S3 Batch Operations may assume it. */
export const BATCH_OPERATIONS_TRUST_STATEMENT = {
  sid: "BatchOperationsAssumesRole",
  effect: "Allow",
  actions: ["sts:AssumeRole"],
  principals: [{ type: "Service", identifiers: ["batchoperations.s3.amazonaws.com"] }],
};

/**
 * What a Batch Operations backfill job needs, and nothing else: list the source bucket (the manifest
 * generator lists keys), read and write manifests and completion reports under the report prefix of the
 * index bucket, invoke the alias (never the unqualified function), and use the index bucket's KMS key for
 * those reports. The objects themselves are read by the function with its own role.
 */
export function batchOperationsStatements(pipeline: Pipeline, aliasArn: string): PolicyStatement[] {
  const batch = pipeline.batchOperations;
  if (!batch) return [];
  const reports = `${pipeline.index.arn}/${batch.reportPrefix}*`;
  const statements: PolicyStatement[] = [
    { sid: "ListSourceForManifest", effect: "Allow", actions: ["s3:ListBucket"], resources: [pipeline.source.arn] },
    { sid: "ReadManifests", effect: "Allow", actions: ["s3:GetObject", "s3:GetObjectVersion"], resources: [reports] },
    { sid: "WriteManifestsAndReports", effect: "Allow", actions: ["s3:PutObject"], resources: [reports] },
    { sid: "InvokeIndexerAlias", effect: "Allow", actions: ["lambda:InvokeFunction"], resources: [aliasArn] },
  ];
  if (batch.inventory) {
    // An S3 Inventory manifest and the data files it lists, where the inventory is delivered.
    statements.push({ sid: "ReadInventoryManifests", effect: "Allow", actions: ["s3:GetObject", "s3:GetObjectVersion"], resources: [`${batch.inventory.arn}/${batch.inventory.prefix}*`] });
  }
  const indexKey = pipeline.index.kmsKeyArn;
  if (indexKey) statements.push({ sid: "UseIndexKey", effect: "Allow", actions: ["kms:Decrypt", "kms:GenerateDataKey"], resources: [indexKey] });
  return statements;
}
