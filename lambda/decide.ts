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
