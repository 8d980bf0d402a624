/**
 * Verification of the bytes read against what S3 stored for the object. Pure: the S3 adapter reports what
 * S3 stored (its checksum headers, the ETag, the parts), this module decides what the one pass over the
 * body must compute (`digestPlanFor`), and whether what was computed agrees (`compareS3Checksum`).
 *
 * What S3 can store, and how each is verified:
 * - a full-object checksum (CRC32, CRC32C, CRC64NVME, SHA1, SHA256; also what S3 keeps for a multipart
 *   upload of type FULL_OBJECT, CRCs only): the same algorithm over every byte;
 * - a composite checksum (multipart uploads, type COMPOSITE, written "<base64>-<parts>"): the algorithm
 *   over each part, then over the concatenation of the parts' binary checksums; the part sizes come from
 *   GetObjectAttributes (ObjectParts);
 * - the ETag, when no checksum can be used: the MD5 of the bytes for a single-part object that is not
 *   encrypted with KMS or a customer key; for a multipart object, the MD5 of the concatenated binary MD5s
 *   of the parts, "-<parts>", when the part sizes are known. GetObjectAttributes lists parts only for
 *   uploads with checksums, so for older ones (rclone, s3cmd, SDKs before 2025) the sizes come from
 *   `HEAD ?partNumber=n` (see `uniformPartSizes`): sizes inferred from the first and last part can only
 *   confirm a match; a mismatch under them must be confirmed with every part's size.
 */

export type ChecksumAlgorithm = "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256";
/** A checksum algorithm S3 stores, or MD5 (the ETag). */
export type DigestAlgorithm = ChecksumAlgorithm | "MD5";
export type ChecksumType = "FULL_OBJECT" | "COMPOSITE";

/** One part of a multipart object, as GetObjectAttributes reports it. */
export interface S3StoredPart {
  readonly size: number;
  /** The part's checksum in the object's checksum algorithm, base64, when S3 reports it. */
  readonly checksum?: string;
}

/** What S3 reports of the object: its stored checksum (GetObject with ChecksumMode ENABLED), base64 values. */
export interface S3StoredChecksum {
  readonly type?: string;
  readonly crc32?: string;
  readonly crc32c?: string;
  readonly crc64nvme?: string;
  readonly sha1?: string;
  readonly sha256?: string;
  /** The ETag, without quotes. */
  readonly eTag?: string;
  /** x-amz-server-side-encryption: "AES256", "aws:kms", "aws:kms:dsse"; absent when unencrypted. */
  readonly serverSideEncryption?: string;
  /** Encrypted with a customer-provided key (SSE-C): the ETag is not an MD5 of the bytes. */
  readonly customerKeyEncrypted?: boolean;
  /** The object's size in bytes (Content-Length of the whole object). */
  readonly size?: number;
  /** The parts of a multipart object in part-number order (GetObjectAttributes ObjectParts), when known. */
  readonly parts?: readonly S3StoredPart[];
  /**
   * The part sizes were inferred from the first and last part (`uniformPartSizes`), not reported one by
   * one: the values computed under them can match S3's, but a mismatch proves nothing until every part's
   * size confirms them.
   */
  readonly partSizesInferred?: boolean;
  /** Why the part sizes are unknown, when S3 was asked and did not tell them. */
  readonly partSizesUnknown?: string;
}

/** What the one pass over the body computes besides SHA-256: one algorithm, over the whole or per part. */
export interface DigestPlan {
  readonly algorithm: DigestAlgorithm;
  /** Part sizes in order: the algorithm restarts at each boundary (composite checksums, multipart ETags). */
  readonly partSizes?: readonly number[];
}

/** The digest of a DigestPlan, base64. */
export interface ComputedDigest {
  readonly algorithm: DigestAlgorithm;
  /** Of every byte (plans without parts). */
  readonly value?: string;
  /** Of each part, in order (plans with parts). */
  readonly parts?: readonly string[];
  /** Of the concatenation of the parts' binary digests (plans with parts). */
  readonly ofParts?: string;
}

/** Checksums computed from the bytes read. */
export interface ComputedChecksums {
  readonly sha256Hex: string;
  /** What the digest plan asked for, computed in the same pass. */
  readonly verifying?: ComputedDigest;
}

