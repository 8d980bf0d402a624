/**
 * The contract between the stack and the function, written once.
 *
 * Pure constants and types only: `stacks/` imports this module, and it must never pull the AWS SDK
 * (or anything else with side effects) into the synthesizer.
 */

/** Environment variables the function reads at cold start. */
export const ENV = {
  /** Required. Name of the bucket that holds the index records. */
  indexBucket: "INDEX_BUCKET",
  /** Optional. Key prefix of every index record inside the index bucket. */
  indexPrefix: "INDEX_PREFIX",
  /** Optional, `true` or `false`. Path-style requests, for S3-compatible servers. */
  forcePathStyle: "S3_FORCE_PATH_STYLE",
  /** Optional, whole MiB. Objects larger than this are read as parallel `Range` GETs of this size. */
  readPartSizeMiB: "READ_PART_SIZE_MIB",
  /** Optional, 1 to 64. `Range` GETs of one object in flight at most. */
  readConcurrency: "READ_CONCURRENCY",
  /**
   * Optional. The alias the function invokes, asynchronously, to continue reading an object that one
   * invocation cannot finish (with AWS_LAMBDA_FUNCTION_NAME). Unset: objects must finish in one invocation.
   */
  continuationAlias: "CONTINUATION_ALIAS",
  /**
   * Optional, `auto`, `on` or `off`. Whether reads hash on a worker thread (digest-offload.ts): `auto`
   * does when the function has a second vCPU to do it with.
   */
  digestWorker: "DIGEST_WORKER",
} as const;

/** Values of the digest worker setting (ENV.digestWorker). */
export const DIGEST_WORKER_SETTINGS = ["auto", "on", "off"] as const;
export type DigestWorkerSetting = (typeof DIGEST_WORKER_SETTINGS)[number];

/**
 * How the function reads objects when its environment does not say (the stack always does): parts of
 * 16 MiB (AWS's guidance for byte-range GETs is 8–16 MB) with 4 in flight, so a read holds at most 64 MiB.
 */
export const DEFAULT_READ = { partSizeMiB: 16, concurrency: 4 } as const;

/** Bounds of the read settings: a part of at most 1 GiB, at most 64 GETs in flight. */
export const READ_LIMITS = { partSizeMiB: [1, 1024], concurrency: [1, 64] } as const;

/**
 * Events the notification sends by default: every create and every removal, including the removals S3's
 * lifecycle rules make (LifecycleExpiration:Delete and :DeleteMarkerCreated), which are not ObjectRemoved
 * events: without them an expired object would stay "present" in the index forever.
 */
export const DEFAULT_EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"] as const;

/**
 * Every S3 event type the function processes: creations, removals and lifecycle expirations. The stack
 * refuses a trigger rule with any other (the function would fail on its records).
 */
export const INDEXED_EVENT_TYPES = [
  "s3:ObjectCreated:*",
  "s3:ObjectCreated:Put",
  "s3:ObjectCreated:Post",
  "s3:ObjectCreated:Copy",
  "s3:ObjectCreated:CompleteMultipartUpload",
  "s3:ObjectRemoved:*",
  "s3:ObjectRemoved:Delete",
  "s3:ObjectRemoved:DeleteMarkerCreated",
  "s3:LifecycleExpiration:*",
  "s3:LifecycleExpiration:Delete",
  "s3:LifecycleExpiration:DeleteMarkerCreated",
] as const;

/** Prefix of the source objects that are indexed by default. */
export const DEFAULT_SOURCE_PREFIX = "incoming/";

/** Prefix of the index records inside the index bucket by default. */
export const DEFAULT_INDEX_PREFIX = "index/";

/** Every index record is a JSON document whose key ends with this suffix. */
export const INDEX_RECORD_SUFFIX = ".json";

/**
 * Under the index prefix, the state of reads that continue across invocations (continuation.ts): step
 * documents, claims and each chain's `done` marker. The stack expires what is left there (bucket-lifecycle.ts).
 */
export const CONTINUATIONS_FOLDER = "continuations/";

/**
 * The function's entry: its source file (relative to the project root), the name of the bundled file
 * (`<file>.js` inside the zip) and the exported function Lambda calls.
 */
