/**
 * Local mode raises events from what the server did: one per successful create, copy, multipart
 * completion and delete (single and multi-object), none for a failed call, none lost to a storage error.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import * as path from "node:path";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { indexKeys } from "../../lambda/index-keys";
import { parseIndexRecord, type IndexRecord } from "../../lambda/index-record";
import type { S3rverBackend } from "../../tools/local/s3rver-backend";
import { inParallel, startInProcessLocalMode, type InProcessLocalMode } from "../support/local-mode-in-process";

const SOURCE = "checksum-index-dev-source";
const INDEX = "checksum-index-dev-index";
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");
let local: InProcessLocalMode;

async function record(key: string): Promise<IndexRecord | undefined> {
  try {
    const got = await local.client.send(new GetObjectCommand({ Bucket: INDEX, Key: indexKeys("index/").current(SOURCE, key) }));
    return parseIndexRecord(await got.Body!.transformToString());
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function listAll(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const listed = await local.client.send(new ListObjectsV2Command({ Bucket: SOURCE, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(listed.Contents ?? []).map((o) => o.Key!));
    token = listed.NextContinuationToken;
    if (!listed.IsTruncated) break;
  }
  return keys;
}

const linesFor = (prefix: string, key: string) => local.lines.filter((l) => l === `${prefix}  s3://${SOURCE}/${key}` || l.startsWith(`${prefix}  s3://${SOURCE}/${key}  `)).length;

beforeAll(async () => {
  local = await startInProcessLocalMode({ maxAttempts: 1 });
});
afterAll(async () => local?.close());

describe("events come from what the server did", () => {
  it("deleting 400 keys of nested folders in parallel, single and multi-object, while others upload into the same folders, leaves the index equal to the bucket", async () => {
    // Folders shared by many keys, so that parallel deletes empty the same folders at the same time.
    const keys = Array.from({ length: 400 }, (_, i) => `incoming/par/d${i % 4}/e${i % 3}/f${i % 5}/obj-${i}.txt`);
    await inParallel(keys, 16, async (key) => {
      await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: `body of ${key}` }));
    });
    await local.settled();
    expect(local.count("indexed  s3://")).toBeGreaterThanOrEqual(400);

    const single = keys.slice(0, 240);
    const batches = Array.from({ length: 8 }, (_, b) => keys.slice(240 + b * 20, 260 + b * 20));
    const newcomers = Array.from({ length: 60 }, (_, i) => `incoming/par/d${i % 4}/e${i % 3}/f${i % 5}/new-${i}.txt`);
    const failures: string[] = [];
    const note = (what: string) => (error: Error) => void failures.push(`${what}: ${error.name} ${error.message}`);
    await Promise.all([
      inParallel(single, 32, (key) => local.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key })).then(() => undefined, note(key))),
      inParallel(batches, 8, async (batch) => {
        const answer = await local.client.send(new DeleteObjectsCommand({ Bucket: SOURCE, Delete: { Objects: batch.map((Key) => ({ Key })) } }));
        expect(answer.Errors ?? []).toEqual([]);
      }),
      inParallel(newcomers, 8, (key) => local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: key })).then(() => undefined, note(key))),
    ]);
    expect(failures).toEqual([]);
    await local.settled();

    expect(local.lines.filter((l) => l.startsWith("! "))).toEqual([]);
    const removed = keys.filter((key) => linesFor("removed", key) === 1);
    expect(removed.length).toBe(400);
    // The index says exactly what the bucket holds.
    const inBucket = new Set(await listAll("incoming/par/"));
    expect([...inBucket].sort()).toEqual([...newcomers].sort());
    const states = await Promise.all([...keys, ...newcomers].map(async (key) => [key, (await record(key))?.state] as const));
    const wrong = states.filter(([key, state]) => (state === "present") !== inBucket.has(key));
    expect(wrong).toEqual([]);
    expect(existsSync(local.failureLog)).toBe(false);
  });

  it("a delete that fails inside the server after removing the object still raises its event, once; the client's retry raises none", async () => {
    const key = "incoming/fault/victim.txt";
    await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: "soon gone" }));
    const store = (local.endpoint.backend as S3rverBackend).store;
    const original = store.deleteObject;
    // What s3rver did under parallel deletes: the files are removed, then the folder clean-up fails.
    store.deleteObject = async (bucket: string, k: string) => {
      await original(bucket, k);
      throw Object.assign(new Error(`ENOENT: no such file or directory, scandir '${k}'`), { code: "ENOENT" });
    };
    try {
      const failed = await local.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key })).catch((e) => e);
      expect(failed.$metadata.httpStatusCode).toBe(500);
    } finally {
      store.deleteObject = original;
    }
    await local.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: key }));
    await local.settled();
    expect(linesFor("removed", key)).toBe(1);
    expect((await record(key))?.state).toBe("deleted");
    expect(local.lines.some((l) => l.includes("answered 500 but the object is gone"))).toBe(true);
  });

  it("a call that fails raises no event: a missing copy source, a delete of a missing key, a corrupted upload", async () => {
    const before = local.lines.length;
    const copy = await local.client
      .send(new CopyObjectCommand({ Bucket: SOURCE, Key: "incoming/nope-copy.txt", CopySource: `${SOURCE}/incoming/never-existed.txt` }))
      .catch((e) => e);
    expect(copy.name).toBe("NoSuchKey");
    await local.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: "incoming/never-existed.txt" }));
    await local.client.send(new DeleteObjectsCommand({ Bucket: SOURCE, Delete: { Objects: [{ Key: "incoming/never-1.txt" }, { Key: "incoming/never-2.txt" }] } }));
    await local.settled();
    expect(local.lines.slice(before)).toEqual([]);
  });

  it("a copy, a multipart upload and a multipart copy (UploadPartCopy) each raise one create event with the stored bytes", async () => {
    const big = randomBytes(5 * 1024 * 1024 + 100);
    await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/mp/source.bin", Body: big }));
    await local.client.send(new CopyObjectCommand({ Bucket: SOURCE, Key: "incoming/mp/copied.bin", CopySource: `${SOURCE}/incoming/mp/source.bin` }));

    const upload = await local.client.send(new CreateMultipartUploadCommand({ Bucket: SOURCE, Key: "incoming/mp/part-copied.bin" }));
    const first = await local.client.send(
      new UploadPartCopyCommand({
        Bucket: SOURCE,
        Key: "incoming/mp/part-copied.bin",
        UploadId: upload.UploadId,
        PartNumber: 1,
        CopySource: `${SOURCE}/incoming/mp/source.bin`,
        CopySourceRange: `bytes=0-${5 * 1024 * 1024 - 1}`,
      }),
    );
    const second = await local.client.send(
      new UploadPartCopyCommand({
        Bucket: SOURCE,
        Key: "incoming/mp/part-copied.bin",
        UploadId: upload.UploadId,
        PartNumber: 2,
        CopySource: `${SOURCE}/incoming/mp/source.bin`,
        CopySourceRange: `bytes=${5 * 1024 * 1024}-${big.length - 1}`,
      }),
    );
    expect(first.CopyPartResult?.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    await local.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: SOURCE,
        Key: "incoming/mp/part-copied.bin",
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.CopyPartResult!.ETag }, { PartNumber: 2, ETag: second.CopyPartResult!.ETag }] },
      }),
    );
    const upload2 = await local.client.send(new CreateMultipartUploadCommand({ Bucket: SOURCE, Key: "incoming/mp/uploaded.bin" }));
    const part = await local.client.send(new UploadPartCommand({ Bucket: SOURCE, Key: "incoming/mp/uploaded.bin", UploadId: upload2.UploadId, PartNumber: 1, Body: big }));
    await local.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: SOURCE,
        Key: "incoming/mp/uploaded.bin",
        UploadId: upload2.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    await local.settled();
    for (const key of ["source.bin", "copied.bin", "part-copied.bin", "uploaded.bin"]) {
      expect(linesFor("indexed", `incoming/mp/${key}`), key).toBe(1);
      expect(await record(`incoming/mp/${key}`), key).toMatchObject({ state: "present", sha256: sha256(big), size: big.length });
    }
    expect((await record("incoming/mp/part-copied.bin"))?.eventName).toBe("ObjectCreated:CompleteMultipartUpload");
    expect((await record("incoming/mp/copied.bin"))?.eventName).toBe("ObjectCreated:Copy");
    
    const missing = await local.client
      .send(new UploadPartCopyCommand({ Bucket: SOURCE, Key: "incoming/mp/x.bin", UploadId: "0123abcd", PartNumber: 1, CopySource: `${SOURCE}/incoming/mp/source.bin` }))
      .catch((e) => e);
    expect(missing.name).toBe("NoSuchUpload");
  });
});

describe("answers real clients need", () => {
  const longKey = `incoming/${"k".repeat(300)}.txt`;

  it("a key the server cannot store is 404 for HEAD and GET, 204 for DELETE, 400 for PUT: never 500", async () => {
    const head = await local.client.send(new HeadObjectCommand({ Bucket: SOURCE, Key: longKey })).catch((e) => e);
    expect(head.$metadata.httpStatusCode).toBe(404);
    const get = await local.client.send(new GetObjectCommand({ Bucket: SOURCE, Key: longKey })).catch((e) => e);
    expect(get).toMatchObject({ name: "NoSuchKey", $metadata: { httpStatusCode: 404 } });
    const del = await local.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: longKey }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    const put = await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: longKey, Body: "x" })).catch((e) => e);
    expect(put).toMatchObject({ name: "KeyTooLongError", $metadata: { httpStatusCode: 400 } });
    await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/beside-long.txt", Body: "x" }));
    const multi = await local.client.send(new DeleteObjectsCommand({ Bucket: SOURCE, Delete: { Objects: [{ Key: longKey }, { Key: "incoming/beside-long.txt" }] } }));
    expect(multi.Deleted?.map((d) => d.Key).sort()).toEqual(["incoming/beside-long.txt", longKey]);
    await local.settled();
    expect((await record("incoming/beside-long.txt"))?.state).toBe("deleted");
  });

  it("an object's ACL names the owner with FULL_CONTROL, as with ACLs disabled in S3", async () => {
    await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/acl.txt", Body: "acl" }));
    const acl = await local.client.send(new GetObjectAclCommand({ Bucket: SOURCE, Key: "incoming/acl.txt" }));
    expect(acl.Grants).toEqual([{ Grantee: expect.objectContaining({ Type: "CanonicalUser", ID: acl.Owner!.ID }), Permission: "FULL_CONTROL" }]);
    const missing = await local.client.send(new GetObjectAclCommand({ Bucket: SOURCE, Key: "incoming/none.txt" })).catch((e) => e);
    expect(missing.name).toBe("NoSuchKey");
  });

  it("keeps no folder that deletes emptied once stopped", async () => {
    await local.close();
    // incoming/fault/ lost its only object; incoming/mp/ still holds objects.
    expect(existsSync(path.join(local.dataDir, "s3", SOURCE, "incoming", "fault"))).toBe(false);
    expect(existsSync(path.join(local.dataDir, "s3", SOURCE, "incoming", "mp"))).toBe(true);
  });
});
