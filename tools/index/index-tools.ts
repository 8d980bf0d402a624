/**
 * Using the index: look up an object, find objects by content, verify, backfill. The same code against AWS
 * or the local endpoint (the SDK's AWS_ENDPOINT_URL_S3 selects it). It reuses the function's own modules:
 * one hashing routine, one index store, one record schema.
 */
import { backfillChange } from "../../lambda/backfill";
import { bucketNameProblems } from "../../lambda/contract";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { ObjectGoneError } from "../../lambda/errors";
import type { ObjectChange } from "../../lambda/event";
import { indexKeys, type IndexKeys } from "../../lambda/index-keys";
import { parseIndexRecord, type ContentEntry, type IndexRecord } from "../../lambda/index-record";
import { checkedContentEntries } from "../../lambda/content";
import { indexChange } from "../../lambda/indexer";
import { mapLimited } from "../../lambda/map-limited";
import { S3DocumentStore, S3ObjectReader } from "../../lambda/s3-store";
import { matchingRule, type Pipeline } from "../../stacks/pipeline";

/** A command line the CLI cannot act on; the message says what to write instead. */
export class UsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

/** Parses s3://bucket/key (key may be empty or a prefix). */
export function parseS3Uri(uri: string | undefined, what = "an S3 URI"): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri ?? "");
  if (!match) throw new UsageError(`"${uri ?? ""}" is not ${what}: write it as s3://bucket/key`);
  const bucket = match[1];
  const problems = bucketNameProblems(bucket);
  if (problems.length > 0) throw new UsageError(`"${bucket}" in ${uri} is not a valid bucket name: ${problems.join("; ")}`);
  return { bucket, key: match[2] ?? "" };
}

export interface IndexLocation {
  readonly bucket: string;
  readonly prefix: string;
}

export class IndexTools {
  readonly keys: IndexKeys;
  readonly store: S3DocumentStore;
  readonly reader: S3ObjectReader;

  constructor(
    readonly s3: S3Client,
    readonly index: IndexLocation,
  ) {
    this.keys = indexKeys(index.prefix);
    this.store = new S3DocumentStore(s3, index.bucket);
    this.reader = new S3ObjectReader(s3);
  }

  /** The current record of an object, or undefined when it is not indexed. */
  async get(location: S3Location): Promise<IndexRecord | undefined> {
    if (location.key === "") throw new UsageError("get needs an object: s3://bucket/key");
    return (await this.store.get(this.keys.current(location.bucket, location.key), parseIndexRecord))?.value;
  }

  /**
   * Every indexed object (version) whose content has this SHA-256. Each entry is checked against the key's
   * current record (or the version's record) before it is returned; one that disagrees is an orphan left by
   * an interrupted write: it is repaired (deleted, or re-put if the record says so) and not returned.
   */
  async find(sha256: string, onRepair?: (repair: string) => void): Promise<ContentEntry[]> {
    const sha = sha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new UsageError(`"${sha256}" is not a SHA-256: give 64 hexadecimal digits`);
    const entryKeys: string[] = [];
    for await (const page of this.list(this.index.bucket, this.keys.contentPrefix(sha))) entryKeys.push(...page.map((o) => o.key));
    const repairs: string[] = [];
    const entries = await checkedContentEntries(entryKeys, { store: this.store, keys: this.keys }, repairs);
    for (const repair of repairs) onRepair?.(repair);
    return entries.sort((a, b) => `${a.bucket}/${a.key}/${a.versionId}`.localeCompare(`${b.bucket}/${b.key}/${b.versionId}`));
  }

