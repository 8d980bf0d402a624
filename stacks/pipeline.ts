/**
 * The resolved pipeline: the stack's props turned, once, into every name, ARN, rule and setting the
 * stack is built from, with every default applied and every check run. Pure: no construct, no synth.
 *
 * The stack and its constructs only assemble resources from a `Pipeline`; the role's statements are a
 * pure function of it (iam.ts); the tools (local mode, the index CLI) read it instead of synthesizing.
 * Each default is written here once, on the prop it belongs to, with its reason.
 */
import {
  contractEnvironment,
  DEFAULT_EVENTS,
  DEFAULT_READ,
  READ_LIMITS,
  DIGEST_WORKER_SETTINGS,
  type DigestWorkerSetting,
  DEFAULT_INDEX_PREFIX,
  DEFAULT_SOURCE_PREFIX,
  INDEX_RECORD_SUFFIX,
  INDEXED_EVENT_TYPES,
} from "../lambda/contract";
import type { AlarmsProps } from "./constructs/alarms";
import type { LifecycleProps } from "./constructs/bucket-lifecycle";
import {
  ConfigurationError,
  eventsOverlap,
  validateAccountId,
  validateAliasName,
  validateBucketName,
  validateIndexPrefix,
  validateIntegerRange,
  validateKmsKeyArn,
  validateLogRetention,
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
  /** S3 event types. @default ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"] */
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
  /** Allow `terraform destroy` to delete a bucket with objects in it. @default false (a destroy never deletes data) */
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
  /**
   * With `delivery: "eventbridge"`: whether the stack turns on the bucket's EventBridge delivery
   * ("enable": an aws_s3_bucket_notification with `eventbridge = true`, which, like every notification
   * resource, owns the bucket's whole notification configuration) or finds it on already
   * ("already-enabled": the stack writes nothing to the bucket at all).
   * @default "enable"
   */
  readonly eventBridge?: "enable" | "already-enabled";
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
  /** Allow `terraform destroy` to delete the index with records in it. @default false (a destroy never deletes data) */
  readonly forceDestroy?: boolean;
}

/** Settings of the indexer function, each with its default and the reason for it. */
export interface FunctionSettings {
  /**
   * Memory of the function in MiB, from 128 to 10240. CPU grows with it (1 vCPU at 1,769 MB), and below
   * about 1 vCPU a read is bound by CPU, not by S3: the reader spends about 2–3 ms of CPU per MiB over TLS
   * receiving, hashing SHA-256 and verifying CRC64NVME (`npm run bench` on a 2-core machine), so 512 MB
   * (0.29 vCPU) reads about 100–150 MiB/s, and from about 1,300–1,800 MB the 4 connections of
   * readConcurrency (about 320 MiB/s) are the limit. 512 keeps small objects cheap; raise it where objects
   * are large.
   * @default 512
   */
  readonly memorySize?: number;
  /** Timeout in seconds, from 1 to 900. Hashing streams at roughly network speed. @default 300 */
  readonly timeoutSeconds?: number;
  /** Instruction set. arm64 (Graviton) costs less per GB-second. @default "arm64" */
  readonly architecture?: "arm64" | "x86_64";
  /** Days CloudWatch keeps the function's logs (a value CloudWatch accepts). @default 30 */
  readonly logRetentionDays?: number;
  /** Name of the alias that S3 invokes. @default "live" */
  readonly aliasName?: string;
  /** Retries of a failed asynchronous invocation, 0 to 2. @default 2 (Lambda's maximum) */
  readonly maxRetryAttempts?: number;
  /** Age in seconds after which an event is no longer retried, 60 to 21600. @default 3600 */
  readonly maxEventAgeSeconds?: number;
  /**
   * AWS X-Ray tracing: "Active" samples and records traces (adds the X-Ray write actions, which have no
   * resource-level permissions and so are granted on "*"); "PassThrough" only forwards an upstream trace.
   * @default "PassThrough" (no "*" in the role)
   */
  readonly tracing?: "Active" | "PassThrough";
  /**
   * Concurrent executions reserved for (and capping) the function. Reserving needs account concurrency to
   * spare (new accounts have 10): leave unset there.
   * @default undefined (unreserved: shares the account's pool)
   */
  readonly reservedConcurrency?: number;
  /** Days the failure queue keeps failed events, 1 to 14. @default 14 (SQS's maximum: time to look and replay) */
  readonly failureRetentionDays?: number;
  /**
   * Objects larger than this, in MiB, are read as parallel `Range` GETs of this size (smaller ones with one
   * GET), 1 to 1024. AWS's guidance for byte-range GETs is 8–16 MB: large enough that the per-request cost
   * is small, small enough that a retried part costs little.
   * @default 16
   */
  readonly readPartSizeMiB?: number;
  /**
   * `Range` GETs of one object in flight at most, 1 to 64. One S3 connection delivers about 85–90 MB/s, so
   * 4 reach about 340 MB/s, what about 1,300–1,800 MB of memory receives and hashes (see memorySize); memory holds
   * readConcurrency part buffers of readPartSizeMiB (64 MiB by default), which must stay within half of
   * memorySize, and 256 KiB per open connection.
   * @default 4
   */
  readonly readConcurrency?: number;
  /**
   * Whether reads hash on a worker thread: the verifying checksum (CRC64NVME, CRC32C, …) on a second core
   * while the read's thread receives bytes and computes SHA-256, so that verifying slows the pass less (with
   * a free second core: SHA-256 + CRC64NVME from about 0.5× to 0.7–0.9× SHA-256 alone, `npm run bench`). "auto" does when the function has a second vCPU: Lambda gives 1 vCPU per 1,769 MB, so
   * from a memorySize of 3,538 MB; below that a second thread only adds copies. "on" or "off" decides.
   * @default "auto"
   */
  readonly digestWorker?: DigestWorkerSetting;
  /** Extra environment variables of the function (never secrets: they are plain text in state). @default {} */
  readonly environment?: Record<string, string>;
}

