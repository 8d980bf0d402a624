/**
 * What the function does with one S3 change, given its I/O. The decisions are in decide.ts (ordering) and
 * checksums.ts (verification); this module sequences the reads and the conditional writes so that, whatever
 * order and however often S3 delivers events, the index ends up describing what S3 serves for every key,
 * and the content lookup agrees with the records (content.ts).
 */
import { BACKFILL_EVENT_NAME } from "./backfill";
import { compareS3Checksum, type S3ChecksumCheck } from "./checksums";
import { readRecord, reconcileUnversioned, type Repairs } from "./content";
import { decide, deletesVersion, removalPlan, verificationStep, type Decision } from "./decide";
import type { Continuations, StepDocument } from "./continuation";
import { ChecksumMismatchError, ConflictError, IntegrityError, ObjectForbiddenError, ObjectGoneError, ObjectReplacedError } from "./errors";
import type { ObjectChange } from "./event";
import type { IndexKeys } from "./index-keys";
import {
  contentEntry,
  deletedRecord,
  presentRecord,
  supersededSha256,
  type IndexRecord,
  type PresentRecord,
  type RecordContext,
} from "./index-record";
import { isSuspended, type DocumentStore, type ObjectRead, type ObjectReader, type ObjectReadRequest, type ReadCheckpoint } from "./ports";

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
  | "version-removed"
  /** A removal in a versioned bucket made an older version current again; the index now holds it. */
  | "restored"
  /** A backfilled version that S3 does not serve as current: its version record only; the key's current state is unchanged. */
  | "version-indexed"
  /** The object is being read over several invocations: a continuation goes on (continuation.ts). */
  | "continued";

/** Outcomes that leave the event's object unindexed (logged at WARN and counted). */
export const UNINDEXED_OUTCOMES: ReadonlySet<Outcome> = new Set<Outcome>(["skipped-gone", "skipped-replaced"]);

export interface ChangeResult {
  readonly outcome: Outcome;
  readonly record?: IndexRecord;
  readonly reason?: string;
  /** Damaged or disagreeing index documents found and repaired on the way (logged at WARN). */
  readonly repairs?: readonly string[];
}

export interface IndexerDeps {
  readonly reader: ObjectReader;
  readonly store: DocumentStore;
  readonly keys: IndexKeys;
  /** Attempts of one conditional write before giving up (Lambda then retries the event). @default 5 */
  readonly maxWriteAttempts?: number;
  /** Pause before retrying a lost conditional write or a read. @default jittered 20–100 ms × attempt */
  readonly backoff?: (attempt: number) => Promise<void>;
  /** Reads of one object before a checksum mismatch or a broken read is final. @default 3 */
  readonly maxReadAttempts?: number;
}

const defaultBackoff = (attempt: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, attempt * (20 + Math.floor(Math.random() * 80))));

/**
 * How a create's read may span invocations: it stops by `stopAt` with a checkpoint, saved as a step of a
 * continuation chain; `from` is the step being continued.
 */
export interface ContinuationHooks {
  /** Ms since the epoch by which the read must stop. */
  readonly stopAt: number;
  /** This invocation's id (the Lambda request id), recorded with what it writes and claims. */
  readonly attemptId: string;
  readonly continuations: Continuations;
  /** Objects no larger than this are read with one GET, which never stops early: no chain is looked for. */
  readonly partSize: number;
  /** The saved step this invocation continues. */
  readonly from?: StepDocument;
}

export async function indexChange(change: ObjectChange, ctx: RecordContext, deps: IndexerDeps, hooks?: ContinuationHooks): Promise<ChangeResult> {
  const repairs: Repairs = [];
  const result = change.kind === "created" ? await indexCreate(change, ctx, deps, repairs, hooks) : await indexRemoval(change, ctx, deps, repairs, hooks);
  return repairs.length > 0 ? { ...result, repairs } : result;
}

/**
 * Reads an object and verifies it against S3's stored checksum. A read that breaks (IntegrityError) or
 * whose bytes disagree with the stored checksum is read again, with backoff, up to maxReadAttempts; a
 * mismatch that persists throws ChecksumMismatchError, so that nothing is recorded for the key. With
 * continuation hooks, the read may stop by the deadline: its checkpoint is returned with the number of the
 * full read it belongs to (a mismatch starts a new full read, and so a new chain).
 */
