/**
 * The native CRCs as deployed: the real zip, built for this machine's architecture, carries aws-crt's binary
 * beside handler.mjs, and its handler verifies a 130 MiB object that S3 (moto 5.2.1) stores with a CRC64NVME
 * checksum with it, on the read's thread and on the digest worker, saying so once in its log. A zip whose
 * binary is for the other architecture (it does not open here) still verifies, with hash-wasm, and warns.
 */
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HANDLER, NATIVE_CHECKSUMS } from "../../lambda/contract";
import { indexKeys } from "../../lambda/index-keys";
import { bundleFunction, hostArchitecture, type FunctionArchitecture } from "../../stacks/bundle";
import { handlerFromFile } from "../../tools/local/bundled-handler";
import { s3Event } from "../support/events";
import { invokeHandler } from "../support/handler-logs";
import { startMotoS3, type S3TestServer } from "../support/s3-server";
import { tempDir } from "../support/temp";

const SOURCE = "cix-native-source";
const INDEX = "cix-native-index";
const PROJECT = path.resolve(__dirname, "..", "..");
const MiB = 1024 * 1024;
const host = hostArchitecture();
const other: FunctionArchitecture = host === "arm64" ? "x86_64" : "arm64";

let s3: S3TestServer;
let client: S3Client;
const body = randomBytes(130 * MiB + 11);
let eTag: string;
beforeAll(async () => {
  s3 = await startMotoS3([SOURCE, INDEX]);
  // The JS SDK sends a CRC64NVME checksum, which moto stores and returns, as S3 does.
  client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: s3.env.AWS_REGION, credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY } });
  const put = await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/large.bin", Body: body, ChecksumAlgorithm: "CRC64NVME" }));
  eTag = put.ETag!.replace(/"/g, "");
}, 120_000);
afterAll(async () => {
  client?.destroy();
  await s3?.close();
});

/** The zip built with the binary of `architecture`, unzipped into a folder of its own; returns the handler's file. */
function unpack(architecture: FunctionArchitecture): string {
  const dir = tempDir("cix-native-bundle-");
  for (const [name, bytes] of Object.entries(unzipSync(bundleFunction({ entry: HANDLER.source, projectRoot: PROJECT, nativeChecksums: architecture }).zip))) {
    writeFileSync(path.join(dir, name), bytes);
  }
  return path.join(dir, `${HANDLER.file}.mjs`);
}

let sequencer = 0x3000;
async function index(file: string, digestWorker: string) {
  const prefix = `index-${++sequencer}/`;
  const handler = handlerFromFile(file, { ...s3.env, INDEX_BUCKET: INDEX, INDEX_PREFIX: prefix, DIGEST_WORKER: digestWorker });
  const event = s3Event({ eventName: "ObjectCreated:Put", bucket: SOURCE, key: "incoming/large.bin", size: body.length, eTag, sequencer: sequencer.toString(16).padStart(18, "0") });
  const logs = await invokeHandler(handler, event, `req-${sequencer}`);
  const record = await client.send(new GetObjectCommand({ Bucket: INDEX, Key: indexKeys(prefix).current(SOURCE, "incoming/large.bin") }));
  return { record: JSON.parse(await record.Body!.transformToString()), logs: logs.filter((line) => /native checksums/.test(line.message)) };
}

describe.skipIf(!host)("the bundled native CRCs", () => {
  const sha256 = createHash("sha256").update(body).digest("hex");

  it.each(["off", "on"])("verify a 130 MiB CRC64NVME object with the zip's binary (digest worker %s), and say so once", async (digestWorker) => {
    const { record, logs } = await index(unpack(host as FunctionArchitecture), digestWorker);
    expect(record).toMatchObject({ size: body.length, sha256, s3Checksum: { verification: "match", verifiedBy: "CRC64NVME" } });
    expect(logs).toEqual([expect.objectContaining({ level: "INFO", message: "native checksums in use", file: expect.stringMatching(new RegExp(`/${NATIVE_CHECKSUMS.file.replace(/\./g, "\\.")}$`)) })]);
    expect(path.dirname(logs[0].file)).not.toMatch(/node_modules/);
  }, 120_000);

  it(`still verify with hash-wasm when the binary does not open (the ${other} binary here), and warn once`, async () => {
    const { record, logs } = await index(unpack(other), "off");
    expect(record).toMatchObject({ size: body.length, sha256, s3Checksum: { verification: "match", verifiedBy: "CRC64NVME" } });
    expect(logs).toEqual([expect.objectContaining({ level: "WARN", message: "native checksums not used", reason: expect.stringMatching(/did not open/) })]);
  }, 120_000);
});