/** The role S3 Batch Operations jobs assume to backfill the index (`npm run index -- backfill --batch`). */
export interface BatchOperationsProps {
  /**
   * Key prefix, in the index bucket, of the manifests the job generator writes and the completion reports
   * the jobs write: the only places the role may write. Must not be inside the index prefix.
   * @default "batch-operations/"
   */
  readonly reportPrefix?: string;
  /**
   * Where your S3 Inventory reports of the source bucket are delivered (`s3://bucket/prefix/`), for
   * `backfill --batch --manifest`: the role may read the manifests and their data files there, nothing else.
   * @default undefined: jobs list the bucket with a manifest generator, and --manifest is refused
   */
  readonly inventoryLocation?: string;
}

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
  /** AWS region; the partition of every ARN follows from it (aws, aws-cn, aws-us-gov, …). @default "us-east-1" */
  readonly region?: string;
  /**
   * The account deployed to. Used as the permission's `source_account` for a created bucket, and to write
   * the log group and queue ARNs of the role's policy out in the plan.
   * @default undefined: derived at apply from the function's ARN, so no AWS call is needed to plan
   */
  readonly accountId?: string;
  /** The source bucket created by the stack. Ignored when `existingSourceBucket` is set. @default a new "<namePrefix>-source" */
  readonly sourceBucket?: SourceBucketProps;
  /** Attach to a bucket that exists instead of creating one (read docs/deploy.md, "Attaching to an existing bucket", first). @default undefined */
  readonly existingSourceBucket?: ExistingSourceBucketProps;
  /** Where index records are written. @default a new "<namePrefix>-index" bucket, prefix "index/" */
  readonly index?: IndexBucketProps;
  /** Notification rules. @default [{ prefix: "incoming/", events: ObjectCreated:*, ObjectRemoved:* and LifecycleExpiration:* }] */
  readonly triggers?: readonly TriggerProps[];
  /**
   * How S3 events reach the function. "notification": the bucket's notification configuration invokes the
   * alias (one configuration per bucket, owned whole by this stack). "eventbridge": the bucket sends its
   * events to EventBridge and one EventBridge rule per trigger invokes the alias, so other consumers of
   * the bucket's events add rules of their own without touching the bucket (see docs/deploy.md).
   * @default "notification"
   */
  readonly delivery?: "notification" | "eventbridge";
  /** Backfill on S3 Batch Operations: the role a Batch Operations job assumes. @default undefined (no role) */
  readonly batchOperations?: BatchOperationsProps;
  /** CloudWatch alarms on failed, dropped and throttled events. @default on, notifying nobody: see AlarmsProps */
  readonly alarms?: AlarmsProps;
  /** Lifecycle rules of the created buckets. @default see LifecycleProps (7 days, 30 days) */
  readonly lifecycle?: LifecycleProps;
  /** Settings of the function. @default see FunctionSettings */
  readonly function?: FunctionSettings;
  /** Tags on every resource, through the provider's default_tags. @default { application: "s3-checksum-index" } */
  readonly tags?: Record<string, string>;
  /** Terraform state backend. @default { type: "local" } */
  readonly backend?: BackendProps;
}

/** A notification rule with its defaults applied and its id in the notification configuration. */
export interface ResolvedRule extends TriggerRule {
  readonly id: string;
}

export interface ResolvedBucket {
  readonly name: string;
  readonly arn: string;
  readonly versioned: boolean;
  readonly kmsKeyArn?: string;
}

