import * as path from "node:path";
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { DataAwsIamPolicyDocument, DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaAlias } from "@cdktf/provider-aws/lib/lambda-alias";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaFunctionEventInvokeConfig } from "@cdktf/provider-aws/lib/lambda-function-event-invoke-config";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { ENV, HANDLER_ENTRY } from "../../lambda/contract";
import { bundleFunction, writeBundle, type Bundle } from "../bundle";
import {
  validateAliasName,
  validateIntegerRange,
  validateKmsKeyArn,
  validateLogRetention,
  validateNamePrefix,
} from "../validation";

/** What the function may read: objects of one bucket whose keys match a prefix and suffix. */
export interface SourceGrant {
  readonly bucketArn: string;
  readonly prefix: string;
  readonly suffix: string;
  /** Versioned source: the function reads exact versions, which needs `s3:GetObjectVersion`. */
  readonly versioned: boolean;
}

export interface IndexerFunctionProps {
  /** Prefix of the names of the function, role, queue and log group. Required. */
  readonly namePrefix: string;
  /** Entry file of the handler, relative to `projectRoot`. @default "lambda/handler.ts" */
  readonly entry?: string;
  /** Root of the project, for bundling. @default the folder above `stacks/` */
  readonly projectRoot?: string;
  /** Source objects the function reads. Required, at least one. */
  readonly sources: readonly SourceGrant[];
  /** Name of the index bucket (passed to the function as INDEX_BUCKET). Required. */
  readonly indexBucketName: string;
  /** ARN of the index bucket. Required. */
  readonly indexBucketArn: string;
  /** Key prefix of the index records (passed as INDEX_PREFIX). Required. */
  readonly indexPrefix: string;
  /** KMS keys the function encrypts or decrypts with (source and index buckets). @default [] */
  readonly kmsKeyArns?: readonly string[];
  /** Memory of the function in MiB, from 128 to 10240. @default 512 */
  readonly memorySize?: number;
  /** Timeout in seconds, from 1 to 900. Hashing streams at roughly network speed. @default 300 */
  readonly timeoutSeconds?: number;
  /** Instruction set. arm64 (Graviton) costs less per GB-second. @default "arm64" */
  readonly architecture?: "arm64" | "x86_64";
  /** Days CloudWatch keeps the function's logs (a value CloudWatch accepts). @default 30 */
  readonly logRetentionDays?: number;
  /** Name of the alias that S3 invokes. @default "live" */
  readonly aliasName?: string;
  /** Retries of a failed asynchronous invocation, 0 to 2. @default 2 */
  readonly maxRetryAttempts?: number;
  /** Age in seconds after which an event is no longer retried, 60 to 21600. @default 3600 */
  readonly maxEventAgeSeconds?: number;
  /**
   * AWS X-Ray tracing: "Active" samples and records traces (adds the X-Ray write actions, which have no
   * resource-level permissions and so are granted on "*"); "PassThrough" only forwards an upstream trace.
   * @default "PassThrough"
   */
  readonly tracing?: "Active" | "PassThrough";
  /**
   * Concurrent executions reserved for (and capping) the function. Reserving needs account concurrency to
   * spare (new accounts have 10): leave unset there.
   * @default undefined (unreserved: shares the account's pool)
   */
  readonly reservedConcurrency?: number;
  /** Days the failure queue keeps failed events, 1 to 14. @default 14 */
  readonly failureRetentionDays?: number;
  /**
   * Account and region the function is deployed to. When both are known, the log group and queue ARNs in
   * the role's policy are written out, so `terraform plan` shows the whole policy before apply.
   * @default undefined: the ARNs are Terraform references, known after apply
   */
  readonly accountId?: string;
  readonly region?: string;
  /** Extra environment variables of the function (never secrets: they are plain text in state). @default {} */
  readonly environment?: Record<string, string>;
  /** Tags of every resource of the function. @default {} */
  readonly tags?: Record<string, string>;
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
    validateNamePrefix("namePrefix", props.namePrefix);
    const memorySize = props.memorySize ?? 512;
    const timeout = props.timeoutSeconds ?? 300;
    const retention = props.logRetentionDays ?? 30;
    const aliasName = props.aliasName ?? "live";
    const maxRetryAttempts = props.maxRetryAttempts ?? 2;
    const maxEventAge = props.maxEventAgeSeconds ?? 3600;
    const failureRetentionDays = props.failureRetentionDays ?? 14;
    validateIntegerRange("memorySize", memorySize, 128, 10240, "MiB");
    validateIntegerRange("timeoutSeconds", timeout, 1, 900, "seconds");
    validateLogRetention("logRetentionDays", retention);
    validateAliasName("aliasName", aliasName);
    validateIntegerRange("maxRetryAttempts", maxRetryAttempts, 0, 2);
    validateIntegerRange("maxEventAgeSeconds", maxEventAge, 60, 21600, "seconds");
    validateIntegerRange("failureRetentionDays", failureRetentionDays, 1, 14, "days");
    if (props.reservedConcurrency !== undefined) validateIntegerRange("reservedConcurrency", props.reservedConcurrency, 0, 1000);
    const tracing = props.tracing ?? "PassThrough";
    for (const key of props.kmsKeyArns ?? []) validateKmsKeyArn("kmsKeyArns", key);
    if (props.sources.length === 0) throw new Error("IndexerFunction needs at least one source to read.");
    for (const name of Object.keys(props.environment ?? {})) {
      if ((Object.values(ENV) as string[]).includes(name)) {
        throw new Error(`environment sets ${name}, which the stack sets itself: remove it from environment.`);
      }
    }

