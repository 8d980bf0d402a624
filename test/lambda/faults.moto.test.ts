/**
 * The function against a real S3 API (moto: versioning, conditional writes, stored checksums) through a
 * proxy that injects one fault into one call: each fault of FAULTS on each call the function makes in a
 * scenario (FAULT_STRIDE=1; `npm test` samples every FAULT_STRIDE-th call, `npm run test:reliability` all).
 * Invocations that fail are retried, as Lambda does. After each run the index must equal what S3 serves:
 * no wrong record, no orphan or missing content entry.
 */
import { createHash } from "node:crypto";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processEvent, type Runtime } from "../../lambda/handler";
import { indexKeys, keyId } from "../../lambda/index-keys";
import { InvocationRetryStrategy } from "../../lambda/retry";
import { createS3Client, S3DocumentStore, S3ObjectReader } from "../../lambda/s3-store";
import { s3Event, type EventSpec } from "../support/events";
import { FAULTS, startFaultProxy, type Fault, type FaultProxy } from "../support/fault-proxy";
import { startMotoServer, type MotoServer } from "../support/moto-server";

const STRIDE = Number(process.env.FAULT_STRIDE ?? 20);
const PLAIN = "cix-plain";
const VERSIONED = "cix-versioned";
const INDEX = "cix-index";
const keys = indexKeys("index/");
const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");

let moto: MotoServer;
let proxy: FaultProxy;
let runtime: Runtime;
let s3: S3Client;
let run = 0;
let sequence = 0x100;
const figures = { runs: 0, faults: 0, invocations: 0, wrongRecords: 0, entryErrors: 0 };

beforeAll(async () => {
  moto = await startMotoServer();
  s3 = new S3Client(moto.clientConfig);
  for (const bucket of [PLAIN, VERSIONED, INDEX]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: VERSIONED, VersioningConfiguration: { Status: "Enabled" } }));
  proxy = await startFaultProxy(moto.endpoint);
  const retries = new InvocationRetryStrategy({ maxAttempts: 5, budget: 100, baseDelayMs: 5, throttlingBaseDelayMs: 10, maxDelayMs: 50 });
  // The function's client, with short timeouts so that a stall costs a second, not 15.
  const client = createS3Client(
    {
      endpoint: proxy.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: moto.clientConfig.credentials,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 1500, socketTimeout: 700, throwOnRequestTimeout: true },
    },
    retries,
  );
  const silent = { log() {} };
  runtime = {
    deps: { reader: new S3ObjectReader(client, 700), store: new S3DocumentStore(client, INDEX), keys, backoff: async () => {} },
    logger: silent,
    retries,
  };
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await moto?.stop();
  if (figures.runs > 0) console.log(`fault matrix: ${JSON.stringify(figures)}`);
});

const nextSequencer = () => (++sequence).toString(16).toUpperCase().padStart(16, "0");

async function put(bucket: string, key: string, body: string): Promise<EventSpec> {
  const result = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return { eventName: "ObjectCreated:Put", bucket, key, size: Buffer.byteLength(body), eTag: result.ETag!.replace(/"/g, ""), versionId: result.VersionId, sequencer: nextSequencer() };
}

async function deleteVersion(bucket: string, key: string, versionId: string): Promise<EventSpec> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return { eventName: "ObjectRemoved:Delete", bucket, key, versionId, sequencer: nextSequencer() };
}

/** Invokes as Lambda does: an invocation that fails is retried (up to 4 times here). */
async function deliver(spec: EventSpec): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    figures.invocations++;
    try {
      await processEvent(s3Event(spec), `req-${run}`, runtime);
      return;
    } catch (error) {
      if (attempt >= 4) throw error;
    }
  }
}

async function doc(key: string): Promise<any> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: INDEX, Key: key }));
    return JSON.parse(await object.Body!.transformToString());
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

async function entriesOf(bucket: string, key: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: INDEX, Prefix: "index/by-sha256/" }));
  return (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.includes(`/${bucket}/${keyId(key)}`)).sort();
}

/** The index must say what S3 serves for the key, with exactly the content entries that are true. */
async function expectIndexEqualsS3(bucket: string, key: string, versions: Array<{ versionId?: string; body: string }>): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const served = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
  const current = await doc(keys.current(bucket, key));
  const versionId = head.VersionId && head.VersionId !== "null" ? head.VersionId : null;
  const recordOk = current?.state === "present" && current.sha256 === sha256(served) && current.versionId === versionId;
  if (!recordOk) figures.wrongRecords++;
  expect(current, `current record of ${key}`).toMatchObject({ state: "present", sha256: sha256(served), versionId });
  const expected = versionId === null
    ? [keys.content(sha256(served), bucket, key)]
    : versions.map((v) => keys.content(sha256(v.body), bucket, key, v.versionId));
  const actual = await entriesOf(bucket, key);
  if (JSON.stringify(actual) !== JSON.stringify(expected.sort())) figures.entryErrors++;
  expect(actual, `content entries of ${key}`).toEqual(expected.sort());
}

/** An overwrite in an unversioned bucket: the old content's entry must go, even when the write's answer is lost. */
async function overwriteScenario(): Promise<void> {
  const key = `incoming/run-${++run}/overwritten.txt`;
  await deliver(await put(PLAIN, key, `first ${run}`));
  await deliver(await put(PLAIN, key, `second ${run}`));
  await expectIndexEqualsS3(PLAIN, key, []);
}

/** A versioned key whose current version is deleted: the older version is current again in S3 and in the index. */
async function restoreScenario(): Promise<void> {
  const key = `incoming/run-${++run}/restored.txt`;
  const v1 = await put(VERSIONED, key, `one ${run}`);
  await deliver(v1);
  const v2 = await put(VERSIONED, key, `two ${run}`);
  await deliver(v2);
  await deliver(await deleteVersion(VERSIONED, key, v2.versionId!));
  await expectIndexEqualsS3(VERSIONED, key, [{ versionId: v1.versionId, body: `one ${run}` }]);
}

const SCENARIOS: Array<[string, () => Promise<void>]> = [
  ["an overwrite in an unversioned bucket", overwriteScenario],
  ["deleting the current version of a versioned key", restoreScenario],
];

/** How many calls a scenario makes without faults. */
async function countCalls(scenario: () => Promise<void>): Promise<number> {
  proxy.arm(undefined);
  const before = proxy.calls;
  await scenario();
  // The checks go straight to moto, not through the proxy: every call counted is the function's.
  return proxy.calls - before;
}

describe("the function through a fault-injecting proxy to moto", () => {
  for (const [name, scenario] of SCENARIOS) {
    it(`${name}: after any one fault on any call and the retries, the index equals what S3 serves`, async () => {
      const calls = await countCalls(scenario);
      expect(calls).toBeGreaterThan(10);
      for (const fault of FAULTS as readonly Fault[]) {
        for (let at = fault.length % STRIDE; at < calls; at += STRIDE) {
          proxy.arm(fault, at);
          const injectedBefore = proxy.injected;
          await scenario();
          figures.runs++;
          figures.faults += proxy.injected - injectedBefore;
        }
      }
      proxy.arm(undefined);
    }, 600_000);
  }
});