export interface ResolvedSource extends ResolvedBucket {
  /** The bucket exists outside the stack: only its notification is managed. */
  readonly existing: boolean;
  readonly forceDestroy: boolean;
  /** The account that owns the bucket, when known before apply. */
  readonly ownerAccountId?: string;
}

export interface ResolvedIndex extends ResolvedBucket {
  readonly prefix: string;
  readonly forceDestroy: boolean;
  /** The index lives in the source bucket (outside what the triggers watch): no bucket of its own. */
  readonly sharesSource: boolean;
}

export interface ResolvedFunction extends Required<Omit<FunctionSettings, "reservedConcurrency">> {
  readonly reservedConcurrency?: number;
  readonly name: string;
  readonly roleName: string;
  readonly logGroupName: string;
  readonly queueName: string;
  /** Every environment variable of the function: the extra ones, then the contract's. */
  readonly environment: Record<string, string>;
  /** KMS keys the function decrypts and encrypts with (source, then index), without repeats. */
  readonly kmsKeyArns: readonly string[];
}

/** One EventBridge rule: the trigger rule it stands for, its name and its event pattern. */
export interface ResolvedEventBridgeRule {
  readonly trigger: ResolvedRule;
  readonly name: string;
  readonly pattern: EventPattern;
}

export interface ResolvedDelivery {
  readonly mode: "notification" | "eventbridge";
  /** EventBridge mode: the stack turns on the bucket's EventBridge delivery (else it is on already). */
  readonly manageBucketSetting: boolean;
  /** EventBridge mode: one rule per trigger rule. */
  readonly eventBridgeRules: readonly ResolvedEventBridgeRule[];
}

export interface ResolvedBatchOperations {
  readonly roleName: string;
  /** Prefix of generated manifests and completion reports, in the index bucket. */
  readonly reportPrefix: string;
  /** Where the source's S3 Inventory reports are, if jobs may use them as manifests. */
  readonly inventory?: { readonly bucket: string; readonly prefix: string; readonly arn: string };
}

export type ResolvedBackend =
  | { readonly type: "local"; readonly path: string }
  | { readonly type: "s3"; readonly bucket: string; readonly key: string; readonly region: string; readonly useLockfile: boolean };

export interface Pipeline {
  readonly stack: string;
  readonly namePrefix: string;
  readonly region: string;
  /** The AWS partition of the region: the second field of every ARN. */
  readonly partition: string;
  readonly accountId?: string;
  readonly tags: Record<string, string>;
  readonly backend: ResolvedBackend;
  readonly source: ResolvedSource;
  readonly index: ResolvedIndex;
  readonly rules: readonly ResolvedRule[];
  readonly delivery: ResolvedDelivery;
  readonly batchOperations?: ResolvedBatchOperations;
  readonly function: ResolvedFunction;
  /** Every bucket the stack creates. */
  readonly buckets: readonly string[];
  /** What the user should know before applying (also raised as synth warnings). */
  readonly warnings: readonly string[];
}

/** Defaults that are not per-prop: written once, read by the resolver and the docs. */
export const DEFAULTS = {
  region: "us-east-1",
  tags: { application: "s3-checksum-index" },
  function: {
    memorySize: 512,
    timeoutSeconds: 300,
    architecture: "arm64",
    logRetentionDays: 30,
    aliasName: "live",
    maxRetryAttempts: 2,
    maxEventAgeSeconds: 3600,
    tracing: "PassThrough",
    failureRetentionDays: 14,
    readPartSizeMiB: DEFAULT_READ.partSizeMiB,
    readConcurrency: DEFAULT_READ.concurrency,
    digestWorker: "auto",
  },
} as const;

/** Regions whose partition is not "aws", by prefix, as AWS names them. */
const PARTITIONS: ReadonlyArray<[RegExp, string]> = [
  [/^cn-/, "aws-cn"],
  [/^us-gov-/, "aws-us-gov"],
  [/^us-isob-/, "aws-iso-b"],
  [/^us-isof-/, "aws-iso-f"],
  [/^eu-isoe-/, "aws-iso-e"],
  [/^us-iso-/, "aws-iso"],
];

/** The partition of a region: "aws" for commercial regions, "aws-cn" for China, "aws-us-gov" for GovCloud, … */
export function partitionOf(region: string): string {
  return PARTITIONS.find(([pattern]) => pattern.test(region))?.[1] ?? "aws";
}

export const bucketArn = (partition: string, name: string) => `arn:${partition}:s3:::${name}`;

/** Whether a rule sends this event (type, prefix and suffix), as S3 matches it. */
export function ruleMatches(rule: TriggerRule, eventName: string, key: string): boolean {
  const type = eventName.startsWith("s3:") ? eventName : `s3:${eventName}`;
  return key.startsWith(rule.prefix) && key.endsWith(rule.suffix) && rule.events.some((e) => eventsOverlap(e, type));
}

