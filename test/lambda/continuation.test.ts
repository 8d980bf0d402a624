/**
 * An object larger than one invocation can read: each invocation's time budget runs out, the read's state
 * is saved in the index bucket and the function "invokes itself" (an injected invoker; the continuations run
 * here, in order, against moto, whose S3 enforces the conditional writes the chain relies on). The record is written once, at the end, and its SHA-256 is sha256sum's.
 * Duplicated and retried continuations change nothing.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { CreateBucketCommand, DeleteObjectCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claimDecision, Continuations, type ContinuationEvent, type Invoker } from "../../lambda/continuation";
import { BACKFILL_EVENT_NAME } from "../../lambda/backfill";
import { processBatch, processEvent, type Runtime } from "../../lambda/handler";
import { indexKeys } from "../../lambda/index-keys";
import type { Logger } from "../../lambda/log";
import { S3DocumentStore, S3ObjectReader } from "../../lambda/s3-store";
import { s3Event } from "../support/events";
import { startMotoServer, type MotoServer } from "../support/moto-server";
import { tempDir } from "../support/temp";

const SOURCE = "cix-cont-source";
const VERSIONED = "cix-cont-versioned";
const INDEX = "cix-cont-index";
const PART = 256 * 1024;
const keys = indexKeys("index/");

let moto: MotoServer;
let s3: { client: S3Client };
beforeAll(async () => {
  moto = await startMotoServer();
  s3 = { client: new S3Client({ ...moto.clientConfig, requestChecksumCalculation: "WHEN_SUPPORTED" }) };
  for (const Bucket of [SOURCE, INDEX, VERSIONED]) await s3.client.send(new CreateBucketCommand({ Bucket }));
  await s3.client.send(new PutBucketVersioningCommand({ Bucket: VERSIONED, VersioningConfiguration: { Status: "Enabled" } }));
}, 60_000);
afterAll(async () => {
  s3?.client.destroy();
  await moto?.stop();
});

/** An invoker that queues the events, failing the first invocation of `failAtStep` once if asked. */
function queueInvoker(failAtStep?: number) {
  const queue: ContinuationEvent[] = [];
  let failed = false;
  const invoker: Invoker = {
    async invoke(event) {
      if (event.s3ChecksumIndexContinuation.step === failAtStep && !failed) {
        failed = true;
        throw new Error("Rate exceeded (injected)");
      }
      queue.push(event);
    },
  };
  return { queue, invoker };
}

function runtimeWith(invoker: Invoker, logs: any[]): Runtime {
  const store = new S3DocumentStore(s3.client, INDEX);
  const logger: Logger = { log: (level, message, fields) => logs.push({ level, message, ...fields }) };
  return {
    deps: { reader: new S3ObjectReader(s3.client, undefined, { partSize: PART, concurrency: 2 }), store, keys, backoff: async () => {} },
    logger,
    continuations: new Continuations(store, "index/", invoker),
    partSize: PART,
  };
}

/** Every PutObject the runtime's client sends to `key`. */
function countPuts(key: string): { count: number } {
  const counter = { count: 0 };
  s3.client.middlewareStack.remove("countRecordPuts");
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string; Bucket?: string };
      if (context.commandName === "PutObjectCommand" && input.Bucket === INDEX && input.Key === key) counter.count++;
      return next(args);
    },
    { step: "initialize", name: "countRecordPuts" },
  );
  return counter;
}

/** Uploads `size` random bytes and returns the event S3 would send, and sha256sum's answer for the bytes. */
async function upload(key: string, size: number, sequencer: string) {
  const body = randomBytes(size);
  const put = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
  const file = path.join(tempDir("cix-cont-"), "object.bin");
  writeFileSync(file, body);
  const sha256sum = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
  const event = s3Event({ eventName: "ObjectCreated:Put", bucket: SOURCE, key, size, eTag: put.ETag!.replace(/"/g, ""), sequencer });
  return { event, sha256sum };
}

/** A few milliseconds per invocation: every invocation stops after a part or a few. */
const budget = () => ({ deadline: Date.now() + 5 });

async function continuationDocs(): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: INDEX, Prefix: "index/continuations/" }));
  return (out.Contents ?? []).map((c) => c.Key!);
}

