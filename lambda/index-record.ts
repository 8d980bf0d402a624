/**
 * The index record: one JSON document per object (and per version in versioned buckets). Pure.
 */
import type { ObjectChange } from "./event";
import type { S3ChecksumCheck } from "./checksums";
import type { ObjectRead } from "./ports";
import { isValidSequencer } from "./sequencer";

export const SCHEMA_VERSION = 1;

interface RecordBase {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | null;
  readonly eventName: string;
  readonly eventTime: string;
  /** Orders the events of this key (see sequencer.ts). */
  readonly sequencer: string;
  readonly indexedAt: string;
  /** The Lambda request that wrote the record. */
  readonly requestId: string;
  /** The S3 request that changed the object. */
  readonly s3RequestId: string | null;
  /**
   * The SHA-256 of the unversioned content this record replaced, while its content lookup entry may still
   * exist: a retry that finds this record already written (a lost response) still removes that entry.
   */
  readonly previousSha256?: string;
}

export interface PresentRecord extends RecordBase {
  readonly state: "present";
  readonly size: number;
  readonly eTag: string;
  /** SHA-256 of the object's bytes, lowercase hex, computed by reading every byte once. */
  readonly sha256: string;
  readonly contentType: string | null;
  readonly lastModified: string | null;
  readonly s3Checksum: S3ChecksumCheck;
}

/**
 * A removal. Kept rather than deleting the record: its sequencer is what stops an older create, delivered
 * late, from bringing back an object that no longer exists.
 */
export interface DeletedRecord extends RecordBase {
  readonly state: "deleted";
  /** Whether a delete marker was created (versioned) or the object/version was deleted. */
  readonly deleteMarker: boolean;
}

export type IndexRecord = PresentRecord | DeletedRecord;

/** A content lookup entry: points from a SHA-256 to one object (version). */
export interface ContentEntry {
  readonly schemaVersion: typeof SCHEMA_VERSION;
  readonly sha256: string;
  readonly bucket: string;
  readonly key: string;
  readonly versionId: string | null;
  readonly size: number;
}

export interface RecordContext {
  readonly requestId: string;
  readonly now: Date;
}

function base(change: ObjectChange, ctx: RecordContext, versionId: string | undefined): RecordBase {
  return {
    schemaVersion: SCHEMA_VERSION,
    bucket: change.bucket,
    key: change.key,
    versionId: versionId ?? null,
    eventName: change.eventName,
    eventTime: change.eventTime,
    sequencer: change.sequencer.toUpperCase(),
    indexedAt: ctx.now.toISOString(),
    requestId: ctx.requestId,
    s3RequestId: change.s3RequestId ?? null,
  };
}

/** The record of an object read, with the verdict of its checksum verification (checksums.ts). */
export function presentRecord(change: ObjectChange, read: ObjectRead, s3Checksum: S3ChecksumCheck, ctx: RecordContext): PresentRecord {
  return {
    ...base(change, ctx, change.versionId ?? read.versionId),
    state: "present",
    size: read.size,
    eTag: read.eTag,
    sha256: read.computed.sha256Hex,
    contentType: read.contentType ?? null,
    lastModified: read.lastModified ? read.lastModified.toISOString() : null,
    s3Checksum,
  };
}

export function deletedRecord(change: ObjectChange, ctx: RecordContext, deleteMarker = change.removal === "delete-marker"): DeletedRecord {
  return {
    ...base(change, ctx, change.versionId),
    state: "deleted",
    deleteMarker,
  };
}

/**
 * The content of the key that `replacing` makes obsolete: the unversioned content `current` holds (or
 * still carries as previousSha256), unless it is the content of `replacing` itself. Pure.
 */
export function supersededSha256(current: IndexRecord | undefined, replacing: IndexRecord): string | undefined {
  if (current === undefined) return undefined;
  const held = current.state === "present" && current.versionId === null ? current.sha256 : current.previousSha256;
  const own = replacing.state === "present" && replacing.versionId === null ? replacing.sha256 : undefined;
  return held !== undefined && held !== own ? held : undefined;
}

/** Whether an unversioned content entry of `sha256` agrees with the key's current record. Pure. */
export function unversionedEntryIsCurrent(current: IndexRecord | undefined, sha256: string): boolean {
  return current?.state === "present" && current.versionId === null && current.sha256 === sha256;
}

export function contentEntry(record: PresentRecord): ContentEntry {
  return {
    schemaVersion: SCHEMA_VERSION,
    sha256: record.sha256,
    bucket: record.bucket,
    key: record.key,
    versionId: record.versionId,
    size: record.size,
  };
}

/** Parses a stored record, refusing anything that is not one (a corrupted or foreign document). */
export function parseIndexRecord(text: string): IndexRecord {
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null) throw new Error("an index record must be a JSON object");
  if (value.schemaVersion !== SCHEMA_VERSION) throw new Error(`unknown index record schema version ${value.schemaVersion}`);
  if (value.state !== "present" && value.state !== "deleted") throw new Error(`unknown index record state ${value.state}`);
  if (typeof value.sequencer !== "string" || typeof value.key !== "string" || typeof value.bucket !== "string") {
    throw new Error("an index record needs bucket, key and sequencer");
  }
  if (!isValidSequencer(value.sequencer)) throw new Error(`the index record's sequencer ${JSON.stringify(value.sequencer)} is not hexadecimal`);
  if (value.versionId !== null && typeof value.versionId !== "string") throw new Error("an index record's versionId must be a string or null");
  if (value.state === "present" && !/^[0-9a-f]{64}$/.test(value.sha256)) throw new Error("a present index record needs a sha256");
  return value as IndexRecord;
}