/** The rule of the pipeline that sends this event of this bucket's key, if any. */
export function matchingRule(pipeline: Pipeline, bucket: string, eventName: string, key: string): ResolvedRule | undefined {
  if (bucket !== pipeline.source.name) return undefined;
  return pipeline.rules.find((rule) => ruleMatches(rule, eventName, key));
}

/** Resolves and validates a stack's props. Throws a ConfigurationError that says what to change. */
export function resolvePipeline(stack: string, props: ChecksumIndexStackProps): Pipeline {
  validateNamePrefix("namePrefix", props.namePrefix);
  const region = props.region ?? DEFAULTS.region;
  validateRegion("region", region);
  const partition = partitionOf(region);
  validateAccountId("accountId", props.accountId);
  if (props.existingSourceBucket && props.sourceBucket) {
    throw new ConfigurationError("Both sourceBucket and existingSourceBucket are set: keep only one of them.");
  }
  const warnings: string[] = [];

  const source = resolveSource(props, partition, warnings, stack);
  const rules: ResolvedRule[] = (props.triggers ?? [{}]).map((t, i) => ({
    id: `checksum-index-${i}`,
    prefix: t.prefix ?? DEFAULT_SOURCE_PREFIX,
    suffix: t.suffix ?? "",
    events: [...(t.events ?? DEFAULT_EVENTS)],
  }));
  validateTriggerRules("triggers", rules);

  const indexPrefix = props.index?.prefix ?? DEFAULT_INDEX_PREFIX;
  validateIndexPrefix("index.prefix", indexPrefix);
  const indexName = props.index?.name ?? `${props.namePrefix}-index`;
  validateBucketName("index.name", indexName);
  validateKmsKeyArn("index.kmsKeyArn", props.index?.kmsKeyArn);
  validateNoSelfTrigger(source.name, indexName, indexPrefix, INDEX_RECORD_SUFFIX, rules);
  const sharesSource = indexName === source.name;
  const index: ResolvedIndex = sharesSource
    ? { name: indexName, arn: source.arn, prefix: indexPrefix, versioned: source.versioned, kmsKeyArn: source.kmsKeyArn, forceDestroy: source.forceDestroy, sharesSource }
    : {
        name: indexName,
        arn: bucketArn(partition, indexName),
        prefix: indexPrefix,
        versioned: props.index?.versioned ?? false,
        kmsKeyArn: props.index?.kmsKeyArn,
        forceDestroy: props.index?.forceDestroy ?? false,
        sharesSource,
      };

  const fn = resolveFunction(props.namePrefix, props.function ?? {}, index, source);
  const delivery = resolveDelivery(props, source, rules);
  const batchOperations = resolveBatchOperations(props, index, rules, partition);
  const buckets = [...(source.existing ? [] : [source.name]), ...(sharesSource ? [] : [index.name])];

  return {
    stack,
    namePrefix: props.namePrefix,
    region,
    partition,
    accountId: props.accountId,
    tags: props.tags ?? { ...DEFAULTS.tags },
    backend: resolveBackend(stack, region, props.backend ?? { type: "local" }),
    source,
    index,
    rules,
    delivery,
    batchOperations,
    function: fn,
    buckets,
    warnings,
  };
}

function resolveSource(props: ChecksumIndexStackProps, partition: string, warnings: string[], stack: string): ResolvedSource {
  const existing = props.existingSourceBucket;
  if (existing) {
    validateBucketName("existingSourceBucket.name", existing.name);
    validateAccountId("existingSourceBucket.ownerAccountId", existing.ownerAccountId);
    validateKmsKeyArn("existingSourceBucket.kmsKeyArn", existing.kmsKeyArn);
    const writesNotification = props.delivery !== "eventbridge" || (existing.eventBridge ?? "enable") === "enable";
    if (writesNotification) warnings.push(
      `Stack ${stack} attaches to the existing bucket "${existing.name}". Terraform's aws_s3_bucket_notification ` +
        `owns the bucket's WHOLE notification configuration: applying it removes every notification that other ` +
        `tools or stacks set on "${existing.name}", and destroying the stack removes them all. See docs/deploy.md, ` +
        `"Attaching to an existing bucket".` +
        (props.delivery === "eventbridge"
          ? ` With delivery "eventbridge", set existingSourceBucket.eventBridge to "already-enabled" once the bucket sends its events to EventBridge: the stack then writes nothing to the bucket.`
          : ""),
    );
    return {
      name: existing.name,
      arn: bucketArn(partition, existing.name),
      existing: true,
      versioned: existing.versioned,
      kmsKeyArn: existing.kmsKeyArn,
      forceDestroy: false,
      ownerAccountId: existing.ownerAccountId ?? props.accountId,
    };
  }
  const name = props.sourceBucket?.name ?? `${props.namePrefix}-source`;
  validateBucketName("sourceBucket.name", name);
  validateKmsKeyArn("sourceBucket.kmsKeyArn", props.sourceBucket?.kmsKeyArn);
  return {
    name,
    arn: bucketArn(partition, name),
    existing: false,
    versioned: props.sourceBucket?.versioned ?? false,
    kmsKeyArn: props.sourceBucket?.kmsKeyArn,
    forceDestroy: props.sourceBucket?.forceDestroy ?? false,
    ownerAccountId: props.accountId,
  };
}