async function readVerified(
  request: ObjectReadRequest,
  deps: IndexerDeps,
  hooks?: ContinuationHooks,
): Promise<{ read: ObjectRead; check: S3ChecksumCheck } | { suspended: ReadCheckpoint; readAttempt: number }> {
  const attempts = deps.maxReadAttempts ?? 3;
  const backoff = deps.backoff ?? defaultBackoff;
  let readAttempt = hooks?.from?.readAttempt ?? 1;
  let resume = hooks?.from?.checkpoint;
  const timed = hooks !== undefined && deps.reader.readUntil !== undefined;
  for (let attempt = readAttempt; ; attempt++) {
    let read: ObjectRead;
    try {
      const result = timed ? await deps.reader.readUntil!({ ...request, stopAt: hooks.stopAt, resume }) : await deps.reader.read(request);
      if (isSuspended(result)) return { suspended: result.checkpoint, readAttempt };
      read = result;
    } catch (error) {
      // A broken read starts again from the same checkpoint: what was saved stays valid.
      if (error instanceof IntegrityError && attempt < attempts) {
        await backoff(attempt);
        continue;
      }
      throw error;
    }
    const check = compareS3Checksum(read.stored, read.computed);
    const step = verificationStep(check.verification, attempt, attempts);
    if (step === "record") return { read, check };
    if (step === "fail") {
      throw new ChecksumMismatchError({
        bucket: request.bucket,
        key: request.key,
        versionId: request.versionId ?? read.versionId,
        algorithm: check.algorithm ?? "unknown",
        stored: check.value ?? "",
        computed: check.computed,
        sha256: read.computed.sha256Hex,
        attempts,
      });
    }
    // A mismatch reads every byte again.
    readAttempt++;
    resume = undefined;
    await backoff(attempt);
  }
}

async function indexCreate(change: ObjectChange, ctx: RecordContext, deps: IndexerDeps, repairs: Repairs, hooks?: ContinuationHooks): Promise<ChangeResult> {
  if (hooks && !hooks.from && (change.size === undefined || change.size > hooks.partSize)) {
    // A retried or duplicated S3 event whose first delivery started a chain: that chain goes on.
    const started = await hooks.continuations.existing(change);
    if (started) return started;
  }
  let verified;
  try {
    verified = await readVerified(readRequestOf(change), deps, hooks);
  } catch (error) {
    if (error instanceof ObjectGoneError) return { outcome: "skipped-gone", reason: error.message };
    if (error instanceof ObjectReplacedError) return { outcome: "skipped-replaced", reason: error.message };
    if (error instanceof ObjectForbiddenError) {
      // Maybe deleted (S3 says 403 for a missing key to whoever may not list). If the index already holds
      // a newer event of the key, this one could not change it anyway; otherwise let Lambda retry.
      const current = await readRecord(deps.store, deps.keys.current(change.bucket, change.key), repairs);
      if (current?.value && decide(change.sequencer, current.value) === "stale") {
        return { outcome: "stale", reason: `${error.message}; the index holds a newer event of the key` };
      }
    }
    throw error;
  }
  if ("suspended" in verified) {
    const step = hooks!.from && hooks!.from.readAttempt === verified.readAttempt ? hooks!.from.step + 1 : 1;
    const reason = await hooks!.continuations.suspend(change, verified.readAttempt, step, verified.suspended, hooks!.attemptId);
    return { outcome: "continued", reason };
  }
  const record = presentRecord(change, verified.read, verified.check, ctx);
  if (record.versionId !== null) {
    const version = await writeVersion(record, deps, repairs);
    if (version === "deleted") {
      // The version was deleted after it was read; its removal's event (newer) decides the current state.
      return { outcome: "skipped-gone", reason: `version ${record.versionId} was deleted after it was read` };
    }
  }
  if (change.eventName === BACKFILL_EVENT_NAME && record.versionId !== null) {
    // A backfill names versions in any order, all with the lowest sequencer: only the version S3 serves now
    // may become the key's current record (a real event's record still wins over it).
    const served = await deps.reader.served(change.bucket, change.key);
    if (!served.exists || served.versionId !== record.versionId) {
      return { outcome: "version-indexed", record, reason: `S3 serves ${served.exists ? `version ${served.versionId}` : "no version"} of the key` };
    }
  }
  const { decision, previous, stored } = await writeCurrent(record, deps, repairs);
  await reconcileUnversioned(record.bucket, record.key, [record.versionId === null ? record.sha256 : undefined, contentOf(previous), stored?.previousSha256], deps, repairs);
  return { outcome: decision === "apply" ? "indexed" : decision, record };
}

