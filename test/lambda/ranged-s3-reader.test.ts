/**
 * The S3 reader reads an object larger than one part as parallel Range GETs into one digest, against a real
 * S3-compatible server (s3rver) on loopback: the same SHA-256 as one GET, a replaced object detected between
 * parts, and small objects read with one GET.
 */
import { createHash, randomBytes } from "node:crypto";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DigestWorkerPool } from "../../lambda/digest-offload";
import { ObjectReplacedError } from "../../lambda/errors";
import { isSuspended } from "../../lambda/ports";
import { contentRangeProblem, digestEngineFor, shouldSuspend } from "../../lambda/ranged-read";
import { firstBytesOf, S3ObjectReader, withIdleTimeout } from "../../lambda/s3-store";
import { PassThrough, Readable } from "node:stream";
import { startS3Server, type S3TestServer } from "../support/s3-server";

const BUCKET = "cix-ranged";
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** The client, counting the GETs and the Range each one asked for. */
function counting(client: S3Client) {
  const ranges: Array<string | undefined> = [];
  client.middlewareStack.remove("countRanges");
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === "GetObjectCommand") ranges.push((args.input as { Range?: string }).Range);
      return next(args);
    },
    { step: "initialize", name: "countRanges" },
  );
  return ranges;
}

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server([BUCKET]);
});
afterAll(async () => {
  await s3?.close();
});

describe("reading an object in parts", () => {
  it("hashes an object larger than the part size from Range GETs, equal to sha256 of its bytes", async () => {
    const body = randomBytes(300_000 + 123);
    const put = await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "big.bin", Body: body }));
    const ranges = counting(s3.client);
    const reader = new S3ObjectReader(s3.client, undefined, { partSize: 64 * 1024, concurrency: 3 });
    const read = await reader.read({ bucket: BUCKET, key: "big.bin", ifMatch: put.ETag!.replace(/"/g, ""), expectedSize: body.length });
    expect(read.computed.sha256Hex).toBe(sha256(body));
    expect(read.size).toBe(body.length);
    // MD5 of every byte verifies the single-part ETag: the stored checksum came through the ranged path.
    expect(read.computed.verifying?.algorithm).toBe("MD5");
    expect(Buffer.from(read.computed.verifying!.value!, "base64").toString("hex")).toBe(put.ETag!.replace(/"/g, ""));
    expect(ranges).toHaveLength(Math.ceil(body.length / (64 * 1024)));
    expect(ranges[0]).toBe(`bytes=0-${64 * 1024 - 1}`);
  });

  it("reads an object of unknown size (a Batch Operations task) in parts once its GET shows it is larger than one", async () => {
    const body = randomBytes(200_000 + 17);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "unknown-size.bin", Body: body }));
    const ranges = counting(s3.client);
    const reader = new S3ObjectReader(s3.client, undefined, { partSize: 64 * 1024, concurrency: 3 });
    const read = await reader.read({ bucket: BUCKET, key: "unknown-size.bin" });
    expect(read.computed.sha256Hex).toBe(sha256(body));
    expect(read.size).toBe(body.length);
    // The whole GET's first part is part 1; parts 2 … 4 are Range GETs.
    expect(ranges).toEqual([undefined, `bytes=${64 * 1024}-${2 * 64 * 1024 - 1}`, `bytes=${2 * 64 * 1024}-${3 * 64 * 1024 - 1}`, `bytes=${3 * 64 * 1024}-${body.length - 1}`]);
    expect(Buffer.from(read.computed.verifying!.value!, "base64").toString("hex")).toBe(createHash("md5").update(body).digest("hex"));
  });

  it("hashes on the digest worker to the same result as in-thread, in parts and with one GET, and keeps one warm worker", async () => {
    const pool = new DigestWorkerPool();
    try {
      // Objects of one batch or less (the last two) are hashed in-thread: the same result either way.
      for (const [key, length] of [["worker-parts.bin", 1024 * 1024 + 17], ["worker-one.bin", 5000], ["worker-empty.bin", 0]] as const) {
        const body = randomBytes(length);
        await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
        const request = { bucket: BUCKET, key, expectedSize: body.length };
        const settings = { partSize: 256 * 1024, concurrency: 3 };
        const inThread = await new S3ObjectReader(s3.client, undefined, settings).read(request);
        const onWorker = await new S3ObjectReader(s3.client, undefined, settings, { pool }).read(request);
        expect(onWorker, key).toEqual(inThread);
        expect(onWorker.computed.sha256Hex).toBe(sha256(body));
      }
      expect(pool.threads).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it("reads an object no larger than one part with one GET and no Range", async () => {
    const body = randomBytes(1000);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "small.bin", Body: body }));
    const ranges = counting(s3.client);
    const reader = new S3ObjectReader(s3.client, undefined, { partSize: 64 * 1024, concurrency: 3 });
    const read = await reader.read({ bucket: BUCKET, key: "small.bin", expectedSize: body.length });
    expect(read.computed.sha256Hex).toBe(sha256(body));
    expect(ranges).toEqual([undefined]);
  });

  it.each([false, true])("fails with ObjectReplacedError when the object is overwritten between parts (digest worker: %s)", async (withWorker) => {
    const pool = new DigestWorkerPool();
    const body = randomBytes(1_200_000);
    const put = await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "moving.bin", Body: body }));
    // Overwrite as soon as the second part arrived (the digest has started): later parts are pinned with
    // If-Match on the first ETag.
    let gets = 0;
    let overwritten = false;
    s3.client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === "GetObjectCommand" && (args.input as { Key?: string }).Key === "moving.bin" && ++gets === 2 && !overwritten) {
          overwritten = true;
          await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "moving.bin", Body: randomBytes(1_200_000) }));
        }
        return out;
      },
      { step: "initialize", name: "overwriteAfterFirstPart" },
    );
    const reader = new S3ObjectReader(s3.client, undefined, { partSize: 256 * 1024, concurrency: 1 }, withWorker ? { pool } : undefined);
    await expect(reader.read({ bucket: BUCKET, key: "moving.bin", ifMatch: put.ETag!.replace(/"/g, ""), expectedSize: body.length })).rejects.toThrow(ObjectReplacedError);
    s3.client.middlewareStack.remove("overwriteAfterFirstPart");
    // The abandoned digest gave its worker back: it stays the one warm worker, and serves the next read.
    expect(pool.threads).toBe(withWorker ? 1 : 0);
    const again = await reader.read({ bucket: BUCKET, key: "moving.bin" });
    expect(again.size).toBe(1_200_000);
    expect(pool.threads).toBe(withWorker ? 1 : 0);
    await pool.close();
  });

  it("stops at a part boundary with a resumable checkpoint when the deadline is near, and continues to the same SHA-256", async () => {
    const body = randomBytes(256 * 1024);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "resume.bin", Body: body }));
    const reader = new S3ObjectReader(s3.client, undefined, { partSize: 32 * 1024, concurrency: 2 });
    // A deadline already passed: the digest is resumable from the start and stops after the first part.
    const first = await reader.readUntil({ bucket: BUCKET, key: "resume.bin", expectedSize: body.length, stopAt: Date.now() - 1 });
    expect(isSuspended(first)).toBe(true);
    if (!isSuspended(first)) return;
    expect(first.checkpoint.offset).toBe(32 * 1024);
    const checkpoint = JSON.parse(JSON.stringify(first.checkpoint));
    const rest = await reader.readUntil({ bucket: BUCKET, key: "resume.bin", expectedSize: body.length, resume: checkpoint });
    expect(isSuspended(rest)).toBe(false);
    if (!isSuspended(rest)) expect(rest.computed.sha256Hex).toBe(sha256(body));
  });
});

