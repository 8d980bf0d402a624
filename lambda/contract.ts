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
} as const;

/** Events the notification sends by default: every create and every removal. */
export const DEFAULT_EVENTS = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"] as const;

/** Prefix of the source objects that are indexed by default. */
export const DEFAULT_SOURCE_PREFIX = "incoming/";

/** Prefix of the index records inside the index bucket by default. */
export const DEFAULT_INDEX_PREFIX = "index/";

/** Every index record is a JSON document whose key ends with this suffix. */
export const INDEX_RECORD_SUFFIX = ".json";

/** Name of the function's entry point inside the bundle (`<file>.<export>`). */
export const HANDLER_ENTRY = "handler.handler";