function resolveFunction(namePrefix: string, settings: FunctionSettings, index: ResolvedIndex, source: ResolvedSource): ResolvedFunction {
  const d = DEFAULTS.function;
  const resolved = {
    memorySize: settings.memorySize ?? d.memorySize,
    timeoutSeconds: settings.timeoutSeconds ?? d.timeoutSeconds,
    architecture: settings.architecture ?? d.architecture,
    logRetentionDays: settings.logRetentionDays ?? d.logRetentionDays,
    aliasName: settings.aliasName ?? d.aliasName,
    maxRetryAttempts: settings.maxRetryAttempts ?? d.maxRetryAttempts,
    maxEventAgeSeconds: settings.maxEventAgeSeconds ?? d.maxEventAgeSeconds,
    tracing: settings.tracing ?? d.tracing,
    reservedConcurrency: settings.reservedConcurrency,
    failureRetentionDays: settings.failureRetentionDays ?? d.failureRetentionDays,
    readPartSizeMiB: settings.readPartSizeMiB ?? d.readPartSizeMiB,
    readConcurrency: settings.readConcurrency ?? d.readConcurrency,
    digestWorker: settings.digestWorker ?? d.digestWorker,
  };
  validateIntegerRange("function.memorySize", resolved.memorySize, 128, 10240, "MiB");
  validateIntegerRange("function.timeoutSeconds", resolved.timeoutSeconds, 1, 900, "seconds");
  validateLogRetention("function.logRetentionDays", resolved.logRetentionDays);
  validateAliasName("function.aliasName", resolved.aliasName);
  validateIntegerRange("function.maxRetryAttempts", resolved.maxRetryAttempts, 0, 2);
  validateIntegerRange("function.maxEventAgeSeconds", resolved.maxEventAgeSeconds, 60, 21600, "seconds");
  validateIntegerRange("function.failureRetentionDays", resolved.failureRetentionDays, 1, 14, "days");
  validateIntegerRange("function.readPartSizeMiB", resolved.readPartSizeMiB, READ_LIMITS.partSizeMiB[0], READ_LIMITS.partSizeMiB[1], "MiB");
  validateIntegerRange("function.readConcurrency", resolved.readConcurrency, READ_LIMITS.concurrency[0], READ_LIMITS.concurrency[1]);
  if (resolved.readPartSizeMiB * resolved.readConcurrency > resolved.memorySize / 2) {
    throw new ConfigurationError(
      `function.readConcurrency × function.readPartSizeMiB is ${resolved.readPartSizeMiB * resolved.readConcurrency} MiB, more than half of function.memorySize (${resolved.memorySize} MiB): ` +
        `lower one of them or raise memorySize.`,
    );
  }
  if (!(DIGEST_WORKER_SETTINGS as readonly string[]).includes(resolved.digestWorker)) {
    throw new ConfigurationError(`function.digestWorker is "${resolved.digestWorker}": use ${DIGEST_WORKER_SETTINGS.map((v) => `"${v}"`).join(", ")}.`);
  }
  if (resolved.reservedConcurrency !== undefined) validateIntegerRange("function.reservedConcurrency", resolved.reservedConcurrency, 0, 1000);
  if (resolved.architecture !== "arm64" && resolved.architecture !== "x86_64") {
    throw new ConfigurationError(`function.architecture is "${resolved.architecture}": use "arm64" or "x86_64".`);
  }
  if (resolved.tracing !== "Active" && resolved.tracing !== "PassThrough") {
    throw new ConfigurationError(`function.tracing is "${resolved.tracing}": use "Active" or "PassThrough".`);
  }

  const contract = contractEnvironment({
    indexBucket: index.name,
    indexPrefix: index.prefix,
    readPartSizeMiB: resolved.readPartSizeMiB,
    readConcurrency: resolved.readConcurrency,
    continuationAlias: resolved.aliasName,
    digestWorker: resolved.digestWorker,
  });
  for (const name of Object.keys(settings.environment ?? {})) {
    if (name in contract) throw new ConfigurationError(`function.environment sets ${name}, which the stack sets itself: remove it from function.environment.`);
  }
  const name = `${namePrefix}-indexer`;
  return {
    ...resolved,
    name,
    roleName: name,
    logGroupName: `/aws/lambda/${name}`,
    queueName: `${name}-failures`,
    environment: { ...(settings.environment ?? {}), ...contract },
    kmsKeyArns: [...new Set([source.kmsKeyArn, index.sharesSource ? undefined : index.kmsKeyArn].filter((k): k is string => k !== undefined))],
  };
}