describe("an object read over several invocations", () => {
  it("continues at least three times and records the SHA-256 that sha256sum gives, once", async () => {
    const { event, sha256sum } = await upload("incoming/huge-1.bin", 16 * PART + 1234, "0000000000000000A1");
    const puts = countPuts(keys.current(SOURCE, "incoming/huge-1.bin"));
    const logs: any[] = [];
    const { queue, invoker } = queueInvoker();
    const runtime = runtimeWith(invoker, logs);
    await processEvent(event, "request-0", runtime, budget());
    let invocations = 0;
    for (; queue.length > 0 && invocations < 200; invocations++) await processEvent(queue.shift(), `request-${invocations + 1}`, runtime, budget());
    expect(queue).toEqual([]);
    expect(invocations).toBeGreaterThanOrEqual(3);
    const record = await runtime.deps.store.get(keys.current(SOURCE, "incoming/huge-1.bin"), JSON.parse);
    expect(record?.value).toMatchObject({ state: "present", sha256: sha256sum, size: 16 * PART + 1234, s3Checksum: { verification: "match" } });
    expect(puts.count).toBe(1);
    expect(logs.filter((l) => l.outcome === "continued")).toHaveLength(invocations);
    expect(logs.filter((l) => l.outcome === "indexed")).toHaveLength(1);
    // Only the chain's small `done` document is left of it.
    const left = (await continuationDocs()).filter((k) => logs.some((l) => l.chain && k.includes(l.chain)));
    expect(left).toEqual([expect.stringMatching(/\/done\.json$/)]);
  });

  it("ignores duplicated continuations, delivered at once and again later", async () => {
    const { event, sha256sum } = await upload("incoming/huge-2.bin", 12 * PART, "0000000000000000A2");
    const puts = countPuts(keys.current(SOURCE, "incoming/huge-2.bin"));
    const logs: any[] = [];
    const { queue, invoker } = queueInvoker();
    const runtime = runtimeWith(invoker, logs);
    await processEvent(event, "dup-0", runtime, budget());
    const delivered: ContinuationEvent[] = [];
    let invocations = 0;
    for (; queue.length > 0 && invocations < 200; invocations++) {
      const next = queue.shift()!;
      delivered.push(next);
      // Each continuation delivered twice at once, plus an older one delivered again late.
      await Promise.all([processEvent(next, `dup-${invocations}-a`, runtime, budget()), processEvent(next, `dup-${invocations}-b`, runtime, budget())]);
      if (delivered.length > 1) await processEvent(delivered[0], `late-${invocations}`, runtime, budget());
    }
    expect(invocations).toBeGreaterThanOrEqual(3);
    // The duplicate S3 event itself, delivered after the chain finished: nothing is read or written again.
    await processEvent(event, "dup-event", runtime, budget());
    const record = await runtime.deps.store.get(keys.current(SOURCE, "incoming/huge-2.bin"), JSON.parse);
    expect(record?.value).toMatchObject({ sha256: sha256sum, requestId: expect.stringMatching(/^dup-/) });
    expect(puts.count).toBe(1);
    expect(logs.filter((l) => l.outcome === "indexed")).toHaveLength(1);
    expect(logs.filter((l) => l.outcome === "duplicate").length).toBeGreaterThanOrEqual(invocations);
  });

  it("goes on after a continuation failed and Lambda retried it (the next step saved but not invoked)", async () => {
    const { event, sha256sum } = await upload("incoming/huge-3.bin", 10 * PART + 7, "0000000000000000A3");
    const logs: any[] = [];
    // Invoking step 2 fails once: the invocation that saved step 2 fails and is retried.
    const { queue, invoker } = queueInvoker(2);
    const runtime = runtimeWith(invoker, logs);
    await processEvent(event, "retry-0", runtime, budget());
    let invocations = 0;
    let failures = 0;
    for (; queue.length > 0 && invocations < 200; invocations++) {
      const next = queue.shift()!;
      try {
        await processEvent(next, `retry-${invocations}`, runtime, budget());
      } catch (error) {
        failures++;
        expect((error as Error).message).toMatch(/invoking step 2 of chain [0-9a-f]{64} failed/);
        // Lambda retries the same event, later, as another attempt.
        await processEvent(next, `retry-${invocations}-again`, runtime, budget());
      }
    }
    expect(failures).toBe(1);
    const record = await runtime.deps.store.get(keys.current(SOURCE, "incoming/huge-3.bin"), JSON.parse);
    expect(record?.value?.sha256).toBe(sha256sum);
    expect(logs.filter((l) => l.outcome === "indexed")).toHaveLength(1);
    expect((await continuationDocs()).some((k) => k.endsWith("/done.json"))).toBe(true);
  });
});

