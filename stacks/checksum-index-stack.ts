import { Annotations, Fn, LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DEFAULT_EVENTS, DEFAULT_INDEX_PREFIX, DEFAULT_SOURCE_PREFIX, INDEX_RECORD_SUFFIX } from "../lambda/contract";
import { IndexerAlarms, type AlarmsProps } from "./constructs/alarms";
import { BucketLifecycle, type LifecycleProps } from "./constructs/bucket-lifecycle";
import { BucketTrigger } from "./constructs/bucket-trigger";
import { IndexerFunction, type IndexerFunctionProps } from "./constructs/indexer-function";
import { SecureBucket } from "./constructs/secure-bucket";
import {
  ConfigurationError,
  validateAccountId,
  validateBucketName,
  validateKmsKeyArn,
  validateNamePrefix,
  validateNoSelfTrigger,
  validateRegion,
  validateTriggerRules,
  type TriggerRule,
} from "./validation";

/** A notification rule: which events of which keys invoke the function. */
export interface TriggerProps {
  /** Only keys that start with this prefix. @default "incoming/" */
  readonly prefix?: string;
  /** Only keys that end with this suffix, such as ".csv". @default "" (every key) */
  readonly suffix?: string;
  /** S3 event types. @default ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"] */
  readonly events?: readonly string[];
}

/** The bucket whose objects are indexed, created by the stack. */
export interface SourceBucketProps {
  /** Globally unique bucket name. @default "<namePrefix>-source" */
  readonly name?: string;
  /** Keep object versions; the function then indexes each version. @default false */
  readonly versioned?: boolean;
  /** Customer managed KMS key for SSE-KMS. @default undefined (SSE-S3) */
  readonly kmsKeyArn?: string;
  /** Allow `terraform destroy` to delete a bucket with objects in it. @default false */
  readonly forceDestroy?: boolean;
}

/**
 * A bucket that exists already, outside this stack. The stack then manages ONLY its notification
 * configuration, which S3 replaces as a whole: any notification another tool set on it is removed.
 */
export interface ExistingSourceBucketProps {
  /** Name of the existing bucket. Required. */
  readonly name: string;
  /** Whether the bucket keeps versions (the function then needs s3:GetObjectVersion). Required. */
  readonly versioned: boolean;
  /** The KMS key its objects are encrypted with, if SSE-KMS. @default undefined */
  readonly kmsKeyArn?: string;
  /** Account that owns the bucket. @default the stack's accountId, or the account of the function */
  readonly ownerAccountId?: string;
}

export interface IndexBucketProps {
  /** Globally unique name of the index bucket. @default "<namePrefix>-index" */
  readonly name?: string;
  /** Key prefix of every index record. @default "index/" */
  readonly prefix?: string;
  /** Keep versions of index records. @default false */
  readonly versioned?: boolean;
  /** Customer managed KMS key for SSE-KMS. @default undefined (SSE-S3) */
  readonly kmsKeyArn?: string;
  /** Allow `terraform destroy` to delete the index with records in it. @default false */
  readonly forceDestroy?: boolean;
}

/** Settings of the function; each is documented, with its default, on IndexerFunctionProps. */
export type FunctionSettings = Pick<
  IndexerFunctionProps,
  | "memorySize"
  | "timeoutSeconds"
  | "architecture"
  | "logRetentionDays"
  | "aliasName"
  | "maxRetryAttempts"
  | "maxEventAgeSeconds"
  | "tracing"
  | "reservedConcurrency"
>;

export type BackendProps =
  | {
      readonly type: "local";
      /** State file, relative to the synthesized stack folder. @default "../../../terraform.<stack>.tfstate" (the project root) */
      readonly path?: string;
    }
  | {
      readonly type: "s3";
      /** Bucket of the state. Required. */
      readonly bucket: string;
      /** Key of the state object. @default "<stack>/terraform.tfstate" */
      readonly key?: string;
      /** Region of the state bucket. @default the stack's region */
      readonly region?: string;
      /** Lock with a lock file next to the state (Terraform 1.10+), no DynamoDB table needed. @default true */
      readonly useLockfile?: boolean;
    };

export interface ChecksumIndexStackProps {
  /** Prefix of every name in the stack (function, role, queue, log group, default bucket names). Required. */
  readonly namePrefix: string;
  /** AWS region. @default "us-east-1" */
  readonly region?: string;
  /**
   * The account deployed to. Used as the permission's `source_account` for a created bucket.
   * @default undefined: derived at apply from the function's ARN, so no AWS call is needed to plan
   */
  readonly accountId?: string;
  /** The source bucket created by the stack. Ignored when `existingSourceBucket` is set. @default a new "<namePrefix>-source" */
  readonly sourceBucket?: SourceBucketProps;
  /** Attach to a bucket that exists instead of creating one (read the README first). @default undefined */
  readonly existingSourceBucket?: ExistingSourceBucketProps;
  /** Where index records are written. @default a new "<namePrefix>-index" bucket, prefix "index/" */
  readonly index?: IndexBucketProps;
  /** Notification rules. @default [{ prefix: "incoming/", events: ObjectCreated:* and ObjectRemoved:* }] */
  readonly triggers?: readonly TriggerProps[];
  /** Settings of the function. @default see FunctionSettings */
  readonly function?: FunctionSettings;
  /** Tags on every resource, through the provider's default_tags. @default { application: "s3-checksum-index" } */
  readonly tags?: Record<string, string>;
  /** Terraform state backend. @default { type: "local" } */
  readonly backend?: BackendProps;
  /** CloudWatch alarms on failed, dropped and throttled events. @default on, notifying nobody: see AlarmsProps */
  readonly alarms?: AlarmsProps;
  /** Lifecycle rules of the created buckets. @default see LifecycleProps (7 days, 30 days) */
  readonly lifecycle?: LifecycleProps;
}

