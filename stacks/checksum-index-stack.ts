import { Annotations, Fn, LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { IndexerAlarms } from "./constructs/alarms";
import { BatchOperationsRole } from "./constructs/batch-operations-role";
import { BucketLifecycle } from "./constructs/bucket-lifecycle";
import { BucketTrigger } from "./constructs/bucket-trigger";
import { EventBridgeTrigger } from "./constructs/eventbridge-trigger";
import { IndexerFunction } from "./constructs/indexer-function";
import { SecureBucket } from "./constructs/secure-bucket";
import { resolvePipeline, type ChecksumIndexStackProps, type Pipeline, type ResolvedBackend } from "./pipeline";
import { CONTINUATIONS_FOLDER } from "../lambda/contract";

export type {
  BackendProps,
  ChecksumIndexStackProps,
  ExistingSourceBucketProps,
  FunctionSettings,
  IndexBucketProps,
  SourceBucketProps,
  TriggerProps,
} from "./pipeline";

/**
 * The whole product: source bucket → notification → alias → indexer function → index bucket. Every name,
 * default and check comes from the resolved pipeline (pipeline.ts); this class only assembles resources.
 */
export class ChecksumIndexStack extends TerraformStack {
  /** The resolved, validated configuration the stack was built from: what the tools read. */
  public readonly pipeline: Pipeline;
  public readonly sourceBucket?: SecureBucket;
  /** The index bucket, when it is not the source bucket. */
  public readonly indexBucket?: SecureBucket;
  public readonly indexer: IndexerFunction;
  /** The notification that invokes the alias (delivery "notification"). */
  public readonly trigger?: BucketTrigger;
  /** The EventBridge rules that invoke the alias (delivery "eventbridge"). */
  public readonly eventBridge?: EventBridgeTrigger;
  /** The role of Batch Operations backfill jobs (prop batchOperations). */
  public readonly batchOperations?: BatchOperationsRole;
  /** The alarms, unless turned off. */
  public readonly alarms?: IndexerAlarms;

  constructor(scope: Construct, id: string, props: ChecksumIndexStackProps) {
    super(scope, id);
    const pipeline = resolvePipeline(id, props);
    this.pipeline = pipeline;
    for (const warning of pipeline.warnings) Annotations.of(this).addWarning(warning);

    this.configureBackend(pipeline.backend);
    new AwsProvider(this, "aws", { region: pipeline.region, defaultTags: [{ tags: pipeline.tags }] });

    const { source, index } = pipeline;
    if (!source.existing) {
      this.sourceBucket = new SecureBucket(this, "source", {
        bucketName: source.name,
        partition: pipeline.partition,
        versioned: source.versioned,
        kmsKeyArn: source.kmsKeyArn,
        forceDestroy: source.forceDestroy,
      });
    }
    // The index may share the source bucket only outside what the triggers watch (checked by the
    // pipeline); its own bucket is the default and what AWS advises.
    if (!index.sharesSource) {
      this.indexBucket = new SecureBucket(this, "index", {
        bucketName: index.name,
        partition: pipeline.partition,
        versioned: index.versioned,
        kmsKeyArn: index.kmsKeyArn,
        forceDestroy: index.forceDestroy,
      });
    }

    // Lifecycle rules only on buckets the stack creates: an existing bucket's lifecycle is its owner's.
    const lifecycle = props.lifecycle ?? {};
    if (this.sourceBucket) {
      new BucketLifecycle(this, "source-lifecycle", {
        bucket: this.sourceBucket.bucket.id,
        abortIncompleteMultipartUploadDays: lifecycle.abortIncompleteMultipartUploadDays,
        dependsOn: this.sourceBucket.versioning ? [this.sourceBucket.versioning] : undefined,
      });
    }
    if (this.indexBucket) {
      new BucketLifecycle(this, "index-lifecycle", {
        bucket: this.indexBucket.bucket.id,
        abortIncompleteMultipartUploadDays: lifecycle.abortIncompleteMultipartUploadDays,
        noncurrentVersionExpirationDays: lifecycle.noncurrentIndexVersionDays ?? 30,
        expirePrefix: { prefix: `${index.prefix}${CONTINUATIONS_FOLDER}`, days: lifecycle.continuationStateDays ?? 15 },
        dependsOn: this.indexBucket.versioning ? [this.indexBucket.versioning] : undefined,
      });
    }

    const indexBucketName = this.indexBucket?.bucketName ?? this.sourceBucket?.bucketName ?? index.name;
    this.indexer = new IndexerFunction(this, "indexer", { pipeline, indexBucketReference: indexBucketName });

    // The account is never looked up (that would need AWS credentials to plan): it is given, or read from
    // the function's ARN, arn:<partition>:lambda:<region>:<account>:function:<name>.
    const accountId = source.ownerAccountId ?? Fn.element(Fn.split(":", this.indexer.function.arn), 4);

    if (pipeline.delivery.mode === "notification") {
      this.trigger = new BucketTrigger(this, "trigger", {
        // A reference to a created bucket, so that the notification is ordered after it.
        bucketName: this.sourceBucket?.bucketName ?? source.name,
        // Literal ARN: the plan shows exactly which bucket may invoke the function.
        bucketArn: source.arn,
        bucketOwnerAccountId: accountId,
        alias: this.indexer.alias,
        rules: pipeline.rules,
        // S3 checks the destination when the notification is written: after the bucket's policy is in place.
        dependsOn: this.sourceBucket ? [this.sourceBucket.policy] : undefined,
      });
    } else {
      const fn = pipeline.function;
      this.eventBridge = new EventBridgeTrigger(this, "eventbridge", {
        bucketName: this.sourceBucket?.bucketName ?? source.name,
        manageBucketSetting: pipeline.delivery.manageBucketSetting,
        // The rules live in the stack's account (not the bucket owner's).
        accountId: pipeline.accountId ?? Fn.element(Fn.split(":", this.indexer.function.arn), 4),
        rules: pipeline.delivery.eventBridgeRules,
        alias: this.indexer.alias,
        deadLetterQueue: this.indexer.failureQueue,
        maxRetryAttempts: fn.maxRetryAttempts,
        maxEventAgeSeconds: fn.maxEventAgeSeconds,
        dependsOn: this.sourceBucket ? [this.sourceBucket.policy] : undefined,
      });
    }

    if (props.alarms?.enabled ?? true) {
      this.alarms = new IndexerAlarms(this, "alarms", {
        ...props.alarms,
        namePrefix: pipeline.namePrefix,
        functionName: this.indexer.function.functionName,
        failureQueueName: this.indexer.failureQueue.name,
      });
    }

    if (pipeline.batchOperations) {
      const batch = pipeline.batchOperations;
      this.batchOperations = new BatchOperationsRole(this, "batch", { pipeline: { ...pipeline, batchOperations: batch }, alias: this.indexer.alias });
      new TerraformOutput(this, "batch_operations_role_arn", { value: this.batchOperations.role.arn, description: "Role of S3 Batch Operations backfill jobs." });
    }

    new TerraformOutput(this, "source_bucket", { value: source.name, description: "Bucket whose uploads are indexed." });
    new TerraformOutput(this, "index_bucket", { value: indexBucketName, description: "Bucket that holds the index records." });
    new TerraformOutput(this, "index_prefix", { value: index.prefix, description: "Key prefix of the index records." });
    new TerraformOutput(this, "function_name", { value: this.indexer.function.functionName, description: "Name of the indexer function." });
    new TerraformOutput(this, "alias_arn", { value: this.indexer.alias.arn, description: "ARN of the alias S3 invokes." });
    new TerraformOutput(this, "failure_queue_url", { value: this.indexer.failureQueue.url, description: "Queue that keeps events the function failed on." });
    new TerraformOutput(this, "log_group", { value: this.indexer.logGroup.name, description: "Log group of the function." });
  }

  private configureBackend(backend: ResolvedBackend): void {
    if (backend.type === "local") {
      new LocalBackend(this, { path: backend.path });
      return;
    }
    const s3 = new S3Backend(this, { bucket: backend.bucket, key: backend.key, region: backend.region, encrypt: true });
    if (backend.useLockfile) s3.addOverride("use_lockfile", true);
  }
}
