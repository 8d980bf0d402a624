/**
 * The digest worker as deployed: the real bundle is built and unzipped, and its handler (DIGEST_WORKER=on)
 * indexes objects against s3rver with the hashing on `digest-worker.mjs`, found beside `handler.mjs`.
 * Objects stored with CRC64NVME (on moto, which stores checksums as S3 does) verify with the bundled
 * WebAssembly CRC. Without `digest-worker.mjs` the read fails with the worker's typed error instead of hanging.
 */
import { createHash, randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { GetObjectCommand, PutObjectCommand, type PutObjectCommandInput } from "@aws-sdk/client-s3";
import { unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIGEST_WORKER, HANDLER } from "../../lambda/contract";
import { indexKeys } from "../../lambda/index-keys";
import { bundleFunction } from "../../stacks/bundle";
import { handlerFromFile } from "../../tools/local/bundled-handler";
import { s3Event } from "../support/events";
import { invokeHandler } from "../support/handler-logs";
import { startMotoS3, startTestS3, type S3TestServer } from "../support/s3-server";
import { tempDir } from "../support/temp";

const SOURCE = "cix-worker-source";
const INDEX = "cix-worker-index";
const PROJECT = path.resolve(__dirname, "..", "..");

let s3: S3TestServer;
let zip: Uint8Array;
beforeAll(async () => {
  s3 = await startTestS3([SOURCE, INDEX]);
  zip = bundleFunction({ entry: HANDLER.source, projectRoot: PROJECT }).zip;
});
afterAll(() => s3?.close());

/** The zip's files in a folder of their own; returns the handler's file. */
function unpack(): string {
  const dir = tempDir("cix-worker-bundle-");
  for (const [name, bytes] of Object.entries(unzipSync(zip))) writeFileSync(path.join(dir, name), bytes);
  return path.join(dir, `${HANDLER.file}.mjs`);
}

let sequencer = 0x2000;
async function uploadAndIndex(file: string, key: string, body: Buffer, digestWorker = "on", server: S3TestServer = s3, put: Partial<PutObjectCommandInput> = {}): Promise<unknown> {
  const stored = await server.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body, ...put }));
  const handler = handlerFromFile(file, { ...server.env, INDEX_BUCKET: INDEX, INDEX_PREFIX: "index/", DIGEST_WORKER: digestWorker, READ_PART_SIZE_MIB: "4" });
  const event = s3Event({ eventName: "ObjectCreated:Put", bucket: SOURCE, key, size: body.length, eTag: stored.ETag!.replace(/"/g, ""), sequencer: (++sequencer).toString(16).padStart(18, "0") });
  await invokeHandler(handler, event, `req-${sequencer}`);
  const record = await server.client.send(new GetObjectCommand({ Bucket: INDEX, Key: indexKeys("index/").current(SOURCE, key) }));
  return JSON.parse(await record.Body!.transformToString());
}

describe("the bundled digest worker", () => {
  it("indexes objects read with one GET and in parts, hashing on the worker beside handler.mjs", async () => {
    const file = unpack();
    for (const [key, body] of [
      ["incoming/one-get.bin", randomBytes(3 * 1024 * 1024)],
      ["incoming/in-parts.bin", randomBytes(9 * 1024 * 1024 + 5)],
    ] as const) {
      const record = await uploadAndIndex(file, key, body);
      // s3rver stores no checksum: the ETag's MD5, computed on the worker, is what verifies the bytes.
      expect(record, key).toMatchObject({ size: body.length, sha256: createHash("sha256").update(body).digest("hex"), s3Checksum: { verification: "match", verifiedBy: "MD5" } });
    }
  });

  it("verifies objects stored with CRC64NVME (moto stores it, as S3 does) with the bundled WebAssembly CRC, on the worker and in-thread", async () => {
    const moto = await startMotoS3([SOURCE, INDEX]);
    try {
      const file = unpack();
      for (const [key, body, worker] of [
        ["incoming/crc64-one-get.bin", randomBytes(3 * 1024 * 1024 + 1), "on"],
        ["incoming/crc64-in-parts.bin", randomBytes(9 * 1024 * 1024 + 7), "on"],
        ["incoming/crc64-in-thread.bin", randomBytes(5 * 1024 * 1024 + 3), "off"],
      ] as const) {
        const record = await uploadAndIndex(file, key, body, worker, moto, { ChecksumAlgorithm: "CRC64NVME" });
        expect(record, key).toMatchObject({ sha256: createHash("sha256").update(body).digest("hex"), s3Checksum: { verification: "match", verifiedBy: "CRC64NVME" } });
      }
    } finally {
      await moto.close();
    }
  });

  it("fails the read with the worker's typed error when the worker, asked for, cannot start", async () => {
    const file = unpack();
    rmSync(path.join(path.dirname(file), `${DIGEST_WORKER.file}.mjs`));
    await expect(uploadAndIndex(file, "incoming/no-worker.bin", randomBytes(2 * 1024 * 1024))).rejects.toThrow(/digest worker/);
  });

  it("hashes on the read's thread under auto when the zip has no worker file, and still verifies", async () => {
    const file = unpack();
    rmSync(path.join(path.dirname(file), `${DIGEST_WORKER.file}.mjs`));
    const body = randomBytes(2 * 1024 * 1024 + 3);
    const record = await uploadAndIndex(file, "incoming/no-worker-auto.bin", body, "auto");
    expect(record).toMatchObject({ sha256: createHash("sha256").update(body).digest("hex"), s3Checksum: { verification: "match", verifiedBy: "MD5" } });
  });
});
