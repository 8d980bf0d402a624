/**
 * A Batch Operations task whose continuation chain died (its continuation failed all of Lambda's attempts
 * and went to the failure queue) after the task was answered Succeeded ("continued"): re-running the job,
 * the remedy for an object left unindexed, must read the object again, not find the dead chain. Against
 * moto, whose S3 enforces the conditional writes the chain relies on.
 */
import { createHash, randomBytes } from "node:crypto";
import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Continuations, type ContinuationEvent, type Invoker } from "../../lambda/continuation";
import { processBatch, processEvent, type Runtime } from "../../lambda/handler";
import { indexKeys } from "../../lambda/index-keys";
import type { Logger } from "../../lambda/log";
import type { ObjectReader } from "../../lambda/ports";
import { S3DocumentStore, S3ObjectReader } from "../../lambda/s3-store";
import { startMotoServer, type MotoServer } from "../support/moto-server";

const SOURCE = "cix-batch-rerun-src";
const INDEX = "cix-batch-rerun-idx";
const PART = 256 * 1024;
const keys = indexKeys("index/");

let moto: MotoServer;
let client: S3Client;
beforeAll(async () => {
  moto = await startMotoServer();
  client = new S3Client({ ...moto.clientConfig, requestChecksumCalculation: "WHEN_SUPPORTED" });
  for (const Bucket of [SOURCE, INDEX]) await client.send(new CreateBucketCommand({ Bucket }));
  await client.send(new PutBucketVersioningCommand({ Bucket: SOURCE, VersioningConfiguration: { Status: "Enabled" } }));
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await moto?.stop();
});

function runtime(queue: ContinuationEvent[], logs: unknown[], reader?: ObjectReader): Runtime {
  const store = new S3DocumentStore(client, INDEX);
  const invoker: Invoker = { invoke: async (event) => void queue.push(event) };
  const logger: Logger = { log: (level, message, fields) => logs.push({ level, message, ...fields }) };
  return {
    deps: { reader: reader ?? new S3ObjectReader(client, undefined, { partSize: PART, concurrency: 2 }), store, keys, backoff: async () => {} },
    logger,
    continuations: new Continuations(store, "index/", invoker),
    partSize: PART,
  };
}

/** A few milliseconds per invocation: every invocation stops after a part or a few. */
const budget = () => ({ deadline: Date.now() + 5 });
const job = (id: string, task: object) => ({ invocationSchemaVersion: "2.0", invocationId: `${id}-invocation`, job: { id, userArguments: {} }, tasks: [task] });

describe("a Batch Operations job run again", () => {
  it("reads an object whose chain from an earlier run died, and records sha256sum's SHA-256", async () => {
    const key = "incoming/batch-dead.bin";
    const body = randomBytes(12 * PART + 3);
    const put = await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    const task = { taskId: "t1", s3Bucket: SOURCE, s3Key: key, s3VersionId: put.VersionId };
    const logs: unknown[] = [];
    const queue: ContinuationEvent[] = [];

    const first = await processBatch(job("job-1", task), "job1-0", runtime(queue, logs), budget());
    expect(first.results[0]).toMatchObject({ resultCode: "Succeeded", resultString: expect.stringMatching(/^continued/) });
    expect(queue).toHaveLength(1);
    // Its continuation fails on each of Lambda's 3 attempts: the event goes to the failure queue.
    const failing = new S3ObjectReader(client, undefined, { partSize: PART, concurrency: 2 });
    failing.readUntil = async () => {
      throw Object.assign(new Error("We encountered an internal error"), { name: "InternalError", $metadata: { httpStatusCode: 500 } });
    };
    const dead = queue.shift()!;
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(processEvent(dead, `cont-${attempt}`, runtime(queue, logs, failing), budget())).rejects.toThrow(/internal error/);
    }

    const second = await processBatch(job("job-2", task), "job2-0", runtime(queue, logs), budget());
    expect(second.results[0]).toMatchObject({ resultCode: "Succeeded", resultString: expect.stringMatching(/^continued/) });
    for (let i = 0; queue.length > 0 && i < 200; i++) await processEvent(queue.shift(), `job2-${i + 1}`, runtime(queue, logs), budget());
    expect(queue).toEqual([]);
    const record = await new S3DocumentStore(client, INDEX).get(keys.current(SOURCE, key), JSON.parse);
    expect(record?.value).toMatchObject({ state: "present", versionId: put.VersionId, sha256: createHash("sha256").update(body).digest("hex") });
  });
});
