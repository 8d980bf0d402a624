/**
 * Using the index: look up an object, find objects by content, verify, backfill. The same code against AWS
 * or the local endpoint (the SDK's AWS_ENDPOINT_URL_S3 selects it). It reuses the function's own modules:
 * one hashing routine, one index store, one record schema.
 */
import { backfillChange } from "../../lambda/backfill";
import { bucketNameProblems } from "../../lambda/contract";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { indexKeys, type IndexKeys } from "../../lambda/index-keys";
import { parseIndexRecord, type ContentEntry, type IndexRecord } from "../../lambda/index-record";
import { indexChange } from "../../lambda/indexer";
import { S3DocumentStore, S3ObjectReader } from "../../lambda/s3-store";

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

  /** Every indexed object (version) whose content has this SHA-256. */
  async find(sha256: string): Promise<ContentEntry[]> {
    const sha = sha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new UsageError(`"${sha256}" is not a SHA-256: give 64 hexadecimal digits`);
    const entries: ContentEntry[] = [];
    for await (const page of this.list(this.index.bucket, this.keys.contentPrefix(sha))) {
      for (const object of page) {
        const doc = await this.store.get(object.key, (text) => JSON.parse(text) as ContentEntry);
        if (doc) entries.push(doc.value);
      }
    }
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

  /** Re-reads each object, recomputes its SHA-256, and compares it with the index. */
  async verify(location: S3Location, options: { concurrency: number; onResult?: (r: VerifyResult) => void }): Promise<VerifyResult[]> {
    const results: VerifyResult[] = [];
    const check = async (key: string) => {
      const result = await this.verifyOne({ bucket: location.bucket, key });
      results.push(result);
      options.onResult?.(result);
    };
    const isPrefix = location.key === "" || location.key.endsWith("/");
    if (!isPrefix) {
      await check(location.key);
      return results;
    }
    for await (const page of this.list(location.bucket, location.key)) {
      await mapLimit(page, options.concurrency, (o) => check(o.key));
    }
    return results.sort((a, b) => a.key.localeCompare(b.key));
  }

  private async verifyOne(location: S3Location): Promise<VerifyResult> {
    const base = { bucket: location.bucket, key: location.key };
    let record: IndexRecord | undefined;
    try {
      record = await this.get(location);
    } catch (error) {
      return { ...base, status: "corrupt", detail: `the index record cannot be read: ${(error as Error).message}` };
    }
    if (!record) return { ...base, status: "unindexed", detail: "no index record" };
    if (record.state === "deleted") return { ...base, status: "mismatch", detail: "the index says deleted, the object exists" };
    const read = await this.reader.read({ bucket: location.bucket, key: location.key, versionId: record.versionId ?? undefined });
    const sha256 = read.computed.sha256Hex;
    if (sha256 !== record.sha256) {
      const changed = read.eTag !== record.eTag ? " (the object's ETag changed since it was indexed)" : "";
      return { ...base, status: "mismatch", sha256, indexed: record.sha256, detail: `content is ${sha256}, the index says ${record.sha256}${changed}` };
    }
    return { ...base, status: "match", sha256, size: read.size };
  }

  /**
   * Indexes objects that existed before the notification (or whose events were missed). Each object goes
   * through the function's own indexer with the lowest possible sequencer, so a record written from a real
   * event always wins over a backfilled one. Resumable: a checkpoint file records the last completed page.
   */
  async backfill(location: S3Location, options: BackfillOptions): Promise<BackfillSummary> {
    const checkpoint = options.checkpointFile;
    const uri = `s3://${location.bucket}/${location.key}`;
    let startAfter: string | undefined;
    const summary: BackfillSummary = { uri, listed: 0, indexed: 0, alreadyIndexed: 0, skipped: 0, failed: 0, bytes: 0, resumedAfter: undefined, complete: false, failures: [] };
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
      await mapLimit(batch, options.concurrency, async (object) => {
        summary.listed++;
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

export interface VerifyResult {
  readonly bucket: string;
  readonly key: string;
  readonly status: "match" | "mismatch" | "unindexed" | "corrupt";
  readonly sha256?: string;
  readonly indexed?: string;
  readonly size?: number;
  readonly detail?: string;
}

export interface BackfillOptions {
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

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}