function resolveBackend(stack: string, region: string, backend: BackendProps): ResolvedBackend {
  if (backend.type === "local") {
    // Relative, so no absolute path of this machine lands in cdk.tf.json; the state lives in the project
    // root, where a fresh synth does not wipe it.
    return { type: "local", path: backend.path ?? `../../../terraform.${stack}.tfstate` };
  }
  validateBucketName("backend.bucket", backend.bucket);
  return {
    type: "s3",
    bucket: backend.bucket,
    key: backend.key ?? `${stack}/terraform.tfstate`,
    region: backend.region ?? region,
    useLockfile: backend.useLockfile ?? true,
  };
}

/** One alternative of an EventBridge event pattern for S3 events. */
export interface EventPatternAlternative {
  readonly "detail-type": readonly string[];
  readonly detail: Record<string, unknown>;
}

/** An EventBridge event pattern (the subset this stack writes): one alternative, or several under `$or`. */
export type EventPattern =
  | ({ readonly source: readonly ["aws.s3"] } & EventPatternAlternative)
  | { readonly source: readonly ["aws.s3"]; readonly $or: readonly EventPatternAlternative[] };

/**
 * How each S3 notification event type is expressed as EventBridge matches it: the detail type, and the
 * detail fields that narrow it (S3's EventBridge events carry `reason` and, for deletions, `deletion-type`).
 */
const EVENTBRIDGE_TYPES: Record<(typeof INDEXED_EVENT_TYPES)[number], { detailType: string; detail?: Record<string, readonly string[]> }> = {
  "s3:ObjectCreated:*": { detailType: "Object Created" },
  "s3:ObjectCreated:Put": { detailType: "Object Created", detail: { reason: ["PutObject"] } },
  "s3:ObjectCreated:Post": { detailType: "Object Created", detail: { reason: ["POST Object"] } },
  "s3:ObjectCreated:Copy": { detailType: "Object Created", detail: { reason: ["CopyObject"] } },
  "s3:ObjectCreated:CompleteMultipartUpload": { detailType: "Object Created", detail: { reason: ["CompleteMultipartUpload"] } },
  "s3:ObjectRemoved:*": { detailType: "Object Deleted", detail: { reason: ["DeleteObject"] } },
  "s3:ObjectRemoved:Delete": { detailType: "Object Deleted", detail: { reason: ["DeleteObject"], "deletion-type": ["Permanently Deleted"] } },
  "s3:ObjectRemoved:DeleteMarkerCreated": { detailType: "Object Deleted", detail: { reason: ["DeleteObject"], "deletion-type": ["Delete Marker Created"] } },
  "s3:LifecycleExpiration:*": { detailType: "Object Deleted", detail: { reason: ["Lifecycle Expiration"] } },
  "s3:LifecycleExpiration:Delete": { detailType: "Object Deleted", detail: { reason: ["Lifecycle Expiration"], "deletion-type": ["Permanently Deleted"] } },
  "s3:LifecycleExpiration:DeleteMarkerCreated": { detailType: "Object Deleted", detail: { reason: ["Lifecycle Expiration"], "deletion-type": ["Delete Marker Created"] } },
};

/**
 * How S3 describes one event in EventBridge: the detail type and the detail fields that the event type
 * stands for (the inverse of the patterns above, for an event of one specific type such as ObjectCreated:Put).
 */
export function eventBridgeFormOf(eventName: string): { detailType: string; reason: string; deletionType?: string } | undefined {
  const type = EVENTBRIDGE_TYPES[(eventName.startsWith("s3:") ? eventName : `s3:${eventName}`) as (typeof INDEXED_EVENT_TYPES)[number]];
  const reason = type?.detail?.reason?.[0];
  if (!type || !reason) return undefined;
  return { detailType: type.detailType, reason, deletionType: type.detail?.["deletion-type"]?.[0] };
}

/** EventBridge's wildcard filter treats "*" and "\\" specially: escape them in literal parts. */
const wildcardLiteral = (text: string) => text.replace(/[\\*]/g, (c) => `\\${c}`);

