/**
 * The decisions of the indexer, as pure functions: whether an event changes the index, and whether S3's
 * own checksum agrees with the bytes read.
 */
import { compareSequencers } from "./sequencer";
import type { IndexRecord, S3ChecksumCheck } from "./index-record";

/**
 * - "apply": the event is newer than what the index holds for the key (or the index holds nothing);
 * - "duplicate": the index already holds this very event (S3 delivers at least once);
 * - "stale": the index holds a newer event of the key; an older one must never overwrite it.
 */
export type Decision = "apply" | "duplicate" | "stale";

export function decide(incomingSequencer: string, current: Pick<IndexRecord, "sequencer"> | undefined): Decision {
  if (current === undefined) return "apply";
  const order = compareSequencers(incomingSequencer, current.sequencer);
  return order > 0 ? "apply" : order === 0 ? "duplicate" : "stale";
}

/**
 * Whether a removal changes the key's current state. Deleting one version of a versioned object
 * (ObjectRemoved:Delete with a version id) removes the current state only when that version is the one
 * the index holds as current; any other version's removal leaves the current object where it is.
 */
export function removalAffectsCurrent(
  removal: { eventName: string; versionId?: string },
  current: Pick<IndexRecord, "versionId" | "state"> | undefined,
): boolean {
  if (removal.eventName !== "ObjectRemoved:Delete" || removal.versionId === undefined) return true;
  if (current === undefined) return true;
  return current.versionId === removal.versionId;
}

/** What S3 reports of its stored checksum (HeadObject with ChecksumMode ENABLED). */
export interface S3StoredChecksum {
  readonly type?: string;
  readonly crc32?: string;
  readonly crc32c?: string;
  readonly crc64nvme?: string;
  readonly sha1?: string;
  readonly sha256?: string;
}

/** Checksums computed from the bytes read. */
export interface ComputedChecksums {
  readonly sha256Hex: string;
  /** CRC32 as an unsigned 32-bit number. */
  readonly crc32: number;
}

export function crc32Base64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString("base64");
}

export function compareS3Checksum(stored: S3StoredChecksum, computed: ComputedChecksums): S3ChecksumCheck {
  const candidates: Array<[string, string | undefined]> = [
    ["SHA256", stored.sha256],
    ["CRC32", stored.crc32],
    ["CRC32C", stored.crc32c],
    ["CRC64NVME", stored.crc64nvme],
    ["SHA1", stored.sha1],
  ];
  const found = candidates.find(([, value]) => value !== undefined && value !== "");
  if (!found) return { verification: "absent" };
  const [algorithm, value] = found as [string, string];
  // A composite checksum (multipart uploads) is a checksum of the parts' checksums, written "<b64>-<parts>".
  const composite = stored.type === "COMPOSITE" || /-\d+$/.test(value);
  const type = stored.type ?? (composite ? "COMPOSITE" : "FULL_OBJECT");
  if (composite) return { type, algorithm, value, verification: "not-comparable" };
  let expected: string | undefined;
  if (algorithm === "SHA256") expected = Buffer.from(computed.sha256Hex, "hex").toString("base64");
  if (algorithm === "CRC32") expected = crc32Base64(computed.crc32);
  if (expected === undefined) return { type, algorithm, value, verification: "not-comparable" };
  return { type, algorithm, value, verification: expected === value ? "match" : "mismatch" };
}
