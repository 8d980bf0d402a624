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
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { indexKeys } from "../../lambda/index-keys";
import { parseIndexRecord, type IndexRecord } from "../../lambda/index-record";
import { runCli } from "../../tools/index-cli";
import { isPartHead, LOCAL_CREDENTIALS, withoutQueryParameter } from "../../tools/local/local-endpoint";
import type { S3rverBackend } from "../../tools/local/s3rver-backend";
import { deleteInParallel } from "../support/parallel-deletes";
import { startInProcessLocalMode, type InProcessLocalMode } from "../support/local-mode-in-process";
import { startLocalMode } from "../../tools/local-mode";
import { tempDir } from "../support/temp";

const startInProcessLocalModeOnPort = (port: number) => startLocalMode({ port, dataDir: tempDir("cix-port-"), stack: "dev", print: () => {} });

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

const linesFor = (prefix: string, key: string) => local.lines.filter((l) => l === `${prefix}  s3://${SOURCE}/${key}` || l.startsWith(`${prefix}  s3://${SOURCE}/${key}  `)).length;

beforeAll(async () => {
  local = await startInProcessLocalMode({ maxAttempts: 1 });
});
afterAll(async () => local?.close());

describe("events come from what the server did", () => {
  it("deleting 120 keys of nested folders in parallel, single and multi-object, while others upload into the same folders, leaves the index equal to the bucket", async () => {
    // The 400-key run is in the clients suite (npm run test:clients).
    const outcome = await deleteInParallel(local, { keys: 120, newcomers: 24 });
    expect(outcome.failures).toEqual([]);
    expect(outcome.problems).toEqual([]);
    expect(outcome.removedOnce).toBe(120);
    expect(outcome.bucketMinusExpected).toEqual([]);
    expect(outcome.indexDisagreesWithBucket).toEqual([]);
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

describe("verify finds what the index gets wrong, and --repair fixes it through the function's code", () => {
  async function cli(...args: string[]) {
    const out: string[] = [];
    const progress: string[] = [];
    const env = {
      ...process.env,
      AWS_ENDPOINT_URL_S3: local.endpoint.url,
      S3_FORCE_PATH_STYLE: "true",
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_REGION: "us-east-1",
      INDEX_BUCKET: INDEX,
      INDEX_PREFIX: "index/",
    };
    const code = await runCli(args, env, { out: (l) => out.push(l), err: (l) => out.push(l), progress: (l) => progress.push(l) });
    return { code, out: out.join("\n"), progress };
  }

  it("reports a record whose object is gone, a wrong checksum and an unindexed object, with progress and ETA; --repair makes all match", async () => {
    for (const name of ["a", "b", "c"]) await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: `incoming/v/${name}.txt`, Body: `content ${name}` }));
    await local.settled();
    // Behind local mode's back (straight to the server): b disappears and d appears without events.
    const direct = new S3Client({ endpoint: local.endpoint.backend.url, region: "us-east-1", forcePathStyle: true, credentials: LOCAL_CREDENTIALS, requestChecksumCalculation: "WHEN_REQUIRED" });
    await direct.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: "incoming/v/b.txt" }));
    await direct.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/v/d.txt", Body: "content d" }));
    direct.destroy();
    const c = (await record("incoming/v/c.txt"))!;
    await local.client.send(new PutObjectCommand({ Bucket: INDEX, Key: indexKeys("index/").current(SOURCE, "incoming/v/c.txt"), Body: JSON.stringify({ ...c, sha256: "0".repeat(64) }) }));

    const found = await cli("verify", `s3://${SOURCE}/incoming/v/`);
    expect(found.code).toBe(1);
    expect(found.out).toContain(`gone       s3://${SOURCE}/incoming/v/b.txt  the index says present, the object is gone`);
    expect(found.out).toContain(`mismatch   s3://${SOURCE}/incoming/v/c.txt  content is ${sha256("content c")}`);
    expect(found.out).toContain(`unindexed  s3://${SOURCE}/incoming/v/d.txt`);
    expect(found.out).toMatch(/verified 4: 1 match, 1 mismatch, 1 unindexed, 1 gone, 0 corrupt$/m);
    const withEta = found.progress.filter((l) => /^verify s3:\/\/\S+  \d+\/\d+  .* elapsed  ETA \d+ s$/.test(l));
    expect(withEta.length).toBeGreaterThan(0);
    const [done, total] = found.progress.filter((l) => /\d+\/\d+/.test(l)).at(-1)!.match(/(\d+)\/(\d+)/)!.slice(1).map(Number);
    expect(done).toBe(total);

    const repaired = await cli("verify", `s3://${SOURCE}/incoming/v/`, "--repair");
    expect(repaired.out).toMatch(/verified 4: 1 match, 0 mismatch, 0 unindexed, 0 gone, 0 corrupt, 3 repaired$/m);
    expect(repaired.code).toBe(0);
    const after = await cli("verify", `s3://${SOURCE}/incoming/v/`);
    expect(after.out).toMatch(/verified 3: 3 match, 0 mismatch, 0 unindexed, 0 gone, 0 corrupt$/m);
    expect(after.code).toBe(0);
    expect(await record("incoming/v/b.txt")).toMatchObject({ state: "deleted" });
    expect(await record("incoming/v/c.txt")).toMatchObject({ state: "present", sha256: sha256("content c") });
    expect(await record("incoming/v/d.txt")).toMatchObject({ state: "present", sha256: sha256("content d") });
    // A real event after the repair still wins over it.
    await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/v/c.txt", Body: "newer c" }));
    await local.settled();
    expect(await record("incoming/v/c.txt")).toMatchObject({ sha256: sha256("newer c") });
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

  it("stops promptly after a client hung up in the middle of a GET (a reader that took only the bytes it needed)", async () => {
    await local.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/abandoned.bin", Body: randomBytes(24 * 1024 * 1024) }));
    await local.settled();
    const got = await local.client.send(new GetObjectCommand({ Bucket: SOURCE, Key: "incoming/abandoned.bin" }));
    const body = got.Body as NodeJS.ReadableStream & { destroy(): void };
    for await (const _ of body) break;
    const closed = await Promise.race([local.close().then(() => "closed"), new Promise((r) => setTimeout(() => r("still open after 10 s"), 10_000))]);
    expect(closed).toBe("closed");
    // A client hanging up is not a storage problem.
    expect(local.lines.filter((l) => l.startsWith("!") && /ECONNRESET|EPIPE|aborted/.test(l))).toEqual([]);
  }, 30_000);

  it("keeps no folder that deletes emptied once stopped", async () => {
    await local.close();
    // incoming/fault/ lost its only object; incoming/mp/ still holds objects.
    expect(existsSync(path.join(local.dataDir, "s3", SOURCE, "incoming", "fault"))).toBe(false);
    expect(existsSync(path.join(local.dataDir, "s3", SOURCE, "incoming", "mp"))).toBe(true);
  });
});