async function indexRemoval(change: ObjectChange, ctx: RecordContext, deps: IndexerDeps, repairs: Repairs, hooks?: ContinuationHooks): Promise<ChangeResult> {
  if (deletesVersion(change)) await removeVersion(change, ctx, deps, repairs);

  if (removalPlan(change) === "tombstone") {
    const record = deletedRecord(change, ctx);
    const { decision, previous, stored } = await writeCurrent(record, deps, repairs);
    await reconcileUnversioned(record.bucket, record.key, [contentOf(previous), stored?.previousSha256], deps, repairs);
    return { outcome: decision === "apply" ? "removed" : decision, record };
  }

  // Versioned: the index must say what S3 serves now, which may be an older version made current again.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const served = await deps.reader.served(change.bucket, change.key);
    let record: IndexRecord;
    if (!served.exists) {
      record = deletedRecord(change, ctx, served.deleteMarker ?? change.removal === "delete-marker");
    } else if (hooks && served.size > hooks.partSize) {
      // A version made current again that may outlast this invocation: read as a create of that version,
      // under the removal's event, so that its read can continue in further invocations like any create's.
      return indexCreate(restorationOf(change, served), ctx, deps, repairs, hooks);
    } else {
      let verified;
      try {
        verified = await readVerified(readRequestOf(restorationOf(change, served)), deps);
      } catch (error) {
        // Changed again since the HEAD: that change's own event is newer; ask again.
        if (error instanceof ObjectGoneError || error instanceof ObjectReplacedError) continue;
        throw error;
      }
      // Without continuation hooks a read never stops early.
      if ("suspended" in verified) throw new IntegrityError(`the read of s3://${change.bucket}/${change.key} stopped early without a deadline`);
      record = presentRecord({ ...change, versionId: served.versionId }, verified.read, verified.check, ctx);
      if (record.versionId !== null && (await writeVersion(record, deps, repairs)) === "deleted") continue;
    }
    const { decision, previous, stored } = await writeCurrent(record, deps, repairs);
    // The null version made current again has its unversioned content entry, as a create of it would.
    await reconcileUnversioned(record.bucket, record.key, [contentOf(record), contentOf(previous), stored?.previousSha256], deps, repairs);
    if (decision !== "apply") return { outcome: decision, record };
    if (record.state === "deleted") return { outcome: "removed", record };
    const unchanged = previous?.state === "present" && previous.versionId === record.versionId;
    return { outcome: unchanged ? "version-removed" : "restored", record };
  }
  throw new ConflictError(`s3://${change.bucket}/${change.key} changed under every attempt to read what S3 serves after ${change.eventName}`);
}

/**
 * The read of the object a create-like change names: its version, else only the bytes of the ETag it
 * announced, of the size it announced. Pure.
 */
function readRequestOf(change: ObjectChange): ObjectReadRequest {
  return {
    bucket: change.bucket,
    key: change.key,
    versionId: change.versionId,
    ifMatch: change.versionId === undefined ? change.eTag : undefined,
    expectedSize: change.size,
  };
}

/**
 * The version S3 serves again after a removal, as a change to index like a create: the removal's event
 * (name, time, sequencer) with the served version's id, ETag and size. Pure.
 */
export function restorationOf(change: ObjectChange, served: { versionId?: string; eTag?: string; size?: number }): ObjectChange {
  const { removal: _removal, ...event } = change;
  return { ...event, kind: "created", versionId: served.versionId, eTag: served.eTag, size: served.size };
}

/** The unversioned content a record holds, whose entry exists while it is current. */
function contentOf(record: IndexRecord | undefined): string | undefined {
  return record?.state === "present" && record.versionId === null ? record.sha256 : undefined;
}

/**
 * Writes a version's record (once: a version's bytes never change), then its content entry. A version
 * already deleted (its record is a tombstone) gets no entry: "deleted" is returned. The record is written
 * before the entry, and the record is read again after it, so that a removal racing with this write never
 * leaves an entry behind.
 */