/** What S3 itself says about the object's checksum, and whether it agrees with what was read. */
export interface S3ChecksumCheck {
  /** "FULL_OBJECT" or "COMPOSITE" (multipart, checksum of part checksums), or absent when S3 has none. */
  readonly type?: string;
  /** CRC32, CRC32C, CRC64NVME, SHA1, SHA256, MD5 (the ETag), or absent. */
  readonly algorithm?: string;
  /** Where S3's value comes from: its stored checksum, or the ETag. */
  readonly source?: "checksum" | "etag";
  /** S3's value, as S3 returns it (base64, "<base64>-<parts>", or the ETag's hex). */
  readonly value?: string;
  /** The value computed from the bytes read, in the same form, when one was compared. */
  readonly computed?: string;
  /** Number of parts, for a multipart object checked part by part. */
  readonly parts?: number;
  /** Part numbers (from 1) whose own checksum S3 reports and that disagree with the bytes read. */
  readonly mismatchedParts?: readonly number[];
  /**
   * "match": S3's value equals the one computed from the bytes read;
   * "mismatch": it does not (logged as an error);
   * "not-comparable": S3 stores something, but it cannot be checked (see `reason`);
   * "absent": S3 stores no checksum, and the ETag is not a digest of the bytes.
   */
  readonly verification: "match" | "mismatch" | "not-comparable" | "absent";
  /** The algorithm that verified the bytes: set exactly when `verification` is "match". */
  readonly verifiedBy?: DigestAlgorithm;
  /** Why the bytes could not be checked ("not-comparable", "absent"). */
  readonly reason?: string;
}

/** One way to check the object, chosen from what S3 stored. */
type Verification =
  | { readonly kind: "unchecked"; readonly check: S3ChecksumCheck }
  | {
      readonly kind: "whole";
      readonly algorithm: DigestAlgorithm;
      readonly source: "checksum" | "etag";
      readonly value: string;
    }
  | {
      readonly kind: "parts";
      readonly algorithm: DigestAlgorithm;
      readonly source: "checksum" | "etag";
      readonly value: string;
      readonly parts: readonly S3StoredPart[];
    };

const CHECKSUM_FIELDS: ReadonlyArray<[ChecksumAlgorithm, keyof S3StoredChecksum]> = [
  ["SHA256", "sha256"],
  ["CRC32", "crc32"],
  ["CRC64NVME", "crc64nvme"],
  ["CRC32C", "crc32c"],
  ["SHA1", "sha1"],
];

/** "<base64>" or "<base64>-<parts>". */
function splitPartsSuffix(value: string): { digest: string; parts?: number } {
  const m = /^(.*)-(\d+)$/.exec(value);
  return m ? { digest: m[1], parts: Number(m[2]) } : { digest: value };
}

const SINGLE_PART_ETAG = /^[0-9a-f]{32}$/;
const MULTIPART_ETAG = /^[0-9a-f]{32}-(\d+)$/;

/** True when the ETag names a multipart upload ("<hex>-<parts>"). */
export function isMultipartETag(eTag: string | undefined): boolean {
  return eTag !== undefined && MULTIPART_ETAG.test(eTag);
}

