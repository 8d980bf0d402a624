/**
 * The scenario of issue 13: many keys in shared nested folders deleted in parallel (single and multi-object
 * deletes) while other uploads land in the same folders; then the index is compared with the bucket.
 */
import * as path from "node:path";
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { indexKeys } from "../../lambda/index-keys";
import { parseIndexRecord } from "../../lambda/index-record";
import { IndexTools } from "../../tools/index/index-tools";
import { LOCAL_CREDENTIALS } from "../../tools/local/local-endpoint";
import { inParallel, type InProcessLocalMode } from "./local-mode-in-process";

export interface ParallelDeleteOutcome {
  /** Calls that failed (none should). */
  failures: string[];
  /** Lines local mode printed with "!" (storage errors, failed events). */
  problems: string[];
  /** Deleted keys with exactly one "removed" line. */
  removedOnce: number;
  /** Keys in the bucket that should not be, and keys missing that should be there. */
  bucketMinusExpected: string[];
  /** Keys whose index state (present or not) is not what the bucket holds. */
  indexDisagreesWithBucket: string[];
}

export async function deleteInParallel(local: InProcessLocalMode, counts: { keys: number; newcomers: number }): Promise<ParallelDeleteOutcome> {
  const source = local.pipeline.source.name;
  const index = local.pipeline.index;
  const run = `incoming/par-${counts.keys}`;
  const keys = Array.from({ length: counts.keys }, (_, i) => `${run}/d${i % 4}/e${i % 3}/f${i % 5}/obj-${i}.txt`);
  const newcomers = Array.from({ length: counts.newcomers }, (_, i) => `${run}/d${i % 4}/e${i % 3}/f${i % 5}/new-${i}.txt`);

  // Stored straight into the server (no events), then indexed by a parallel backfill: quicker than one event at a time.
  const direct = new S3Client({ endpoint: local.endpoint.backend.url, region: "us-east-1", forcePathStyle: true, credentials: LOCAL_CREDENTIALS, requestChecksumCalculation: "WHEN_REQUIRED" });
  await inParallel(keys, 16, async (key) => {
    await direct.send(new PutObjectCommand({ Bucket: source, Key: key, Body: `body of ${key}` }));
  });
  direct.destroy();
  const tools = new IndexTools(local.client, { bucket: index.name, prefix: index.prefix });
  const backfill = await tools.backfill({ bucket: source, key: `${run}/` }, { concurrency: 8, checkpointFile: path.join(local.dataDir, `${counts.keys}.checkpoint`), pipeline: local.pipeline });
  if (backfill.indexed !== counts.keys) throw new Error(`the backfill indexed ${backfill.indexed} of ${counts.keys}: ${JSON.stringify(backfill.failures.slice(0, 3))}`);

  const quarter = Math.floor(counts.keys / 4);
  const single = keys.slice(0, counts.keys - quarter);
  const batches: string[][] = [];
  for (let i = counts.keys - quarter; i < counts.keys; i += 10) batches.push(keys.slice(i, Math.min(i + 10, counts.keys)));
  const failures: string[] = [];
  const note = (what: string) => (error: Error) => void failures.push(`${what}: ${error.name} ${error.message}`);
  const firstLine = local.lines.length;
  await Promise.all([
    inParallel(single, 32, (key) => local.client.send(new DeleteObjectCommand({ Bucket: source, Key: key })).then(() => undefined, note(key))),
    inParallel(batches, 8, async (batch) => {
      const answer = await local.client.send(new DeleteObjectsCommand({ Bucket: source, Delete: { Objects: batch.map((Key) => ({ Key })) } })).catch((e: Error) => {
        note(`DeleteObjects ${batch[0]}…`)(e);
        return undefined;
      });
      for (const e of answer?.Errors ?? []) failures.push(`DeleteObjects ${e.Key}: ${e.Code} ${e.Message}`);
    }),
    inParallel(newcomers, 8, (key) => local.client.send(new PutObjectCommand({ Bucket: source, Key: key, Body: key })).then(() => undefined, note(key))),
  ]);
  await local.settled();
  const lines = local.lines.slice(firstLine);
  const removedLines = new Map<string, number>();
  for (const line of lines) {
    const match = /^removed  s3:\/\/[^/]+\/(.+)$/.exec(line);
    if (match) removedLines.set(match[1], (removedLines.get(match[1]) ?? 0) + 1);
  }

  const inBucket = new Set<string>();
  let token: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const listed = await local.client.send(new ListObjectsV2Command({ Bucket: source, Prefix: `${run}/`, ContinuationToken: token }));
    for (const o of listed.Contents ?? []) inBucket.add(o.Key!);
    token = listed.NextContinuationToken;
    if (!listed.IsTruncated) break;
  }
  const expected = new Set(newcomers);
  const bucketMinusExpected = [...[...inBucket].filter((k) => !expected.has(k)).map((k) => `extra ${k}`), ...newcomers.filter((k) => !inBucket.has(k)).map((k) => `missing ${k}`)];
  const indexDisagreesWithBucket: string[] = [];
  await inParallel([...keys, ...newcomers], 16, async (key) => {
    let state: string | undefined;
    try {
      const got = await local.client.send(new GetObjectCommand({ Bucket: index.name, Key: indexKeys(index.prefix).current(source, key) }));
      state = parseIndexRecord(await got.Body!.transformToString()).state;
    } catch (error) {
      if ((error as Error).name !== "NoSuchKey") throw error;
    }
    if ((state === "present") !== inBucket.has(key)) indexDisagreesWithBucket.push(`${key}: index ${state ?? "none"}, bucket ${inBucket.has(key) ? "has it" : "has not"}`);
  });
  return {
    failures,
    problems: lines.filter((l) => l.startsWith("! ")),
    removedOnce: keys.filter((k) => removedLines.get(k) === 1).length,
    bucketMinusExpected,
    indexDisagreesWithBucket,
  };
}