/**
 * The EventBridge pattern of one trigger rule: S3 events of the bucket whose key has the rule's prefix and
 * suffix, of the rule's event types. Event types matched whole share one alternative; each narrower one
 * (a reason, a deletion type) is an alternative of its own, under a top-level `$or`.
 */
export function eventPattern(bucket: string, rule: TriggerRule): EventPattern {
  const types = rule.events.map((event) => {
    const type = EVENTBRIDGE_TYPES[event as (typeof INDEXED_EVENT_TYPES)[number]];
    if (!type) throw new ConfigurationError(`triggers: "${event}" cannot be routed through EventBridge: use one of ${INDEXED_EVENT_TYPES.join(", ")}.`);
    return type;
  });
  const object: Record<string, unknown> = {};
  if (rule.prefix !== "" && rule.suffix !== "") {
    // S3 tests prefix and suffix independently: "data." and ".csv" both hold for "data.csv", which the
    // wildcard "data.*.csv" does not match. Such keys (prefix and suffix overlapping) are few: list them.
    const overlapping: string[] = [];
    for (let k = 1; k <= Math.min(rule.prefix.length, rule.suffix.length); k++) {
      if (rule.prefix.endsWith(rule.suffix.slice(0, k))) overlapping.push(rule.prefix + rule.suffix.slice(k));
    }
    object.key = [{ wildcard: `${wildcardLiteral(rule.prefix)}*${wildcardLiteral(rule.suffix)}` }, ...overlapping];
  } else if (rule.prefix !== "") object.key = [{ prefix: rule.prefix }];
  else if (rule.suffix !== "") object.key = [{ suffix: rule.suffix }];
  const base: Record<string, unknown> = { bucket: { name: [bucket] }, ...(Object.keys(object).length > 0 ? { object } : {}) };

  // A type matched whole (ObjectCreated:*) makes its narrower forms redundant; so does a reason matched
  // for every deletion type (ObjectRemoved:*) for that reason's narrower forms.
  const whole = [...new Set(types.filter((t) => t.detail === undefined).map((t) => t.detailType))];
  const anyDeletion = new Set(types.filter((t) => t.detail && !t.detail["deletion-type"]).flatMap((t) => [...t.detail!.reason]));
  const narrowed = types.filter(
    (t) => t.detail !== undefined && !whole.includes(t.detailType) && !(t.detail["deletion-type"] && t.detail.reason.every((r) => anyDeletion.has(r))),
  );
  // Narrower types of one detail type and one deletion type share an alternative (their reasons joined):
  // the union of their events is exactly the cross product of the reasons and that deletion type.
  const groups = new Map<string, { detailType: string; reasons: Set<string>; deletionType?: readonly string[] }>();
  for (const t of narrowed) {
    const deletionType = t.detail!["deletion-type"];
    const key = `${t.detailType}|${JSON.stringify(deletionType ?? null)}`;
    const group = groups.get(key) ?? { detailType: t.detailType, reasons: new Set<string>(), deletionType };
    for (const reason of t.detail!.reason) group.reasons.add(reason);
    groups.set(key, group);
  }
  const alternatives: EventPatternAlternative[] = whole.length > 0 ? [{ "detail-type": whole, detail: base }] : [];
  for (const group of groups.values()) {
    alternatives.push({
      "detail-type": [group.detailType],
      detail: { ...base, reason: [...group.reasons], ...(group.deletionType ? { "deletion-type": [...group.deletionType] } : {}) },
    });
  }
  const pattern: EventPattern = alternatives.length === 1 ? { source: ["aws.s3"], ...alternatives[0] } : { source: ["aws.s3"], $or: alternatives };
  const size = JSON.stringify(pattern).length;
  if (size > EVENT_PATTERN_MAX_CHARS) {
    throw new ConfigurationError(
      `triggers: the EventBridge pattern of the rule with prefix "${rule.prefix}" and suffix "${rule.suffix}" is ${size} characters, ` +
        `over EventBridge's default limit of ${EVENT_PATTERN_MAX_CHARS}: use shorter filters or fewer event types (such as "s3:ObjectCreated:*").`,
    );
  }
  return pattern;
}

/** EventBridge's default quota for an event pattern's length, in characters. */
export const EVENT_PATTERN_MAX_CHARS = 2048;

/** Whether an EventBridge S3 event matches a pattern: the same rules as EventBridge, for the subset above. */
export function eventMatchesPattern(pattern: EventPattern, event: { "detail-type": string; detail: Record<string, any> }): boolean {
  const alternatives = "$or" in pattern ? pattern.$or : [pattern];
  return alternatives.some((alt) => alt["detail-type"].includes(event["detail-type"]) && detailMatches(alt.detail, event.detail));
}