describe("npm start on a taken port", () => {
  it("says the port is taken and suggests --port", async () => {
    const holder = await startInProcessLocalMode();
    try {
      const error = await startInProcessLocalModeOnPort(holder.endpoint.port).catch((e) => e);
      expect(error.name).toBe("PortInUseError");
      expect(error.message).toBe(
        `port ${holder.endpoint.port} on 127.0.0.1 is already in use (another npm start?): choose another with --port, e.g. npm start -- --port ${holder.endpoint.port + 1}, or --port 0 for any free port`,
      );
    } finally {
      await holder.close();
    }
  });
});

describe("which requests the proxy answers itself", () => {
  it("takes a HEAD with partNumber of an object for a part HEAD, not one of an upload in progress", () => {
    expect(isPartHead("/bucket/a/b.bin?partNumber=2")).toBe(true);
    expect(isPartHead("/bucket/a/b.bin?versionId=v1&partNumber=1")).toBe(true);
    expect(isPartHead("/bucket/a/b.bin?uploadId=u&partNumber=2")).toBe(false);
    expect(isPartHead("/bucket/a/b.bin")).toBe(false);
    expect(isPartHead("/bucket?partNumber=1")).toBe(false);
  });

  it("drops one query parameter and keeps the others as they were encoded", () => {
    expect(withoutQueryParameter("/b/k?versionId=a%2Bb&partNumber=3", "partNumber")).toBe("/b/k?versionId=a%2Bb");
    expect(withoutQueryParameter("/b/k?partNumber=3", "partNumber")).toBe("/b/k");
    expect(withoutQueryParameter("/b/k", "partNumber")).toBe("/b/k");
  });
});