/** The number of parts a multipart ETag names ("<hex>-<parts>"), else undefined. Pure. */
export function multipartETagParts(eTag: string | undefined): number | undefined {
  const m = MULTIPART_ETAG.exec(eTag ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * The part sizes of a multipart upload of `count` parts and `size` bytes whose parts all have the first
 * part's size except the last, smaller or equal (how the AWS CLI, the SDKs' upload managers, rclone and
 * s3cmd split a file), from the first and last part's sizes; undefined when they do not add up to the
 * object's size that way. Sizes that do add up may still belong to parts of differing sizes: they can
 * confirm a match, never prove a mismatch (see `partSizesInferred`). Pure.
 */
export function uniformPartSizes(size: number, count: number, first: number, last: number): number[] | undefined {
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return undefined;
  if (count === 1) return first === size ? [size] : undefined;
  if (first < 1 || last < 1 || last > first || (count - 1) * first + last !== size) return undefined;
  return [...Array<number>(count - 1).fill(first), last];
}

/** The stored checksum S3 reports, if any: the first of SHA-256, CRC32, CRC64NVME, CRC32C, SHA-1 present. */
function storedChecksum(stored: S3StoredChecksum): { algorithm: ChecksumAlgorithm; value: string } | undefined {
  for (const [algorithm, field] of CHECKSUM_FIELDS) {
    const value = stored[field];
    if (typeof value === "string" && value !== "") return { algorithm, value };
  }
  return undefined;
}

/**
 * FULL_OBJECT or COMPOSITE, from S3's x-amz-checksum-type, else from the value's "-<parts>" suffix; a
 * SHA-1/SHA-256 of a multipart object is always composite. Undefined when S3 does not say and it cannot be
 * told (a CRC of a multipart object without a type): guessing could call good bytes a mismatch.
 */
function checksumType(stored: S3StoredChecksum, algorithm: ChecksumAlgorithm, value: string): ChecksumType | undefined {
  if (stored.type === "FULL_OBJECT" || stored.type === "COMPOSITE") return stored.type;
  if (splitPartsSuffix(value).parts !== undefined) return "COMPOSITE";
  if (!isMultipartETag(stored.eTag)) return "FULL_OBJECT";
  return algorithm === "SHA1" || algorithm === "SHA256" ? "COMPOSITE" : undefined;
}

/** Why the parts S3 reported cannot be used to check a value announcing `count` parts, or undefined if they can. */
function partsProblem(stored: S3StoredChecksum, count: number | undefined): string | undefined {
  const parts = stored.parts;
  if (!parts || parts.length === 0) return stored.partSizesUnknown ?? "S3 did not report the sizes of the object's parts (GetObjectAttributes ObjectParts)";
  if (count !== undefined && parts.length !== count) return `S3's value names ${count} parts, GetObjectAttributes reported ${parts.length}`;
  const total = parts.reduce((sum, p) => sum + p.size, 0);
  if (stored.size !== undefined && total !== stored.size) return `the parts add up to ${total} bytes, the object has ${stored.size}`;
  return undefined;
}

/** The ETag is an MD5 of the bytes unless the object is encrypted with KMS or a customer key. */
function eTagIsMd5Based(stored: S3StoredChecksum): boolean {
  return !stored.customerKeyEncrypted && (stored.serverSideEncryption === undefined || stored.serverSideEncryption === "AES256");
}

function verificationOf(stored: S3StoredChecksum): Verification {
  const checksum = storedChecksum(stored);
  let unusable: S3ChecksumCheck | undefined;
  if (checksum) {
    const { algorithm, value } = checksum;
    const type = checksumType(stored, algorithm, value);
    const base = { algorithm, value, source: "checksum" as const };
    if (type === undefined) {
      unusable = { ...base, verification: "not-comparable", reason: "S3 did not say whether the checksum of this multipart object is full-object or composite" };
    } else if (type === "FULL_OBJECT") {
      return { kind: "whole", ...base };
    } else if (algorithm === "CRC64NVME") {
      unusable = { ...base, type, verification: "not-comparable", reason: "CRC64NVME checksums are full-object only; S3 never stores a composite one" };
    } else {
      const problem = partsProblem(stored, splitPartsSuffix(value).parts);
      if (problem === undefined) return { kind: "parts", ...base, parts: stored.parts! };
      unusable = { ...base, type, verification: "not-comparable", reason: problem };
    }
  }
  // No usable checksum: the ETag, when it is a digest of the bytes.
  const eTag = stored.eTag ?? "";
  if (eTagIsMd5Based(stored) && SINGLE_PART_ETAG.test(eTag)) {
    return { kind: "whole", algorithm: "MD5", source: "etag", value: eTag };
  }
  const multipart = MULTIPART_ETAG.exec(eTag);
  if (eTagIsMd5Based(stored) && multipart && partsProblem(stored, Number(multipart[1])) === undefined) {
    return { kind: "parts", algorithm: "MD5", source: "etag", value: eTag, parts: stored.parts! };
  }
  if (unusable) return { kind: "unchecked", check: unusable };
  if (multipart && eTagIsMd5Based(stored)) {
    return {
      kind: "unchecked",
      check: { type: "COMPOSITE", algorithm: "MD5", source: "etag", value: eTag, verification: "not-comparable", reason: partsProblem(stored, Number(multipart[1])) },
    };
  }
  const why = eTagIsMd5Based(stored) ? "its ETag is not an MD5" : "its ETag is not an MD5 (KMS or customer-key encryption)";
  return { kind: "unchecked", check: { verification: "absent", reason: `S3 stores no checksum for the object and ${why}` } };
}

/** S3's stored part checksums must all be known to locate a corrupted part. */
function partChecksums(v: Verification): ReadonlyArray<string | undefined> {
  return v.kind === "parts" && v.source === "checksum" ? v.parts.map((p) => p.checksum) : [];
}

/**
 * Does checking this object need its part sizes from `HEAD ?partNumber=n`? True for a multipart ETag that
 * is an MD5 of part MD5s, when GetObjectAttributes listed no parts (an upload without checksums) and
 * nothing else can verify the bytes.
 */
export function needsPartSizesByHead(stored: S3StoredChecksum): boolean {
  const unlisted = stored.parts === undefined || stored.parts.length === 0;
  return unlisted && isMultipartETag(stored.eTag) && eTagIsMd5Based(stored) && verificationOf(stored).kind === "unchecked";
}

/**
 * Does checking this object need its parts (GetObjectAttributes ObjectParts)? True for a composite checksum
 * and for a multipart ETag when no checksum can be used otherwise. Decided from the GET's response headers.
 */
export function needsObjectParts(stored: S3StoredChecksum): boolean {
  if (stored.parts !== undefined) return false;
  const checksum = storedChecksum(stored);
  if (checksum) {
    const type = checksumType(stored, checksum.algorithm, checksum.value);
    if (type === "FULL_OBJECT") return false;
    if (type === "COMPOSITE" && checksum.algorithm !== "CRC64NVME") return true;
  }
  return isMultipartETag(stored.eTag) && eTagIsMd5Based(stored);
}

/** What the pass over the body must compute besides SHA-256 (undefined: nothing, or nothing usable). */
export function digestPlanFor(stored: S3StoredChecksum): DigestPlan | undefined {
  const v = verificationOf(stored);
  if (v.kind === "unchecked") return undefined;
  if (v.kind === "whole") return v.algorithm === "SHA256" ? undefined : { algorithm: v.algorithm };
  return { algorithm: v.algorithm, partSizes: v.parts.map((p) => p.size) };
}

const toHex = (base64: string) => Buffer.from(base64, "base64").toString("hex");

/** The computed value in the form S3 wrote `value`, or undefined when it was not computed. */
function computedValue(v: Exclude<Verification, { kind: "unchecked" }>, computed: ComputedChecksums): string | undefined {
  const digest = computed.verifying;
  if (v.kind === "whole") {
    if (v.algorithm === "SHA256") return Buffer.from(computed.sha256Hex, "hex").toString("base64");
    if (digest?.algorithm !== v.algorithm || digest.value === undefined || digest.parts !== undefined) return undefined;
    return v.source === "etag" ? toHex(digest.value) : digest.value;
  }
  if (digest?.algorithm !== v.algorithm || digest.ofParts === undefined || digest.parts === undefined) return undefined;
  const ofParts = v.source === "etag" ? toHex(digest.ofParts) : digest.ofParts;
  // S3 writes the part count after a composite value; GetObjectAttributes may not.
  return splitPartsSuffix(v.value).parts !== undefined ? `${ofParts}-${digest.parts.length}` : ofParts;
}

export function compareS3Checksum(stored: S3StoredChecksum, computed: ComputedChecksums): S3ChecksumCheck {
  const v = verificationOf(stored);
  if (v.kind === "unchecked") return v.check;
  const type: ChecksumType = v.kind === "parts" ? "COMPOSITE" : "FULL_OBJECT";
  const base = {
    type: v.source === "checksum" ? (stored.type ?? type) : type,
    algorithm: v.algorithm,
    source: v.source,
    value: v.value,
    ...(v.kind === "parts" ? { parts: v.parts.length } : {}),
  };
  const value = computedValue(v, computed);
  if (value === undefined) {
    return { ...base, verification: "not-comparable", reason: `the read did not compute ${v.algorithm}${v.kind === "parts" ? " per part" : ""}` };
  }
  if (value !== v.value && v.kind === "parts" && stored.partSizesInferred) {
    return {
      ...base,
      computed: value,
      verification: "not-comparable",
      reason: "the part sizes were inferred from the first and last part and the values differ: the parts may differ in size",
    };
  }
  if (value !== v.value) {
    const stored = partChecksums(v);
    const parts = computed.verifying?.parts ?? [];
    const mismatchedParts = stored.flatMap((s, i) => (s !== undefined && s !== parts[i] ? [i + 1] : []));
    return { ...base, computed: value, verification: "mismatch", ...(mismatchedParts.length > 0 ? { mismatchedParts } : {}) };
  }
  return { ...base, computed: value, verification: "match", verifiedBy: v.algorithm };
}