/** The whole product: source bucket → notification → alias → indexer function → index bucket. */
export class ChecksumIndexStack extends TerraformStack {
  public readonly source: { bucketName: string; bucketArn: string; existing: boolean };
  /** The index bucket, when it is not the source bucket. */
  public readonly indexBucket?: SecureBucket;
  public readonly indexBucketName: string;
  public readonly indexer: IndexerFunction;
  public readonly trigger: BucketTrigger;
  /** The notification rules, with defaults applied: what local mode routes events by. */
  public readonly rules: readonly TriggerRule[];
  public readonly indexPrefix: string;
  /** The alarms, unless turned off. */
  public readonly alarms?: IndexerAlarms;

  constructor(scope: Construct, id: string, props: ChecksumIndexStackProps) {
    super(scope, id);
    validateNamePrefix("namePrefix", props.namePrefix);
    const region = props.region ?? "us-east-1";
    validateRegion("region", region);
    validateAccountId("accountId", props.accountId);
    validateAccountId("existingSourceBucket.ownerAccountId", props.existingSourceBucket?.ownerAccountId);
    validateKmsKeyArn("existingSourceBucket.kmsKeyArn", props.existingSourceBucket?.kmsKeyArn);
    if (props.existingSourceBucket && props.sourceBucket) {
      throw new ConfigurationError("Both sourceBucket and existingSourceBucket are set: keep only one of them.");
    }

    this.configureBackend(id, region, props.backend ?? { type: "local" });
    new AwsProvider(this, "aws", {
      region,
      defaultTags: [{ tags: props.tags ?? { application: "s3-checksum-index" } }],
    });

    this.rules = (props.triggers ?? [{}]).map((t) => ({
      prefix: t.prefix ?? DEFAULT_SOURCE_PREFIX,
      suffix: t.suffix ?? "",
      events: [...(t.events ?? DEFAULT_EVENTS)],
    }));
    validateTriggerRules("triggers", this.rules);
    this.indexPrefix = props.index?.prefix ?? DEFAULT_INDEX_PREFIX;
    if (this.indexPrefix.startsWith("/") || Buffer.byteLength(this.indexPrefix) > 512) {
      throw new ConfigurationError(
        `index.prefix "${this.indexPrefix}" must not start with "/" and must be at most 512 bytes (the function refuses it at cold start): use for example "index/".`,
      );
    }

    // Source bucket: created, or an existing one of which only the notification is managed.
    let sourceVersioned: boolean;
    let sourceKmsKey: string | undefined;
    let sourceBucket: SecureBucket | undefined;
    if (props.existingSourceBucket) {
      const existing = props.existingSourceBucket;
      validateBucketName("existingSourceBucket.name", existing.name);
      this.source = { bucketName: existing.name, bucketArn: `arn:aws:s3:::${existing.name}`, existing: true };
      sourceVersioned = existing.versioned;
      sourceKmsKey = existing.kmsKeyArn;
      const warning =
        `Stack ${id} attaches to the existing bucket "${existing.name}". Terraform's aws_s3_bucket_notification ` +
        `owns the bucket's WHOLE notification configuration: applying it removes every notification that other ` +
        `tools or stacks set on "${existing.name}", and destroying the stack removes them all. See the README, ` +
        `"Attaching to an existing bucket".`;
      Annotations.of(this).addWarning(warning);
    } else {
      const name = props.sourceBucket?.name ?? `${props.namePrefix}-source`;
      sourceBucket = new SecureBucket(this, "source", {
        bucketName: name,
        versioned: props.sourceBucket?.versioned ?? false,
        kmsKeyArn: props.sourceBucket?.kmsKeyArn,
        forceDestroy: props.sourceBucket?.forceDestroy,
      });
      this.source = { bucketName: name, bucketArn: `arn:aws:s3:::${name}`, existing: false };
      sourceVersioned = sourceBucket.versioned;
      sourceKmsKey = sourceBucket.kmsKeyArn;
    }

    const indexName = props.index?.name ?? `${props.namePrefix}-index`;
    validateBucketName("index.name", indexName);
    validateNoSelfTrigger(this.source.bucketName, indexName, this.indexPrefix, INDEX_RECORD_SUFFIX, this.rules);
    // The index may share the source bucket only outside what the triggers watch (checked above); its own
    // bucket is the default and what AWS advises.
    const sharesSource = indexName === this.source.bucketName;
    this.indexBucket = sharesSource
      ? undefined
      : new SecureBucket(this, "index", {
          bucketName: indexName,
          versioned: props.index?.versioned ?? false,
          kmsKeyArn: props.index?.kmsKeyArn,
          forceDestroy: props.index?.forceDestroy,
        });
    this.indexBucketName = this.indexBucket?.bucketName ?? sourceBucket?.bucketName ?? indexName;
    // Lifecycle rules only on buckets the stack creates: an existing bucket's lifecycle is its owner's.
    const lifecycle = props.lifecycle ?? {};
    if (sourceBucket) {
      new BucketLifecycle(this, "source-lifecycle", {
        bucket: sourceBucket.bucket.id,
        abortIncompleteMultipartUploadDays: lifecycle.abortIncompleteMultipartUploadDays,
        dependsOn: sourceBucket.versioning ? [sourceBucket.versioning] : undefined,
      });
    }
    if (this.indexBucket) {
      new BucketLifecycle(this, "index-lifecycle", {
        bucket: this.indexBucket.bucket.id,
        abortIncompleteMultipartUploadDays: lifecycle.abortIncompleteMultipartUploadDays,
        noncurrentVersionExpirationDays: lifecycle.noncurrentIndexVersionDays ?? 30,
        dependsOn: this.indexBucket.versioning ? [this.indexBucket.versioning] : undefined,
      });
    }
    // ARNs are built from the (literal) names so that the plan shows whole IAM policies, not "(known after apply)".
    const indexArn = `arn:aws:s3:::${indexName}`;

    const fn = props.function ?? {};
    this.indexer = new IndexerFunction(this, "indexer", {
      namePrefix: props.namePrefix,
      sources: this.rules.map((rule) => ({
        bucketArn: this.source.bucketArn,
        prefix: rule.prefix,
        suffix: rule.suffix,
        versioned: sourceVersioned,
      })),
      indexBucketName: this.indexBucketName,
      indexBucketArn: indexArn,
      indexPrefix: this.indexPrefix,
      kmsKeyArns: [sourceKmsKey, sharesSource ? undefined : props.index?.kmsKeyArn].filter((k): k is string => k !== undefined),
      ...fn,
      accountId: props.accountId,
      region,
    });

    // The account is never looked up (that would need AWS credentials to plan): it is given, or read from
    // the function's ARN, arn:aws:lambda:<region>:<account>:function:<name>.
    const accountId =
      props.existingSourceBucket?.ownerAccountId ??
      props.accountId ??
      Fn.element(Fn.split(":", this.indexer.function.arn), 4);

    this.trigger = new BucketTrigger(this, "trigger", {
      bucketName: sourceBucket ? sourceBucket.bucketName : this.source.bucketName,
      // Literal ARN: the plan shows exactly which bucket may invoke the function.
      bucketArn: this.source.bucketArn,
      bucketOwnerAccountId: accountId,
      alias: this.indexer.alias,
      rules: this.rules,
      dependsOn: sourceBucket ? [sourceBucket.policy] : undefined,
    });

    if (props.alarms?.enabled ?? true) {
      this.alarms = new IndexerAlarms(this, "alarms", {
        ...props.alarms,
        namePrefix: props.namePrefix,
        functionName: this.indexer.function.functionName,
        failureQueueName: this.indexer.failureQueue.name,
      });
    }

    new TerraformOutput(this, "source_bucket", { value: this.source.bucketName, description: "Bucket whose uploads are indexed." });
    new TerraformOutput(this, "index_bucket", { value: this.indexBucketName, description: "Bucket that holds the index records." });
    new TerraformOutput(this, "index_prefix", { value: this.indexPrefix, description: "Key prefix of the index records." });
    new TerraformOutput(this, "function_name", { value: this.indexer.function.functionName, description: "Name of the indexer function." });
    new TerraformOutput(this, "alias_arn", { value: this.indexer.alias.arn, description: "ARN of the alias S3 invokes." });
    new TerraformOutput(this, "failure_queue_url", { value: this.indexer.failureQueue.url, description: "Queue that keeps events the function failed on." });
    new TerraformOutput(this, "log_group", { value: this.indexer.logGroup.name, description: "Log group of the function." });
  }

  private configureBackend(stackId: string, region: string, backend: BackendProps): void {
    if (backend.type === "local") {
      // Relative, so no absolute path of this machine lands in cdk.tf.json; the state lives in the project
      // root, where a fresh synth does not wipe it.
      new LocalBackend(this, { path: backend.path ?? `../../../terraform.${stackId}.tfstate` });
      return;
    }
    validateBucketName("backend.bucket", backend.bucket);
    const s3 = new S3Backend(this, {
      bucket: backend.bucket,
      key: backend.key ?? `${stackId}/terraform.tfstate`,
      region: backend.region ?? region,
      encrypt: true,
    });
    if (backend.useLockfile ?? true) s3.addOverride("use_lockfile", true);
  }
}
