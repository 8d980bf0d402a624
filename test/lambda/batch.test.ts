/**
 * S3 Batch Operations invocations: every task answered, backfilled by the function's own indexer, and a
 * backfilled record never wins over a record from a real event. The bundled handler against s3rver.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKFILL_SEQUENCER } from "../../lambda/backfill";
import { answerBatch, batchResult, isBatchInvocation, parseBatchInvocation } from "../../lambda/batch";
import { ConflictError, ObjectForbiddenError, ObjectGoneError } from "../../lambda/errors";
import { encodeS3Key } from "../../lambda/event";
import { indexChange } from "../../lambda/indexer";
import { indexKeys } from "../../lambda/index-keys";
import { loadBundledHandler, type BundledHandler } from "../../tools/local/bundled-handler";
import { s3Event } from "../support/events";
import { MemoryDocumentStore, MemoryObjectReader } from "../support/memory-io";
import { startS3Server, type S3TestServer } from "../support/s3-server";

const fixture = JSON.parse(readFileSync(path.join(__dirname, "..", "fixtures", "events", "batch-operations-2.0.json"), "utf8"));
const SOURCE = "cix-batch-source";
const INDEX = "cix-batch-index";
const keys = indexKeys("index/");
const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");

describe("reading a Batch Operations invocation", () => {
  it("decodes each task's URL-encoded key, as in the schema 2.0 example", () => {
    expect(isBatchInvocation(fixture)).toBe(true);
    const invocation = parseBatchInvocation(fixture);
    expect(invocation.tasks).toEqual([{ taskId: "dGFzay1leGFtcGxlLTAwMQ", bucket: "checksum-index-example-source", key: "incoming/reports 2026/Q3 (final).pdf", versionId: undefined }]);
  });

  it("reads schema 1.0 tasks (bucket ARN) and keeps malformed tasks to answer them", () => {
    const invocation = parseBatchInvocation({
      invocationSchemaVersion: "1.0",
      invocationId: "i",
      tasks: [{ taskId: "a", s3Key: "k%2Bplus", s3BucketArn: "arn:aws:s3:::b1", s3VersionId: "v1" }, { taskId: "b", s3Key: 42 }, "nonsense"],
    });
    expect(invocation.tasks).toEqual([{ taskId: "a", bucket: "b1", key: "k+plus", versionId: "v1" }]);
    expect(invocation.malformed.map((m) => m.taskId)).toEqual(["b", "task-2"]);
  });

  it("is not mistaken for an S3 notification, nor a notification for it", () => {
    expect(isBatchInvocation({ Records: [] })).toBe(false);
    expect(isBatchInvocation({ invocationSchemaVersion: "3.0", tasks: [] })).toBe(false);
  });
});

describe("what each outcome tells Batch Operations", () => {
  it.each([
    [new ObjectGoneError("gone"), "Succeeded"],
    [new ObjectForbiddenError("refused"), "PermanentFailure"],
    [new ConflictError("raced"), "TemporaryFailure"],
    [Object.assign(new Error("slow down"), { name: "SlowDown", $metadata: { httpStatusCode: 503 } }), "TemporaryFailure"],
    [Object.assign(new Error("no bucket"), { name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } }), "PermanentFailure"],
  ] as const)("%s → %s", (error, code) => {
    expect(batchResult(error).resultCode).toBe(code);
  });
});

describe("a Batch Operations invocation running out of time", () => {
  it("answers the tasks it could not start TemporaryFailure, and keeps the answers of those it finished", async () => {
    const invocation = parseBatchInvocation({ invocationSchemaVersion: "2.0", invocationId: "i", tasks: ["a", "b", "c"].map((k) => ({ taskId: k, s3Bucket: "src", s3Key: k })) });
    let started = 0;
    const response = await answerBatch(invocation, async () => ({ outcome: "indexed" }), () => started++ >= 1);
    expect(response.results.map((r) => r.resultCode)).toEqual(["Succeeded", "TemporaryFailure", "TemporaryFailure"]);
    expect(response.results[1].resultString).toMatch(/about to time out/);
  });
});

describe("backfilling the versions of a versioned bucket", () => {
  const memoryDeps = () => ({ reader: new MemoryObjectReader(), store: new MemoryDocumentStore(), keys, backoff: async () => {} });
  it.each([
    ["the old version's task first", ["v1", "v2"]],
    ["the current version's task first", ["v2", "v1"]],
  ])("with %s, the key's current record is the version S3 serves, and every version has its record", async (_name, order) => {
    const deps = memoryDeps();
    deps.reader.add("src", "incoming/a.txt", "old bytes", "v1");
    deps.reader.add("src", "incoming/a.txt", "new bytes", "v2"); // the newest: what S3 serves
    const answers: string[] = [];
    for (const versionId of order) {
      const invocation = parseBatchInvocation({ invocationSchemaVersion: "2.0", invocationId: "i", tasks: [{ taskId: versionId, s3Bucket: "src", s3Key: "incoming/a.txt", s3VersionId: versionId }] });
      const response = await answerBatch(invocation, (change) => indexChange(change, { requestId: "r", now: new Date() }, deps));
      expect(response.results[0].resultCode).toBe("Succeeded");
      answers.push(response.results[0].resultString.split(" ")[0]);
    }
    expect(deps.store.json(keys.current("src", "incoming/a.txt"))).toMatchObject({ versionId: "v2", sha256: sha256("new bytes") });
    expect(deps.store.json(keys.version("src", "incoming/a.txt", "v1"))).toMatchObject({ sha256: sha256("old bytes") });
    expect(answers[order.indexOf("v1")]).toBe("version-indexed");
  });
});

describe("the bundled function answering a Batch Operations job", () => {
  let s3: S3TestServer;
  let handler: BundledHandler;

  beforeAll(async () => {
    s3 = await startS3Server([SOURCE, INDEX]);
    handler = loadBundledHandler({ ...s3.env, INDEX_BUCKET: INDEX, INDEX_PREFIX: "index/" });
  });
  afterAll(async () => s3?.close());

  const put = async (key: string, body: string) => {
    const r = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    return r.ETag!.replace(/"/g, "");
  };
  const record = async (key: string) => {
    const object = await s3.client.send(new GetObjectCommand({ Bucket: INDEX, Key: keys.current(SOURCE, key) })).catch(() => undefined);
    return object ? JSON.parse(await object.Body!.transformToString()) : undefined;
  };
  const task = (taskId: string, key: string) => ({ taskId, s3Key: encodeS3Key(key).replace(/\+/g, "%20"), s3VersionId: null, s3Bucket: SOURCE });

  it("indexes every task, answers each, and never overrides a record from a real event", async () => {
    await put("incoming/old report (1).pdf", "backfill me");
    const eTag = await put("incoming/already.txt", "new bytes");
    // A real event already indexed this key, with a real sequencer.
    await handler(s3Event({ eventName: "ObjectCreated:Put", bucket: SOURCE, key: "incoming/already.txt", size: 9, eTag, sequencer: "00A1" }), { awsRequestId: "real" });

    const response: any = await handler(
      { ...fixture, tasks: [task("t1", "incoming/old report (1).pdf"), task("t2", "incoming/already.txt"), task("t3", "incoming/missing.txt"), { taskId: "t4" }] },
      { awsRequestId: "batch" },
    );
    expect(response).toMatchObject({ invocationSchemaVersion: "2.0", invocationId: fixture.invocationId, treatMissingKeysAs: "PermanentFailure" });
    const byTask = Object.fromEntries(response.results.map((r: any) => [r.taskId, r]));
    expect(byTask.t1).toEqual({ taskId: "t1", resultCode: "Succeeded", resultString: `indexed sha256 ${sha256("backfill me")}` });
    expect(byTask.t2).toMatchObject({ resultCode: "Succeeded", resultString: "stale: the index holds a newer event of the key" });
    expect(byTask.t3).toMatchObject({ resultCode: "Succeeded", resultString: expect.stringMatching(/^skipped-gone/) });
    expect(byTask.t4).toMatchObject({ resultCode: "PermanentFailure", resultString: expect.stringMatching(/^malformed task/) });

    expect(await record("incoming/old report (1).pdf")).toMatchObject({ state: "present", sha256: sha256("backfill me"), sequencer: BACKFILL_SEQUENCER, eventName: "ObjectCreated:Backfill" });
    expect(await record("incoming/already.txt")).toMatchObject({ sequencer: "00A1", eventName: "ObjectCreated:Put" });

    // A real event after the backfill wins over it.
    const newer = await put("incoming/old report (1).pdf", "changed");
    await handler(s3Event({ eventName: "ObjectCreated:Put", bucket: SOURCE, key: "incoming/old report (1).pdf", size: 7, eTag: newer, sequencer: "00B1" }), { awsRequestId: "later" });
    expect(await record("incoming/old report (1).pdf")).toMatchObject({ sha256: sha256("changed"), sequencer: "00B1" });
  });
});