  /** Pages of objects under a prefix (ListObjectsV2, continuation tokens). */
  async *list(bucket: string, prefix: string, options: { startAfter?: string; pageSize?: number } = {}) {
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ContinuationToken: token,
          StartAfter: token ? undefined : options.startAfter,
          MaxKeys: options.pageSize,
        }),
      );
      yield (page.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, eTag: (o.ETag ?? "").replace(/"/g, ""), lastModified: o.LastModified }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Re-reads each object, recomputes its SHA-256, and compares it with the index; for a prefix, also reads
   * every current record of the bucket and reports those under the prefix whose object is gone. With
   * `repair`, each problem is fixed through the function's own indexer, with a sequencer just after the
   * record's so that the repair wins over it (and any later real event wins over the repair).
   */
  async verify(location: S3Location, options: VerifyOptions): Promise<VerifyResult[]> {
    const results: VerifyResult[] = [];
    const progress: VerifyProgress = { done: 0, total: undefined, bytes: 0, startedAt: Date.now() };
    const finish = async (result: VerifyResult) => {
      const final = options.repair && result.status !== "match" ? await this.repair(result) : result;
      results.push(final);
      progress.done++;
      progress.bytes += final.size ?? 0;
      options.onResult?.(final);
      options.onProgress?.(progress);
    };
    const isPrefix = location.key === "" || location.key.endsWith("/");
    if (!isPrefix) {
      progress.total = 1;
      await finish(await this.verifyOne({ bucket: location.bucket, key: location.key }));
      return results;
    }
    // The objects first (a listing is quick), so the total is known before the long part.
    const objects: Array<{ key: string; size: number }> = [];
    for await (const page of this.list(location.bucket, location.key)) objects.push(...page);
    const listed = new Set(objects.map((o) => o.key));
    const listedRecords = new Set(objects.map((o) => this.keys.current(location.bucket, o.key)));
    const recordKeys: string[] = [];
    for await (const page of this.list(this.index.bucket, this.keys.currentPrefix(location.bucket))) recordKeys.push(...page.map((o) => o.key));
    progress.total = objects.length + recordKeys.length;
    options.onProgress?.(progress);
    await mapLimited(objects, options.concurrency, async (o) => finish(await this.verifyOne({ bucket: location.bucket, key: o.key })));
    // Records of objects that are not in the listing: present ones whose object is gone.
    await mapLimited(recordKeys, options.concurrency, async (recordKey) => {
      if (listedRecords.has(recordKey)) {
        // Its object was verified above.
        progress.done++;
        options.onProgress?.(progress);
        return;
      }
      let record: IndexRecord | undefined;
      try {
        record = (await this.store.get(recordKey, parseIndexRecord))?.value;
      } catch (error) {
        await finish({ bucket: location.bucket, key: recordKey, status: "corrupt", detail: `the index record ${recordKey} cannot be read: ${(error as Error).message}`, recordKey });
        return;
      }
      if (!record || !record.key.startsWith(location.key) || listed.has(record.key) || record.state !== "present") {
        progress.done++;
        options.onProgress?.(progress);
        return;
      }
      // Listed before the object was created? Ask for it once more before calling it gone.
      if (await this.exists(location.bucket, record.key)) {
        await finish(await this.verifyOne({ bucket: location.bucket, key: record.key }));
        return;
      }
      await finish({ bucket: location.bucket, key: record.key, status: "gone", indexed: record.sha256, detail: "the index says present, the object is gone" });
    });
    return results.sort((a, b) => a.key.localeCompare(b.key));
  }

  private async exists(bucket: string, key: string): Promise<{ eTag: string; size: number } | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { eTag: (head.ETag ?? "").replace(/"/g, ""), size: head.ContentLength ?? 0 };
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.$metadata?.httpStatusCode === 404 || e.name === "NotFound") return undefined;
      throw error;
    }
  }

  private async verifyOne(location: S3Location): Promise<VerifyResult> {
    const base = { bucket: location.bucket, key: location.key };
    let record: IndexRecord | undefined;
    try {
      record = await this.get(location);
    } catch (error) {
      return { ...base, status: "corrupt", detail: `the index record cannot be read: ${(error as Error).message}`, recordKey: this.keys.current(location.bucket, location.key) };
    }
    if (!record) return { ...base, status: "unindexed", detail: "no index record" };
    if (record.state === "deleted") {
      if (!(await this.exists(location.bucket, location.key))) return { ...base, status: "match", detail: "deleted, and the index says so" };
      return { ...base, status: "mismatch", detail: "the index says deleted, the object exists", sequencer: record.sequencer };
    }
    let read;
    try {
      read = await this.reader.read({ bucket: location.bucket, key: location.key, versionId: record.versionId ?? undefined });
    } catch (error) {
      if (error instanceof ObjectGoneError) {
        return { ...base, status: "gone", indexed: record.sha256, detail: "the index says present, the object is gone", sequencer: record.sequencer };
      }
      throw error;
    }
    const sha256 = read.computed.sha256Hex;
    if (sha256 !== record.sha256) {
      const changed = read.eTag !== record.eTag ? " (the object's ETag changed since it was indexed)" : "";
      return { ...base, status: "mismatch", sha256, indexed: record.sha256, size: read.size, detail: `content is ${sha256}, the index says ${record.sha256}${changed}`, sequencer: record.sequencer };
    }
    return { ...base, status: "match", sha256, size: read.size };
  }

  /** Fixes one problem of verify through the function's own indexer; returns the result after the repair. */
  private async repair(result: VerifyResult): Promise<VerifyResult> {
    const { bucket, key } = result;
    try {
      let sequencer = "0";
      if (result.status === "corrupt") {
        // An unreadable record cannot be decided on: remove it, then index the key afresh.
        await this.s3.send(new DeleteObjectCommand({ Bucket: this.index.bucket, Key: result.recordKey ?? this.keys.current(bucket, key) }));
        if (result.recordKey && result.recordKey !== this.keys.current(bucket, key)) return { ...result, status: "repaired", detail: `${result.detail}; removed` };
      } else if (result.sequencer) {
        sequencer = sequencerAfter(result.sequencer);
      } else {
        const current = await this.get({ bucket, key });
        if (current) sequencer = sequencerAfter(current.sequencer);
      }
      const now = new Date();
      const object = await this.exists(bucket, key);
      const change: ObjectChange = object
        ? { kind: "created", eventName: "ObjectCreated:Repair", eventTime: now.toISOString(), bucket, key, size: object.size, eTag: object.eTag, sequencer }
        : { kind: "removed", eventName: "ObjectRemoved:Delete", eventTime: now.toISOString(), bucket, key, sequencer };
      const outcome = await indexChange(change, { requestId: "verify-repair", now }, { reader: this.reader, store: this.store, keys: this.keys });
      const fixed = outcome.outcome === "indexed" || outcome.outcome === "removed" || outcome.outcome === "duplicate";
      return { ...result, status: fixed ? "repaired" : result.status, detail: `${result.detail}; repair: ${outcome.outcome}${outcome.reason ? ` (${outcome.reason})` : ""}` };
    } catch (error) {
      return { ...result, detail: `${result.detail}; repair failed: ${(error as Error).name}: ${(error as Error).message}` };
    }
  }

  /**
   * Indexes objects that existed before the notification (or whose events were missed). Each object goes
   * through the function's own indexer with the lowest possible sequencer, so a record written from a real
   * event always wins over a backfilled one. Resumable: a checkpoint file records the last completed page.
   */
  async backfill(location: S3Location, options: BackfillOptions): Promise<BackfillSummary> {
    const checkpoint = options.checkpointFile;
    const uri = `s3://${location.bucket}/${location.key}`;
    const pipeline = options.pipeline;
    if (location.bucket !== pipeline.source.name) {
      throw new UsageError(
        `${uri} is not in the source bucket of stack ${pipeline.stack} (s3://${pipeline.source.name}/): backfill indexes what the stack's trigger rules select; choose the stack with --stack`,
      );
    }
    let startAfter: string | undefined;
    const summary: BackfillSummary = {
      uri,
      listed: 0,
      indexed: 0,
      alreadyIndexed: 0,
      skipped: 0,
      outsideRules: 0,
      outsideExamples: [],
      failed: 0,
      bytes: 0,
      resumedAfter: undefined,
      complete: false,
      failures: [],
    };
    if (existsSync(checkpoint)) {
      const saved = JSON.parse(readFileSync(checkpoint, "utf8"));
      if (saved.uri !== uri) throw new UsageError(`the checkpoint ${checkpoint} is for ${saved.uri}, not ${uri}: remove it or give --checkpoint another file`);
      startAfter = saved.startAfter;
      summary.resumedAfter = startAfter;
    }
    let processed = 0;
    for await (const page of this.list(location.bucket, location.key, { startAfter, pageSize: options.pageSize })) {
      if (options.maxObjects !== undefined && processed >= options.maxObjects) break;
      if (options.shouldStop?.()) break;
      const batch = options.maxObjects !== undefined ? page.slice(0, options.maxObjects - processed) : page;
      await mapLimited(batch, options.concurrency, async (object) => {
        summary.listed++;
        // Only what the notification would have sent: the same rules (prefix, suffix, created events).
        if (!matchingRule(pipeline, location.bucket, "ObjectCreated:Put", object.key)) {
          summary.outsideRules++;
          if (summary.outsideExamples.length < 5) summary.outsideExamples.push(object.key);
          options.onProgress?.(summary);
          return;
        }
        try {
          const current = await this.get({ bucket: location.bucket, key: object.key });
          if (current?.state === "present" && current.eTag === object.eTag) {
            summary.alreadyIndexed++;
          } else {
            const change = backfillChange({ bucket: location.bucket, key: object.key, size: object.size, eTag: object.eTag, lastModified: object.lastModified });
            const result = await indexChange(change, { requestId: "backfill", now: new Date() }, { reader: this.reader, store: this.store, keys: this.keys });
            if (result.outcome === "indexed" || result.outcome === "duplicate") {
              summary.indexed++;
              summary.bytes += object.size;
            } else {
              summary.skipped++;
            }
          }
        } catch (error) {
          summary.failed++;
          summary.failures.push({ key: object.key, error: (error as Error).message });
        }
        options.onProgress?.(summary);
      });
      processed += batch.length;
      if (batch.length > 0) {
        writeFileSync(checkpoint, JSON.stringify({ uri, startAfter: batch[batch.length - 1].key, savedAt: new Date().toISOString() }) + "\n");
      }
      if (batch.length < page.length) break;
    }
    const stoppedEarly = (options.maxObjects !== undefined && processed >= options.maxObjects) || options.shouldStop?.();
    if (!stoppedEarly) {
      summary.complete = true;
      rmSync(checkpoint, { force: true });
    }
    return summary;
  }
}

