/**
 * Where index records live in the index bucket. Every legal S3 key maps to a fixed-length index key
 * (source keys may be 1024 bytes, too long to embed under a prefix), so keys are named by the SHA-256 of
 * their UTF-8 bytes; the record itself holds the real key.
 *
 *   <prefix>objects/<bucket>/<sha256(key)>.json                       the key's current state (ordered by sequencer)
 *   <prefix>versions/<bucket>/<sha256(key)>/<versionId>.json          one record per version (versioned buckets)
 *   <prefix>by-sha256/<content sha256>/<bucket>/<sha256(key)>.json     content lookup (unversioned objects)
 *   <prefix>by-sha256/<content sha256>/<bucket>/<sha256(key)>/<versionId>.json   content lookup (versions)
 */
import { createHash } from "node:crypto";
import { INDEX_RECORD_SUFFIX } from "./contract";

export function keyId(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Version ids are URL-safe in S3, but encode them anyway: they become one path segment. */
function segment(value: string): string {
  return encodeURIComponent(value);
}

export interface IndexKeys {
  /** The key's current state: the newest event wins. */
  current(bucket: string, key: string): string;
  /** One version's record. */
  version(bucket: string, key: string, versionId: string): string;
  /** Content lookup entry of an object (or of one version of it). */
  content(sha256: string, bucket: string, key: string, versionId?: string): string;
  /** Prefix under which every object with this content is listed. */
  contentPrefix(sha256: string): string;
  /** Prefix of every current-state record of a bucket. */
  currentPrefix(bucket: string): string;
}

export function indexKeys(prefix: string): IndexKeys {
  return {
    current: (bucket, key) => `${prefix}objects/${bucket}/${keyId(key)}${INDEX_RECORD_SUFFIX}`,
    version: (bucket, key, versionId) => `${prefix}versions/${bucket}/${keyId(key)}/${segment(versionId)}${INDEX_RECORD_SUFFIX}`,
    content: (sha256, bucket, key, versionId) =>
      versionId === undefined
        ? `${prefix}by-sha256/${sha256}/${bucket}/${keyId(key)}${INDEX_RECORD_SUFFIX}`
        : `${prefix}by-sha256/${sha256}/${bucket}/${keyId(key)}/${segment(versionId)}${INDEX_RECORD_SUFFIX}`,
    contentPrefix: (sha256) => `${prefix}by-sha256/${sha256}/`,
    currentPrefix: (bucket) => `${prefix}objects/${bucket}/`,
  };
}