    const functionName = `${props.namePrefix}-indexer`;
    const logGroupName = `/aws/lambda/${functionName}`;
    const queueName = `${props.namePrefix}-indexer-failures`;
    const tags = props.tags;

    const projectRoot = props.projectRoot ?? path.resolve(__dirname, "..", "..");
    const entry = props.entry ?? "lambda/handler.ts";
    const bundleKey = path.resolve(projectRoot, entry);
    this.bundle = bundles.get(bundleKey) ?? bundleFunction({ entry, projectRoot });
    bundles.set(bundleKey, this.bundle);
    const asset = new TerraformAsset(this, "code", {
      path: writeBundle(this.bundle),
      type: AssetType.FILE,
      assetHash: this.bundle.sha256Hex,
    });

    this.logGroup = new CloudwatchLogGroup(this, "logs", {
      name: logGroupName,
      retentionInDays: retention,
      tags,
    });

    this.failureQueue = new SqsQueue(this, "failures", {
      name: queueName,
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: failureRetentionDays * 86400,
      tags,
    });

    const known = props.accountId !== undefined && props.region !== undefined;
    const logGroupArn = known
      ? `arn:aws:logs:${props.region}:${props.accountId}:log-group:${logGroupName}`
      : this.logGroup.arn;
    const queueArn = known ? `arn:aws:sqs:${props.region}:${props.accountId}:${queueName}` : this.failureQueue.arn;

    const assumeRole = new DataAwsIamPolicyDocument(this, "assume-role", {
      statement: [
        {
          sid: "LambdaAssumesRole",
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }],
        },
      ],
    });
    this.role = new IamRole(this, "role", {
      name: `${props.namePrefix}-indexer`,
      description: "Execution role of the checksum indexer: reads source objects, writes index records.",
      assumeRolePolicy: assumeRole.json,
      tags,
    });

    const statements: DataAwsIamPolicyDocumentStatement[] = [];
    props.sources.forEach((source, i) => {
      statements.push({
        sid: `ReadSourceObjects${i}`,
        effect: "Allow",
        actions: source.versioned ? ["s3:GetObject", "s3:GetObjectVersion"] : ["s3:GetObject"],
        resources: [`${source.bucketArn}/${source.prefix}*${source.suffix}`],
      });
    });
    statements.push(
      {
        sid: "ReadWriteIndexRecords",
        effect: "Allow",
        actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        resources: [`${props.indexBucketArn}/${props.indexPrefix}*`],
      },
      {
        // Only so that S3 answers 404, not 403, for a record that does not exist yet: without ListBucket S3
        // hides whether a key exists. Lists index record names, nothing of the source.
        sid: "FindIndexRecords",
        effect: "Allow",
        actions: ["s3:ListBucket"],
        resources: [props.indexBucketArn],
      },
      {
        sid: "WriteOwnLogs",
        effect: "Allow",
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [`${logGroupArn}:log-stream:*`],
      },
      {
        sid: "SendFailedEvents",
        effect: "Allow",
        actions: ["sqs:SendMessage"],
        resources: [queueArn],
      },
    );
    if (tracing === "Active") {
      statements.push({
        // X-Ray has no resource-level permissions: "*" is the only resource these actions accept.
        sid: "WriteTraces",
        effect: "Allow",
        actions: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        resources: ["*"],
      });
    }
    const kmsKeys = [...new Set(props.kmsKeyArns ?? [])];
    if (kmsKeys.length > 0) {
      statements.push({
        sid: "UseBucketKeys",
        effect: "Allow",
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: kmsKeys,
      });
    }
    const policy = new DataAwsIamPolicyDocument(this, "permissions", { statement: statements });
    this.rolePolicy = new IamRolePolicy(this, "role-policy", {
      name: "least-privilege",
      role: this.role.id,
      policy: policy.json,
    });

    this.function = new LambdaFunction(this, "function", {
      functionName,
      description: "Computes the SHA-256 of each uploaded object and writes an index record.",
      role: this.role.arn,
      runtime: "nodejs22.x",
      architectures: [props.architecture ?? "arm64"],
      handler: HANDLER_ENTRY,
      filename: asset.path,
      // The zip's own hash, computed at synth: plan shows a code change only when the bytes change.
      sourceCodeHash: this.bundle.sha256Base64,
      publish: true,
      memorySize,
      timeout,
      loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      tracingConfig: { mode: tracing },
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: {
        variables: {
          ...(props.environment ?? {}),
          [ENV.indexBucket]: props.indexBucketName,
          [ENV.indexPrefix]: props.indexPrefix,
          NODE_OPTIONS: "--enable-source-maps",
        },
      },
      tags,
      // The function must be able to log and reach its index from its first invocation.
      dependsOn: [this.logGroup, this.rolePolicy],
    });

    this.alias = new LambdaAlias(this, "alias", {
      name: aliasName,
      description: "The published version that S3 invokes.",
      functionName: this.function.functionName,
      functionVersion: this.function.version,
    });

    new LambdaFunctionEventInvokeConfig(this, "async-invoke", {
      functionName: this.function.functionName,
      qualifier: this.alias.name,
      maximumRetryAttempts: maxRetryAttempts,
      maximumEventAgeInSeconds: maxEventAge,
      destinationConfig: { onFailure: { destination: this.failureQueue.arn } },
    });
  }
}