export const VERIFY_STATUSES = ["match", "mismatch", "unindexed", "gone", "corrupt", "repaired"] as const;

export interface VerifyResult {
  readonly bucket: string;
  readonly key: string;
  /** gone: the index says present, the object is not there; repaired: a problem fixed by --repair. */
  readonly status: (typeof VERIFY_STATUSES)[number];
  readonly sha256?: string;
  readonly indexed?: string;
  readonly size?: number;
  readonly detail?: string;
  /** The record's sequencer, for a repair that must come after it. */
  readonly sequencer?: string;
  /** The index record's own key, when it is the record that is wrong. */
  readonly recordKey?: string;
}

export interface VerifyProgress {
  done: number;
  /** Known once the listing is done. */
  total: number | undefined;
  bytes: number;
  readonly startedAt: number;
}

export interface VerifyOptions {
  readonly concurrency: number;
  /** Fix each problem found through the function's own indexer. */
  readonly repair?: boolean;
  readonly onResult?: (r: VerifyResult) => void;
  readonly onProgress?: (p: VerifyProgress) => void;
}

/** The smallest sequencer after `sequencer` (same width or one digit more). */
export function sequencerAfter(sequencer: string): string {
  return (BigInt(`0x${sequencer}`) + 1n).toString(16).toUpperCase().padStart(sequencer.length, "0");
}

export interface BackfillOptions {
  /** The stack whose trigger rules select what is indexed. */
  readonly pipeline: Pipeline;
  readonly concurrency: number;
  readonly checkpointFile: string;
  readonly pageSize?: number;
  /** Stop (with a checkpoint) after this many objects in this run. */
  readonly maxObjects?: number;
  readonly shouldStop?: () => boolean;
  readonly onProgress?: (summary: BackfillSummary) => void;
}

export interface BackfillSummary {
  uri: string;
  listed: number;
  indexed: number;
  alreadyIndexed: number;
  skipped: number;
  /** Objects under the prefix that no trigger rule of the stack selects: not indexed. */
  outsideRules: number;
  /** A few of them, to show. */
  outsideExamples: string[];
  failed: number;
  bytes: number;
  resumedAfter: string | undefined;
  complete: boolean;
  failures: Array<{ key: string; error: string }>;
}

/** Default checkpoint file of a backfill: one per URI, in the working folder. */
export function defaultCheckpointFile(uri: string): string {
  return `.backfill-${createHash("sha256").update(uri).digest("hex").slice(0, 12)}.json`;
}