describe("claims on a step", () => {
  it("let one attempt read a step until its lease ends", () => {
    expect(claimDecision(undefined, "a", 100)).toBe("claim");
    expect(claimDecision({ attemptId: "a", leaseUntil: 200 }, "a", 100)).toBe("mine");
    expect(claimDecision({ attemptId: "a", leaseUntil: 200 }, "b", 100)).toBe("busy");
    expect(claimDecision({ attemptId: "a", leaseUntil: 200 }, "b", 200)).toBe("take-over");
    expect(claimDecision({ attemptId: "a", leaseUntil: 0 }, "b", 100)).toBe("take-over");
  });
});

/** Runs the queued continuations, each with a tiny budget, until none is left; returns how many ran. */
async function drain(queue: ContinuationEvent[], runtime: Runtime, prefix: string): Promise<number> {
  let invocations = 0;
  for (; queue.length > 0 && invocations < 200; invocations++) await processEvent(queue.shift(), `${prefix}-${invocations + 1}`, runtime, budget());
  expect(queue).toEqual([]);
  return invocations;
}

describe("reads that continue beyond object creations", () => {
  it("a Batch Operations task on a large object is answered Succeeded (continued) and its chain records sha256sum's SHA-256", async () => {
    const { sha256sum } = await upload("incoming/batch-huge.bin", 12 * PART + 99, "0000000000000000B1");
    const logs: any[] = [];
    const { queue, invoker } = queueInvoker();
    const runtime = runtimeWith(invoker, logs);
    const invocation = { invocationSchemaVersion: "2.0", invocationId: "job-1", job: { id: "j" }, tasks: [{ taskId: "t1", s3Bucket: SOURCE, s3Key: "incoming/batch-huge.bin" }] };
    const response = await processBatch(invocation, "batch-0", runtime, budget());
    expect(response.results).toEqual([{ taskId: "t1", resultCode: "Succeeded", resultString: expect.stringMatching(/^continued/) }]);
    expect(await drain(queue, runtime, "batch")).toBeGreaterThanOrEqual(3);
    const record = await runtime.deps.store.get(keys.current(SOURCE, "incoming/batch-huge.bin"), JSON.parse);
    expect(record?.value).toMatchObject({ state: "present", sha256: sha256sum, eventName: BACKFILL_EVENT_NAME });
  });

  it("a large version made current again by a versioned delete continues, and the key ends on it with sha256sum's SHA-256", async () => {
    const key = "incoming/restored-huge.bin";
    const older = randomBytes(12 * PART + 5);
    const v1 = await s3.client.send(new PutObjectCommand({ Bucket: VERSIONED, Key: key, Body: older }));
    const v2 = await s3.client.send(new PutObjectCommand({ Bucket: VERSIONED, Key: key, Body: "newer" }));
    const logs: any[] = [];
    const { queue, invoker } = queueInvoker();
    const runtime = runtimeWith(invoker, logs);
    const created = s3Event({ eventName: "ObjectCreated:Put", bucket: VERSIONED, key, size: 5, eTag: v2.ETag!.replace(/"/g, ""), versionId: v2.VersionId, sequencer: "0000000000000000C1" });
    await processEvent(created, "restore-0", runtime, budget());
    // Deleting the current version makes the older one current again.
    await s3.client.send(new DeleteObjectCommand({ Bucket: VERSIONED, Key: key, VersionId: v2.VersionId }));
    const removed = s3Event({ eventName: "ObjectRemoved:Delete", bucket: VERSIONED, key, versionId: v2.VersionId, sequencer: "0000000000000000C2" });
    await processEvent(removed, "restore-1", runtime, budget());
    expect(logs.filter((l) => l.outcome === "continued").length).toBeGreaterThanOrEqual(1);
    expect(await drain(queue, runtime, "restore")).toBeGreaterThanOrEqual(2);
    const record = await runtime.deps.store.get(keys.current(VERSIONED, key), JSON.parse);
    const sha = createHash("sha256").update(older).digest("hex");
    expect(record?.value).toMatchObject({ state: "present", versionId: v1.VersionId, sha256: sha, sequencer: "0000000000000000C2" });
  });
});
