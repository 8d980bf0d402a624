/**
 * The bench's S3 server (tools/bench/s3-server-process.ts): s3rver in its own process, keeping the checksum a
 * PutObject sends and returning it as S3 does, so that the bench reads an object stored with CRC64NVME as
 * the function reads one in AWS. Writes that change the object's bytes forget it; tagging does not.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, PutObjectTaggingCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestStream } from "../../lambda/hashing";
import { DEFAULT_READ_SETTINGS } from "../../lambda/s3-store";
import { benchClient, functionClient, readerPlan, readerSha256 } from "../../tools/bench/read-path";
import { LOOPBACK_TLS, startS3ServerProcess, type S3ServerProcess } from "../../tools/bench/s3-server-process";
import { tempDir } from "../support/temp";

const BUCKET = "bench";
let server: S3ServerProcess;
let client: S3Client;
beforeAll(async () => {
  server = await startS3ServerProcess(tempDir("cix-bench-server-"), BUCKET);
  client = benchClient(server.endpoint);
});
afterAll(async () => {
  client?.destroy();
  await server?.close();
});

async function crc64nvme(body: Buffer): Promise<string> {
  return (await digestStream([body], { algorithm: "CRC64NVME" })).verifying!.value!;
}

async function stored(key: string): Promise<string | undefined> {
  const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: "ENABLED" }));
  return head.ChecksumCRC64NVME ?? head.ChecksumCRC32;
}

describe("the bench's S3 server", () => {
  it("returns the CRC64NVME a PutObject sent, FULL_OBJECT, on HEAD and whole GETs only; the reader verifies with it", async () => {
    const body = randomBytes(DEFAULT_READ_SETTINGS.partSize + 12_345);
    const value = await crc64nvme(body);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "large object.bin", Body: body, ChecksumCRC64NVME: value }));
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "large object.bin", ChecksumMode: "ENABLED" }));
    expect([head.ChecksumCRC64NVME, head.ChecksumType]).toEqual([value, "FULL_OBJECT"]);
    const ranged = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "large object.bin", ChecksumMode: "ENABLED", Range: "bytes=0-9" }));
    await ranged.Body!.transformToByteArray();
    expect(ranged.ChecksumCRC64NVME, "S3 returns no whole-object checksum for a Range GET").toBeUndefined();
    // Read in parts, as the bench reads it: verified with CRC64NVME, or readerPlan throws.
    expect(await readerPlan(client, DEFAULT_READ_SETTINGS, BUCKET, "large object.bin", body.length)).toEqual({ algorithm: "CRC64NVME" });
  });

  it("keeps it across tagging, and forgets it when a copy, or a delete and a PutObject without one, replaces the bytes", async () => {
    const key = "a b+ü.bin";
    const value = await crc64nvme(Buffer.from("hello world"));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from("hello world"), ChecksumCRC64NVME: value }));
    await client.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: key, Tagging: { TagSet: [{ Key: "team", Value: "data" }] } }));
    const afterTagging = await stored(key);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "other.bin", Body: Buffer.from("other bytes") }));
    await client.send(new CopyObjectCommand({ Bucket: BUCKET, Key: key, CopySource: `${BUCKET}/other.bin` }));
    const afterCopy = await stored(key);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from("hello world"), ChecksumCRC64NVME: value }));
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from("new") }));
    expect([afterTagging, afterCopy, await stored(key)]).toEqual([value, undefined, undefined]);
  });

  it("answers a malformed percent-escape as s3rver does (404), not with a server error", async () => {
    expect((await fetch(`${server.endpoint}/${BUCKET}/bad%E0%A4%A`)).status).toBe(404);
  });
});

describe("the bench's S3 server over TLS", () => {
  it("serves HTTPS with the loopback certificate; the function's client reads in parts over it and verifies CRC64NVME, the SDK's client agrees", async () => {
    const tls = await startS3ServerProcess(tempDir("cix-bench-tls-"), BUCKET, true);
    const ca = readFileSync(LOOPBACK_TLS.cert);
    const sdk = benchClient(tls.endpoint, ca);
    const fn = functionClient(tls.endpoint, ca);
    try {
      expect(tls.endpoint).toMatch(/^https:\/\/localhost:\d+$/);
      const body = randomBytes(2 * DEFAULT_READ_SETTINGS.partSize + 777);
      await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: "over tls.bin", Body: body, ChecksumCRC64NVME: await crc64nvme(body) }));
      expect(await readerPlan(fn, DEFAULT_READ_SETTINGS, BUCKET, "over tls.bin", body.length)).toEqual({ algorithm: "CRC64NVME" });
      expect(await readerSha256(fn, DEFAULT_READ_SETTINGS, BUCKET, "over tls.bin", body.length)).toBe(createHash("sha256").update(body).digest("hex"));
      // Without the certificate's authority the function's client refuses the server.
      const untrusting = functionClient(tls.endpoint);
      await expect(untrusting.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "over tls.bin" }))).rejects.toMatchObject({ code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
      untrusting.destroy();
    } finally {
      sdk.destroy();
      fn.destroy();
      await tls.close();
    }
  });
});
