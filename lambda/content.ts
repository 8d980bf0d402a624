/**
 * Reading index records defensively, and keeping the content lookup (by-sha256/…) equal to the records.
 *
 * A content entry is derived data: an unversioned entry is right exactly when the key's current record is
 * present, unversioned and of that content; a version's entry is right exactly when the version's record is
 * present and of that content. Writers and readers (`find`) both converge entries on that rule with
 * `reconcileUnversioned`, which re-checks the current record after every change it makes, so that two
 * reconcilers working from different states never leave an entry missing or orphaned.
 */
import { ConflictError } from "./errors";
import type { IndexKeys } from "./index-keys";
import { contentEntry, parseIndexRecord, unversionedEntryIsCurrent, type ContentEntry, type IndexRecord } from "./index-record";
import type { DocumentStore } from "./ports";

/** A stored record as read: `value` is undefined when the document exists but is not a valid record. */
export interface ReadRecord {
  readonly value: IndexRecord | undefined;
  readonly etag: string;
}

/** Where repairs are reported (the handler logs them at WARN). */
export type Repairs = string[];

/**
 * Reads an index record. A document that does not parse (or holds a non-hex sequencer) is read once more,
 * so that bytes damaged in transit are not mistaken for a damaged record; if it still does not parse it
 * is "poisoned": reported as a repair and returned without a value, for the caller to overwrite
 * conditionally (If-Match on its ETag).
 */
export async function readRecord(store: DocumentStore, key: string, repairs: Repairs): Promise<ReadRecord | undefined> {
  let problem = "";
  for (let attempt = 1; attempt <= 2; attempt++) {
    const doc = await store.get(key, (text) => text);
    if (doc === undefined) return undefined;
    try {
      return { value: parseIndexRecord(doc.value), etag: doc.etag };
    } catch (error) {
      problem = (error as Error).message;
      if (attempt === 2) {
        repairs.push(`the index document ${key} is not a valid record (${problem}): treated as absent and overwritten`);
        return { value: undefined, etag: doc.etag };
      }
    }
  }
  throw new Error("unreachable");
}

export interface ContentDeps {
  readonly store: DocumentStore;
  readonly keys: IndexKeys;
}

/**
 * Makes the unversioned content entries of `candidates` for one key agree with the key's current record:
 * the current content's entry exists, every other candidate's does not. Repeats (at most `maxRounds`)
 * until the current record stayed the same while the entries were changed.
 */
export async function reconcileUnversioned(
  bucket: string,
  key: string,
  candidates: ReadonlyArray<string | undefined>,
  deps: ContentDeps,
  repairs: Repairs,
  maxRounds = 5,
): Promise<void> {
  const shas = [...new Set(candidates.filter((c): c is string => c !== undefined))];
  if (shas.length === 0) return;
  const currentKey = deps.keys.current(bucket, key);
  for (let round = 1; round <= maxRounds; round++) {
    const before = await readRecord(deps.store, currentKey, repairs);
    for (const sha of shas) {
      const entryKey = deps.keys.content(sha, bucket, key);
      if (unversionedEntryIsCurrent(before?.value, sha)) {
        await deps.store.put(entryKey, contentEntry(before!.value as Extract<IndexRecord, { state: "present" }>));
      } else {
        await deps.store.delete(entryKey);
      }
    }
    const after = await deps.store.get(currentKey, (text) => text);
    if (after?.etag === before?.etag) return;
  }
  throw new ConflictError(`the index record of s3://${bucket}/${key} kept changing while its content entries were reconciled`);
}

/**
 * Whether a content entry agrees with the records, repairing it when it does not: an unversioned entry is
 * reconciled with the key's current record; a version's entry whose version record is not present with that
 * content is deleted (a version's record is written before its entry, so an entry without one is an orphan).
 */
export async function checkContentEntry(entryKey: string, entry: ContentEntry | undefined, deps: ContentDeps, repairs: Repairs): Promise<boolean> {
  if (entry === undefined || typeof entry.bucket !== "string" || typeof entry.key !== "string" || typeof entry.sha256 !== "string") {
    repairs.push(`the content entry ${entryKey} is not valid: deleted`);
    await deps.store.delete(entryKey);
    return false;
  }
  if (entry.versionId === null) {
    await reconcileUnversioned(entry.bucket, entry.key, [entry.sha256], deps, repairs);
    const current = await readRecord(deps.store, deps.keys.current(entry.bucket, entry.key), repairs);
    const ok = unversionedEntryIsCurrent(current?.value, entry.sha256);
    if (!ok) repairs.push(`the content entry ${entryKey} disagreed with the key's current record: deleted`);
    return ok;
  }
  const version = await readRecord(deps.store, deps.keys.version(entry.bucket, entry.key, entry.versionId), repairs);
  if (version?.value?.state === "present" && version.value.sha256 === entry.sha256) return true;
  repairs.push(`the content entry ${entryKey} has no version record of that content: deleted`);
  await deps.store.delete(entryKey);
  return false;
}

/**
 * The content entries at `entryKeys` that agree with the records, each checked (and repaired when it does
 * not agree) by checkContentEntry: what `find <sha256>` returns.
 */
export async function checkedContentEntries(entryKeys: readonly string[], deps: ContentDeps, repairs: Repairs): Promise<ContentEntry[]> {
  const entries: ContentEntry[] = [];
  for (const entryKey of entryKeys) {
    const doc = await deps.store.get(entryKey, (text) => {
      try {
        return JSON.parse(text) as ContentEntry;
      } catch {
        return undefined;
      }
    });
    if (doc === undefined) continue;
    if (await checkContentEntry(entryKey, doc.value, deps, repairs)) entries.push(doc.value!);
  }
  return entries;
}