async function writeVersion(record: PresentRecord, deps: IndexerDeps, repairs: Repairs): Promise<"written" | "deleted"> {
  const versionKey = deps.keys.version(record.bucket, record.key, record.versionId!);
  const entryKey = deps.keys.content(record.sha256, record.bucket, record.key, record.versionId!);
  const attempts = deps.maxWriteAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const existing = await readRecord(deps.store, versionKey, repairs);
    if (existing?.value?.state === "deleted") {
      await deps.store.delete(entryKey);
      return "deleted";
    }
    if (existing?.value) break;
    const written = existing ? await deps.store.putIfMatch(versionKey, record, existing.etag) : await deps.store.putIfAbsent(versionKey, record);
    if (written) break;
    if (attempt >= attempts) throw new ConflictError(`the version record ${versionKey} changed under ${attempts} conditional writes in a row`);
  }
  await deps.store.put(entryKey, contentEntry(record));
  const after = await readRecord(deps.store, versionKey, repairs);
  if (after?.value?.state === "deleted") {
    await deps.store.delete(entryKey);
    return "deleted";
  }
  return "written";
}

/**
 * Deletes one version for good: its record becomes a tombstone (conditionally, so the content it replaces
 * is known exactly), then that content's entry is deleted. A tombstone, not a deletion, so that a create of
 * that version processed late does not write it back.
 */
async function removeVersion(change: ObjectChange, ctx: RecordContext, deps: IndexerDeps, repairs: Repairs): Promise<void> {
  const versionKey = deps.keys.version(change.bucket, change.key, change.versionId!);
  const tombstone = deletedRecord(change, ctx, false);
  const attempts = deps.maxWriteAttempts ?? 5;
  const dropEntry = (sha: string | undefined) =>
    sha === undefined ? Promise.resolve() : deps.store.delete(deps.keys.content(sha, change.bucket, change.key, change.versionId));
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const existing = await readRecord(deps.store, versionKey, repairs);
    // Already a tombstone (this event's retry, or a duplicate): its entry may still be there if the
    // attempt that wrote it stopped early; the tombstone remembers which content it replaced.
    if (existing?.value?.state === "deleted") return dropEntry(existing.value.previousSha256);
    const replaced = existing?.value?.state === "present" ? existing.value.sha256 : undefined;
    const record = replaced === undefined ? tombstone : { ...tombstone, previousSha256: replaced };
    const written = existing ? await deps.store.putIfMatch(versionKey, record, existing.etag) : await deps.store.putIfAbsent(versionKey, record);
    if (!written) continue;
    return dropEntry(replaced);
  }
  throw new ConflictError(`the version record ${versionKey} changed under ${attempts} conditional writes in a row`);
}

/**
 * Makes `record` the key's current state if it is newer than what is stored, with conditional writes
 * (If-None-Match for a new key, If-Match on the stored ETag otherwise) so that two invocations racing on
 * one key can never let the older event win. A lost race is re-read and decided again. A stored document
 * that is not a valid record is treated as absent and overwritten (If-Match on its ETag).
 * Returns the record replaced (`previous`) and the record now stored for this event (`stored`: the one
 * written, or the one found for a duplicate).
 */
async function writeCurrent(
  record: IndexRecord,
  deps: IndexerDeps,
  repairs: Repairs,
): Promise<{ decision: Decision; previous?: IndexRecord; stored?: IndexRecord }> {
  const key = deps.keys.current(record.bucket, record.key);
  const attempts = deps.maxWriteAttempts ?? 5;
  const backoff = deps.backoff ?? defaultBackoff;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const current = await readRecord(deps.store, key, repairs);
    const decision = decide(record.sequencer, current?.value);
    if (decision === "duplicate") return { decision, previous: current?.value, stored: current?.value };
    if (decision === "stale") return { decision, previous: current?.value };
    const superseded = supersededSha256(current?.value, record);
    const toWrite: IndexRecord = superseded === undefined ? record : { ...record, previousSha256: superseded };
    const written = current ? await deps.store.putIfMatch(key, toWrite, current.etag) : await deps.store.putIfAbsent(key, toWrite);
    if (written) return { decision: "apply", previous: current?.value, stored: toWrite };
    if (attempt < attempts) await backoff(attempt);
  }
  throw new ConflictError(
    `the index record of s3://${record.bucket}/${record.key} changed under ${attempts} conditional writes in a row`,
  );
}