function detailMatches(filter: Record<string, unknown>, value: Record<string, any> | undefined): boolean {
  return Object.entries(filter).every(([field, condition]) => {
    const actual = value?.[field];
    if (!Array.isArray(condition)) return typeof condition === "object" && condition !== null && detailMatches(condition as Record<string, unknown>, actual);
    return condition.some((c) => {
      if (typeof c === "string") return actual === c;
      if (typeof actual !== "string") return false;
      if ("prefix" in c) return actual.startsWith(c.prefix);
      if ("suffix" in c) return actual.endsWith(c.suffix);
      if ("wildcard" in c) return wildcardRegex(c.wildcard).test(actual);
      return false;
    });
  });
}

function wildcardRegex(wildcard: string): RegExp {
  let source = "";
  for (let i = 0; i < wildcard.length; i++) {
    const c = wildcard[i];
    if (c === "\\") source += wildcard[++i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    else if (c === "*") source += "[\\s\\S]*";
    else source += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

function resolveDelivery(props: ChecksumIndexStackProps, source: ResolvedSource, rules: readonly ResolvedRule[]): ResolvedDelivery {
  const mode = props.delivery ?? "notification";
  if (mode !== "notification" && mode !== "eventbridge") {
    throw new ConfigurationError(`delivery is "${mode}": use "notification" or "eventbridge".`);
  }
  const setting = props.existingSourceBucket?.eventBridge ?? "enable";
  if (setting !== "enable" && setting !== "already-enabled") {
    throw new ConfigurationError(`existingSourceBucket.eventBridge is "${setting}": use "enable" or "already-enabled".`);
  }
  if (props.existingSourceBucket?.eventBridge !== undefined && mode !== "eventbridge") {
    throw new ConfigurationError(`existingSourceBucket.eventBridge is set but delivery is "${mode}": set delivery to "eventbridge", or remove existingSourceBucket.eventBridge.`);
  }
  if (mode === "notification") return { mode, manageBucketSetting: false, eventBridgeRules: [] };
  const owner = props.existingSourceBucket?.ownerAccountId;
  if (owner !== undefined && props.accountId !== undefined && owner !== props.accountId) {
    throw new ConfigurationError(
      `delivery is "eventbridge" but the bucket's owner (${owner}) is not the stack's account (${props.accountId}): S3 sends its ` +
        `EventBridge events only to the default event bus of the bucket owner's account, where this stack's rules are not. ` +
        `Use delivery "notification", or forward the events from the owner's bus to this account's bus and deploy the rules there.`,
    );
  }
  return {
    mode,
    manageBucketSetting: !source.existing || setting === "enable",
    eventBridgeRules: rules.map((rule, i) => ({
      trigger: rule,
      name: `${props.namePrefix}-indexer-${i}`,
      pattern: eventPattern(source.name, rule),
    })),
  };
}

function resolveBatchOperations(props: ChecksumIndexStackProps, index: ResolvedIndex, rules: readonly ResolvedRule[], partition: string): ResolvedBatchOperations | undefined {
  if (!props.batchOperations) return undefined;
  const reportPrefix = props.batchOperations.reportPrefix ?? "batch-operations/";
  validateIndexPrefix("batchOperations.reportPrefix", reportPrefix);
  if (reportPrefix === "" || reportPrefix.startsWith(index.prefix) || index.prefix.startsWith(reportPrefix)) {
    throw new ConfigurationError(
      `batchOperations.reportPrefix "${reportPrefix}" overlaps the index prefix "${index.prefix}": the role may write only outside the index records. Use for example "batch-operations/".`,
    );
  }
  if (index.sharesSource) {
    // Reports and manifests are written into the source bucket then: no trigger may watch them.
    const watching = rules.findIndex(
      (rule) => rule.events.some((e) => e.startsWith("s3:ObjectCreated:")) && (rule.prefix.startsWith(reportPrefix) || reportPrefix.startsWith(rule.prefix)),
    );
    if (watching >= 0) {
      throw new ConfigurationError(
        `batchOperations.reportPrefix "${reportPrefix}" is in the source bucket (the index shares it) where triggers[${watching}] ` +
          `(prefix "${rules[watching].prefix}") watches: every completion report would invoke the function. Use a prefix no trigger's prefix starts.`,
      );
    }
  }
  let inventory: ResolvedBatchOperations["inventory"];
  const location = props.batchOperations.inventoryLocation;
  if (location !== undefined) {
    const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(location);
    if (!match) throw new ConfigurationError(`batchOperations.inventoryLocation "${location}" is not an S3 location: write it as s3://bucket/prefix/.`);
    validateBucketName("batchOperations.inventoryLocation", match[1]);
    inventory = { bucket: match[1], prefix: match[2], arn: bucketArn(partition, match[1]) };
  }
  return { roleName: `${props.namePrefix}-batch`, reportPrefix, inventory };
}
