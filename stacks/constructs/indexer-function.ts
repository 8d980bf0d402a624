import * as path from "node:path";
import { AssetType, Fn, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaAlias } from "@cdktf/provider-aws/lib/lambda-alias";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { ENV, HANDLER, HANDLER_ENTRY } from "../../lambda/contract";
import { bundleFunction, writeBundle, type Bundle } from "../bundle";
import { LAMBDA_TRUST_STATEMENT, rolePolicyStatements } from "../iam";
import type { Pipeline } from "../pipeline";

export interface IndexerFunctionProps {
  /** The resolved pipeline: names, settings, environment and what the role may reach. Required. */
  readonly pipeline: Pipeline;
  /** Entry file of the handler, relative to `projectRoot`. @default HANDLER.source, "lambda/handler.ts" */
  readonly entry?: string;
  /** Root of the project, for bundling. @default the folder above `stacks/` */
  readonly projectRoot?: string;
  /**
   * The index bucket's name as a reference to the bucket resource, given to the function as INDEX_BUCKET
   * so that Terraform creates the function only once its index exists.
   * @default pipeline.index.name (a literal: no ordering)
   */
  readonly indexBucketReference?: string;
}

/** One bundle per entry and process: dev and prod stacks share the same bytes and the time to build them. */
const bundles = new Map<string, Bundle>();

/**
 * The indexing function and everything it needs to run: the deterministic bundle, a published version
 * behind an alias, its log group, an execution role with exactly the permissions the handler uses, and
 * asynchronous invocation with bounded retries whose failures land in an encrypted queue.
 */
export class IndexerFunction extends Construct {
  public readonly function: LambdaFunction;
  public readonly alias: LambdaAlias;
  public readonly role: IamRole;
  public readonly rolePolicy: IamRolePolicy;
  public readonly logGroup: CloudwatchLogGroup;
  public readonly failureQueue: SqsQueue;
  public readonly bundle: Bundle;

  constructor(scope: Construct, id: string, props: IndexerFunctionProps) {
    super(scope, id);
    const pipeline = props.pipeline;
    const fn = pipeline.function;

    const projectRoot = props.projectRoot ?? path.resolve(__dirname, "..", "..");
    const entry = props.entry ?? HANDLER.source;
    const bundleKey = path.resolve(projectRoot, entry);
    this.bundle = bundles.get(bundleKey) ?? bundleFunction({ entry, projectRoot });
    bundles.set(bundleKey, this.bundle);
    const asset = new TerraformAsset(this, "code", {
      path: writeBundle(this.bundle),
      type: AssetType.FILE,
      assetHash: this.bundle.sha256Hex,
    });

    this.logGroup = new CloudwatchLogGroup(this, "logs", {
      name: fn.logGroupName,
      retentionInDays: fn.logRetentionDays,
    });

    this.failureQueue = new SqsQueue(this, "failures", {
      name: fn.queueName,
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: fn.failureRetentionDays * 86400,
    });

    const assumeRole = new DataAwsIamPolicyDocument(this, "assume-role", { statement: [LAMBDA_TRUST_STATEMENT] });
    this.role = new IamRole(this, "role", {
      name: fn.roleName,
      description: "Execution role of the checksum indexer: reads source objects, writes index records.",
      assumeRolePolicy: assumeRole.json,
    });

    const statements = rolePolicyStatements(pipeline, {
      logGroupArn: this.logGroup.arn,
      queueArn: this.failureQueue.arn,
      // arn:<partition>:iam::<account>:role/<name>: the account without a reference to the function.
      accountId: Fn.element(Fn.split(":", this.role.arn), 4),
    });
    const policy = new DataAwsIamPolicyDocument(this, "permissions", { statement: statements });
    this.rolePolicy = new IamRolePolicy(this, "role-policy", {
      name: "least-privilege",
      role: this.role.id,
      policy: policy.json,
    });

    this.function = new LambdaFunction(this, "function", {
      functionName: fn.name,
      description: "Computes the SHA-256 of each uploaded object and writes an index record.",
      role: this.role.arn,
      runtime: "nodejs22.x",
      architectures: [fn.architecture],
      handler: HANDLER_ENTRY,
      filename: asset.path,
      // The zip's own hash, computed at synth: plan shows a code change only when the bytes change.
      sourceCodeHash: this.bundle.sha256Base64,
      publish: true,
      memorySize: fn.memorySize,
      timeout: fn.timeoutSeconds,
      loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      tracingConfig: { mode: fn.tracing },
      reservedConcurrentExecutions: fn.reservedConcurrency,
      environment: {
        variables: { ...fn.environment, ...(props.indexBucketReference ? { [ENV.indexBucket]: props.indexBucketReference } : {}) },
      },
      // The function must be able to log and reach its index from its first invocation.
      dependsOn: [this.logGroup, this.rolePolicy],
    });

    this.alias = new LambdaAlias(this, "alias", {
      name: fn.aliasName,
      description: "The published version that S3 invokes.",
      functionName: this.function.functionName,
      functionVersion: this.function.version,
    });

    new LambdaFunctionEventInvokeConfig(this, "async-invoke", {
      functionName: this.function.functionName,
      qualifier: this.alias.name,
      maximumRetryAttempts: fn.maxRetryAttempts,
      maximumEventAgeInSeconds: fn.maxEventAgeSeconds,
      destinationConfig: { onFailure: { destination: this.failureQueue.arn } },
    });
  }
}
