/**
 * Single-part objects uploaded by the JS SDK with each checksum algorithm (the SDK computes the value and
 * sends it; the server stores it), then read by the function's S3 reader from moto's S3: every intact read
 * is verified by that algorithm, and one bit flipped on the way (a middleware corrupting the GET's body)
 * is a mismatch. Multipart checksums are proven against S3's documented shapes in checksum-matrix.test.ts:
 * moto does not return them faithfully.
 */
import { Transform } from "node:stream";
import { createHash } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type ChecksumAlgorithm,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareS3Checksum } from "../../lambda/checksums";
import { createS3Client, S3ObjectReader } from "../../lambda/s3-store";
import { startMotoServer, type MotoServer } from "../support/moto-server";

const BUCKET = "moto-checksums";
const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7 + (i >> 9)) & 0xff));

/** Flips one bit of the first chunk of every GetObject body: what a corrupted read delivers. */
function corruptingReads(client: S3Client): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const output = result.output as { Body?: NodeJS.ReadableStream };
      if (context.commandName === "GetObjectCommand" && output.Body) {
        let first = true;
        const flip = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            if (first && chunk.length > 0) {
              chunk = Buffer.from(chunk);
              chunk[0] ^= 0x01;
              first = false;
            }
            done(null, chunk);
          },
        });
        output.Body = output.Body.pipe(flip);
      }
      return result;
    },
    { step: "initialize", name: "corruptReadsForTest" },
  );
  return client;
}

let moto: MotoServer;
let uploader: S3Client;
beforeAll(async () => {
  moto = await startMotoServer();
  uploader = new S3Client({ ...moto.clientConfig, requestChecksumCalculation: "WHEN_SUPPORTED" });
  await uploader.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 30_000);
afterAll(async () => {
  uploader?.destroy();
  await moto?.stop();
});

describe("single-part objects uploaded by the JS SDK, read from moto", () => {
  it.each(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const)("verifies %s, and reports a flipped bit as a mismatch", async (algorithm) => {
    const key = `incoming/${algorithm}.bin`;
    await uploader.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ChecksumAlgorithm: algorithm as ChecksumAlgorithm }));
    const endpoint = { endpoint: moto.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "moto", secretAccessKey: "moto" } };

    const client = createS3Client(endpoint);
    const read = await new S3ObjectReader(client).read({ bucket: BUCKET, key, expectedSize: body.length });
    expect(compareS3Checksum(read.stored, read.computed)).toMatchObject({ algorithm, source: "checksum", verification: "match", verifiedBy: algorithm });

    const corrupting = corruptingReads(createS3Client(endpoint));
    const bad = await new S3ObjectReader(corrupting).read({ bucket: BUCKET, key, expectedSize: body.length });
    expect(compareS3Checksum(bad.stored, bad.computed)).toMatchObject({ algorithm, verification: "mismatch" });
    client.destroy();
    corrupting.destroy();
  });
});

describe("a multipart upload without checksums, read from moto", () => {
  // moto answers HEAD ?partNumber=n with the part's own ETag (and compares If-Match with it), unlike S3:
  // the reader must then read and index the object, leaving its ETag unchecked with the reason.
  it.each([false, true])("is read whole and its ETag left unchecked, saying why (versioned bucket: %s)", async (versioned) => {
    const bucket = `moto-mpu-${versioned ? "versioned" : "plain"}`;
    const plain = new S3Client({ ...moto.clientConfig, requestChecksumCalculation: "WHEN_REQUIRED" });
    await plain.send(new CreateBucketCommand({ Bucket: bucket }));
    if (versioned) await plain.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
    const key = "incoming/mpu.bin";
    const sizes = [5 * 1024 * 1024, 5 * 1024 * 1024, 300_000];
    const bytes = Buffer.alloc(sizes.reduce((a, b) => a + b, 0), 7);
    const { UploadId } = await plain.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const parts = [];
    for (let i = 0, at = 0; i < sizes.length; at += sizes[i], i++) {
      const { ETag } = await plain.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: bytes.subarray(at, at + sizes[i]) }));
      parts.push({ ETag, PartNumber: i + 1 });
    }
    await plain.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));

    const client = createS3Client(moto.clientConfig);
    const read = await new S3ObjectReader(client).read({ bucket, key, expectedSize: bytes.length });
    expect(read.computed.sha256Hex).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(compareS3Checksum(read.stored, read.computed)).toMatchObject({ algorithm: "MD5", verification: "not-comparable", reason: expect.stringContaining("partNumber=1") });
    client.destroy();
    plain.destroy();
  });
});