export const HANDLER = { source: "lambda/handler.ts", file: "handler", export: "handler" } as const;

/**
 * The digest worker's entry: its source file and the name of its bundled file, beside the handler's in the
 * zip (`<file>.mjs`), and the workerData key that marks a thread as a digest worker.
 */
export const DIGEST_WORKER = { source: "lambda/digest-worker.ts", file: "digest-worker", mark: "s3ChecksumIndexDigestWorker" } as const;

/** Lambda's `handler` setting: `<file>.<export>`. */
export const HANDLER_ENTRY = `${HANDLER.file}.${HANDLER.export}`;

/** What the function needs to find its index; everything that runs the function builds its environment here. */
export interface IndexLocation {
  readonly indexBucket: string;
  readonly indexPrefix: string;
  /** Path-style requests, for S3-compatible servers. @default false (omitted) */
  readonly forcePathStyle?: boolean;
  /** Bytes of each `Range` GET, in MiB. @default DEFAULT_READ.partSizeMiB (omitted) */
  readonly readPartSizeMiB?: number;
  /** `Range` GETs in flight. @default DEFAULT_READ.concurrency (omitted) */
  readonly readConcurrency?: number;
  /** The alias a continuation invokes. @default undefined (no continuations; omitted) */
  readonly continuationAlias?: string;
  /** Whether reads hash on a worker thread. @default "auto" (omitted) */
  readonly digestWorker?: DigestWorkerSetting;
}

/** The contract's environment variables for an index location. */
export function contractEnvironment(location: IndexLocation): Record<string, string> {
  return {
    [ENV.indexBucket]: location.indexBucket,
    [ENV.indexPrefix]: location.indexPrefix,
    ...(location.forcePathStyle ? { [ENV.forcePathStyle]: "true" } : {}),
    ...(location.readPartSizeMiB !== undefined ? { [ENV.readPartSizeMiB]: String(location.readPartSizeMiB) } : {}),
    ...(location.readConcurrency !== undefined ? { [ENV.readConcurrency]: String(location.readConcurrency) } : {}),
    ...(location.continuationAlias !== undefined ? { [ENV.continuationAlias]: location.continuationAlias } : {}),
    ...(location.digestWorker !== undefined && location.digestWorker !== "auto" ? { [ENV.digestWorker]: location.digestWorker } : {}),
  };
}

/** Reserved prefixes and suffixes of general purpose bucket names, as S3 documents them. */
const RESERVED_BUCKET_PREFIXES = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_BUCKET_SUFFIXES = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/**
 * What is wrong with a bucket name under S3's naming rules for general purpose buckets, one phrase per
 * rule broken; empty when the name is valid. The one bucket-name rule of the project: the stack, the
 * function's cold start and the tools all ask it.
 */
export function bucketNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (name.length < 3 || name.length > 63) problems.push(`it is ${name.length} characters long, S3 allows 3 to 63`);
  if (!/^[a-z0-9.-]*$/.test(name)) problems.push("only lowercase letters, digits, dots and hyphens are allowed");
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) problems.push("it must begin and end with a letter or digit");
  if (name.includes("..")) problems.push("it must not contain two adjacent dots");
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) problems.push("it must not look like an IP address");
  for (const prefix of RESERVED_BUCKET_PREFIXES) if (name.startsWith(prefix)) problems.push(`the prefix "${prefix}" is reserved`);
  for (const suffix of RESERVED_BUCKET_SUFFIXES) if (name.endsWith(suffix)) problems.push(`the suffix "${suffix}" is reserved`);
  return problems;
}

/** The longest index prefix, in UTF-8 bytes: room is left for the record's own key under it (S3 keys are ≤ 1024). */
export const MAX_INDEX_PREFIX_BYTES = 512;

/** What is wrong with an index prefix, or undefined when it is valid. */
export function indexPrefixProblem(prefix: string): string | undefined {
  if (prefix.startsWith("/")) return `must not start with "/" (S3 keys have no leading slash)`;
  if (Buffer.byteLength(prefix) > MAX_INDEX_PREFIX_BYTES) return `must be at most ${MAX_INDEX_PREFIX_BYTES} bytes`;
  return undefined;
}
