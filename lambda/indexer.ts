/**
 * What the function does with one S3 change, given its I/O. The decisions are in decide.ts (ordering) and
 * checksums.ts (verification); this module
 * sequences the reads and the conditional writes so that, whatever order and however often S3 delivers
 * events, the index ends up describing the newest state of every key.
 */
import { compareS3Checksum } from "./checksums";
import { decide, removalAffectsCurrent, type Decision } from "./decide";
import { ConflictError, ObjectForbiddenError, ObjectGoneError, ObjectReplacedError } from "./errors";
import type { ObjectChange } from "./event";
import type { IndexKeys } from "./index-keys";
import {
  contentEntry,
  deletedRecord,
  parseIndexRecord,
  presentRecord,
  type IndexRecord,
  type PresentRecord,
  type RecordContext,
} from "./index-record";
import type { DocumentStore, ObjectReader, StoredDocument } from "./ports";

export type Outcome =
  /** The object was read and its record is now the key's current state. */
  | "indexed"
  /** The removal is now the key's current state. */
  | "removed"
  /** The index already holds this event. */
  | "duplicate"
  /** The index holds a newer event of the key; this one changed nothing current. */
  | "stale"
  /** The object was deleted before it could be read; the delete's own event records that. */
  | "skipped-gone"
  /** The object was overwritten before it could be read; the overwrite's own event records that. */
  | "skipped-replaced"
  /** One non-current version was deleted; the key's current state is unchanged. */
  | "version-removed";

export interface ChangeResult {
  readonly outcome: Outcome;
  readonly record?: IndexRecord;
  readonly reason?: string;
}

export interface IndexerDeps {
  readonly reader: ObjectReader;
  readonly store: DocumentStore;
  readonly keys: IndexKeys;
  /** Attempts of one conditional write before giving up (Lambda then retries the event). @default 5 */
  readonly maxWriteAttempts?: number;
  /** Pause before retrying a lost conditional write. @default jittered 20–100 ms × attempt */
  readonly backoff?: (attempt: number) => Promise<void>;
}

const defaultBackoff = (attempt: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, attempt * (20 + Math.floor(Math.random() * 80))));

export async function indexChange(change: ObjectChange, ctx: RecordContext, deps: IndexerDeps): Promise<ChangeResult> {
  return change.kind === "created" ? indexCreate(change, ctx, deps) : indexRemoval(change, ctx, deps);
}

async function indexCreate(change: ObjectChange, ctx: RecordContext, deps: IndexerDeps): Promise<ChangeResult> {
  let read;
  try {
    read = await deps.reader.read({
      bucket: change.bucket,
      key: change.key,
      versionId: change.versionId,
      // Without a version id, only the bytes this event announced may be hashed.
      ifMatch: change.versionId === undefined ? change.eTag : undefined,
      expectedSize: change.size,
    });
  } catch (error) {
    if (error instanceof ObjectGoneError) return { outcome: "skipped-gone", reason: error.message };
    if (error instanceof ObjectReplacedError) return { outcome: "skipped-replaced", reason: error.message };
    if (error instanceof ObjectForbiddenError) {
      // Maybe deleted (S3 says 403 for a missing key to whoever may not list). If the index already holds
      // a newer event of the key, this one could not change it anyway; otherwise let Lambda retry.
      const current = await deps.store.get(deps.keys.current(change.bucket, change.key), parseIndexRecord);
      if (current && decide(change.sequencer, current.value) === "stale") {
        return { outcome: "stale", reason: `${error.message}; the index holds a newer event of the key` };
      }
    }
    throw error;
  }
  const record = presentRecord(change, read, compareS3Checksum(read.stored, read.computed), ctx);

  if (record.versionId !== null) {
    // A version's bytes never change: its record and content entry are written once, in any order.
    await deps.store.putIfAbsent(deps.keys.version(record.bucket, record.key, record.versionId), record);
    await deps.store.put(deps.keys.content(record.sha256, record.bucket, record.key, record.versionId), contentEntry(record));
  }

  const { decision, previous } = await writeCurrent(record, deps, () => true);
  if (record.versionId === null && decision !== "stale") {
    // Unversioned: the content lookup follows the current state. Re-put on duplicates, in case the
    // attempt that wrote the record stopped before this.
    await deps.store.put(deps.keys.content(record.sha256, record.bucket, record.key), contentEntry(record));
    if (decision === "apply") await dropUnversionedContentEntry(previous, record.sha256, deps);
  }
  return { outcome: decision === "apply" ? "indexed" : decision, record };
}

async function indexRemoval(change: ObjectChange, ctx: RecordContext, deps: IndexerDeps): Promise<ChangeResult> {
  const record = deletedRecord(change, ctx);
  const permanentVersionDelete = change.eventName === "ObjectRemoved:Delete" && change.versionId !== undefined;

  if (permanentVersionDelete) {
    const versionKey = deps.keys.version(change.bucket, change.key, change.versionId!);
    const version = await deps.store.get(versionKey, parseIndexRecord);
    if (version?.value.state === "present") {
      await deps.store.delete(deps.keys.content(version.value.sha256, change.bucket, change.key, change.versionId));
    }
    await deps.store.delete(versionKey);
  }

  let affectsCurrent = true;
  const { decision, previous } = await writeCurrent(record, deps, (current) => {
    affectsCurrent = removalAffectsCurrent(change, current);
    return affectsCurrent;
  });
  if (!affectsCurrent) return { outcome: "version-removed", record };
  if (decision === "apply") await dropUnversionedContentEntry(previous, undefined, deps);
  return { outcome: decision === "apply" ? "removed" : decision, record };
}

/** An unversioned object's old content no longer exists once the key changed. */
async function dropUnversionedContentEntry(previous: IndexRecord | undefined, newSha: string | undefined, deps: IndexerDeps) {
  if (previous?.state === "present" && previous.versionId === null && previous.sha256 !== newSha) {
    await deps.store.delete(deps.keys.content(previous.sha256, previous.bucket, previous.key));
  }
}

/**
 * Makes `record` the key's current state if it is newer than what is stored, with conditional writes
 * (If-None-Match for a new key, If-Match on the stored ETag otherwise) so that two invocations racing on
 * one key can never let the older event win. A lost race is re-read and decided again.
 */
async function writeCurrent(
  record: IndexRecord,
  deps: IndexerDeps,
  applies: (current: IndexRecord | undefined) => boolean,
): Promise<{ decision: Decision; previous?: IndexRecord }> {
  const key = deps.keys.current(record.bucket, record.key);
  const attempts = deps.maxWriteAttempts ?? 5;
  const backoff = deps.backoff ?? defaultBackoff;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const current: StoredDocument<IndexRecord> | undefined = await deps.store.get(key, parseIndexRecord);
    if (!applies(current?.value)) return { decision: "stale", previous: current?.value };
    const decision = decide(record.sequencer, current?.value);
    if (decision !== "apply") return { decision, previous: current?.value };
    const written = current
      ? await deps.store.putIfMatch(key, record, current.etag)
      : await deps.store.putIfAbsent(key, record);
    if (written) return { decision: "apply", previous: current?.value };
    if (attempt < attempts) await backoff(attempt);
  }
  throw new ConflictError(
    `the index record of s3://${record.bucket}/${record.key} changed under ${attempts} conditional writes in a row`,
  );
}

/** The records' checksums that S3 disagreed with, for an error log. */
export function isChecksumMismatch(record: IndexRecord | undefined): record is PresentRecord {
  return record?.state === "present" && record.s3Checksum.verification === "mismatch";
}
