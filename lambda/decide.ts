/**
 * The ordering decisions of the indexer, as pure functions: whether an event changes the index. Checksum
 * verification is checksums.ts.
 */
import { compareSequencers } from "./sequencer";
import type { IndexRecord } from "./index-record";

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
 * What a removal requires. In a versioned bucket (the event carries a version id), deleting the current
 * version or a delete marker makes an older version current again, and deleting a non-current version
 * changes nothing current: only S3 knows what it serves now, so it is asked ("ask-s3"). Without versions, a
 * removal leaves nothing behind ("tombstone").
 */
export function removalPlan(removal: { versionId?: string }): "ask-s3" | "tombstone" {
  return removal.versionId !== undefined ? "ask-s3" : "tombstone";
}

/** Whether a removal deletes one version's bytes for good (its version record becomes a tombstone). */
export function deletesVersion(removal: { removal?: string; versionId?: string }): boolean {
  return removal.removal === "delete" && removal.versionId !== undefined;
}

/**
 * The outcome of a read's checksum verdict at attempt `attempt` of `maxAttempts`: a mismatch is read again
 * while attempts remain ("reread"), then is final ("fail"); anything else may be recorded.
 */
export function verificationStep(verification: string, attempt: number, maxAttempts: number): "record" | "reread" | "fail" {
  if (verification !== "mismatch") return "record";
  return attempt < maxAttempts ? "reread" : "fail";
}