describe("the decisions of a ranged read", () => {
  it("takes a body's first bytes, splitting the chunk that crosses the limit, and closes the body", async () => {
    const body = Readable.from([Buffer.from("abcd"), Buffer.from("efgh"), Buffer.from("ijkl")]);
    const taken: Buffer[] = [];
    for await (const chunk of firstBytesOf(body, 6)) taken.push(Buffer.from(chunk as Uint8Array));
    expect(Buffer.concat(taken).toString()).toBe("abcdef");
    expect(body.destroyed).toBe(true);
  });

  it("accepts exactly the bytes asked for, out of the object's size", () => {
    expect(contentRangeProblem("bytes 0-9/100", 10, 0, 9, 100)).toBeUndefined();
    expect(contentRangeProblem("bytes 0-9/101", 10, 0, 9, 100)).toMatch(/101 bytes/);
    expect(contentRangeProblem("bytes 10-19/100", 10, 0, 9, 100)).toMatch(/got 10-19/);
    expect(contentRangeProblem(undefined, 10, 0, 9, 100)).toMatch(/Content-Range null/);
    expect(contentRangeProblem("bytes 0-9/100", 9, 0, 9, 100)).toMatch(/Content-Length 9/);
  });

  it("hashes natively what finishes in time at the assumed rate, resumably what may not", () => {
    const MiB = 1024 * 1024;
    expect(digestEngineFor(100 * MiB, 0, undefined)).toBe("native");
    expect(digestEngineFor(48 * MiB, 0, 1000, 48 * MiB)).toBe("native");
    expect(digestEngineFor(49 * MiB, 0, 1000, 48 * MiB)).toBe("resumable");
  });

  it("stops when two more parts at the last part's pace would pass the deadline", () => {
    expect(shouldSuspend(1000, 1300, 100)).toBe(false);
    expect(shouldSuspend(1000, 1200, 100)).toBe(true);
  });
});

describe("the first bytes of a whole GET as part 1", () => {
  it("ends at the idle timeout when the body goes silent, and destroys the body", async () => {
    const body = new PassThrough();
    body.write(Buffer.alloc(10, 1));
    const iterate = (async () => {
      for await (const _ of withIdleTimeout(firstBytesOf(body, 100), 100, "x"));
    })();
    const outcome = await Promise.race([iterate.then(() => "ended", () => "threw"), new Promise((r) => setTimeout(() => r("still waiting after 2 s"), 2_000))]);
    expect(outcome).toBe("threw");
    expect(body.destroyed).toBe(true);
  });
});
