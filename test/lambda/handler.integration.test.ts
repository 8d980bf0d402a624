/**
 * The bundled handler against a real S3-compatible server on loopback: real uploads, events built exactly
 * as S3 sends them, and an index checked against SHA-256 computed here, independently. Runs on s3rver, and
 * (handler.integration.moto.test.ts) on moto, which enforces conditional writes and stores checksums.
 */
import { invokeHandler } from "../support/handler-logs";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { indexKeys } from "../../lambda/index-keys";
import { loadBundledHandler, type BundledHandler } from "../../tools/local/bundled-handler";
import { s3Event, s3Record, type EventSpec } from "../support/events";
import { startTestS3, type S3TestServer } from "../support/s3-server";

const SOURCE = "cix-source";
const INDEX = "cix-index";
const keys = indexKeys("index/");
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

let s3: S3TestServer;
let handler: BundledHandler;
let logs: any[] = [];
let sequence = 0x1000;

beforeAll(async () => {
  // s3rver by default; handler.integration.moto.test.ts runs this very suite on moto.
  s3 = await startTestS3([SOURCE, INDEX]);
  handler = loadBundledHandler({ ...s3.env, INDEX_BUCKET: INDEX, INDEX_PREFIX: "index/" });
});

afterAll(async () => {
  await s3?.close();
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs the handler, collecting its JSON log lines (kept in `logs` when it throws). */
async function invoke(event: unknown): Promise<any[]> {
  const lines: any[] = [];
  try {
    return await invokeHandler(handler, event, `req-${++sequence}`, lines);
  } finally {
    logs = lines;
  }
}

const nextSequencer = () => (++sequence).toString(16).toUpperCase().padStart(18, "0");

/** Uploads an object and returns the ObjectCreated:Put record S3 would send for it. */
async function upload(key: string, body: Buffer | string): Promise<EventSpec> {
  const result = await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
  return {
    eventName: "ObjectCreated:Put",
    bucket: SOURCE,
    key,
    size: Buffer.byteLength(body),
    eTag: result.ETag!.replace(/"/g, ""),
    sequencer: nextSequencer(),
  };
}

async function indexDoc(key: string): Promise<any | undefined> {
  try {
    const object = await s3.client.send(new GetObjectCommand({ Bucket: INDEX, Key: key }));
    return JSON.parse(await object.Body!.transformToString());
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

const current = (key: string) => indexDoc(keys.current(SOURCE, key));

async function listIndex(prefix: string): Promise<string[]> {
  const result = await s3.client.send(new ListObjectsV2Command({ Bucket: INDEX, Prefix: prefix }));
  return (result.Contents ?? []).map((o) => o.Key!).sort();
}

describe("the S3 API under test", () => {
  it(`is the one this file runs on (${process.env.CIX_TEST_S3 ?? "s3rver"})`, async () => {
    const response = await fetch(`${s3.endpoint}/${SOURCE}?versioning`);
    const server = response.headers.get("server") ?? "";
    // moto runs on Werkzeug; s3rver is Koa on Node and names no server.
    expect(/werkzeug/i.test(server)).toBe(process.env.CIX_TEST_S3 === "moto");
  });
});

describe("indexing real uploads", () => {
  const objects: Array<[string, Buffer]> = [
    ["incoming/empty.bin", Buffer.alloc(0)],
    ["incoming/tiny.txt", Buffer.from("hi")],
    ["incoming/large.bin", randomBytes(6 * 1024 * 1024 + 123)],
    ["incoming/with space and+plus.txt", Buffer.from("space and plus")],
    ["incoming/100% sure (final).txt", Buffer.from("percent")],
    ["incoming/ünïcødé/日本語/📄.txt", Buffer.from("unicode")],
    ["incoming/deep/a/b/c/d/e/f/g/h/i/j/file.json", Buffer.from('{"deep":true}')],
  ];

  it("records the SHA-256 of every object of a multi-record event", async () => {
    const specs = [];
    for (const [key, body] of objects) specs.push(await upload(key, body));
    const event = s3Event(...specs);
    // S3 encodes keys in events: the handler must decode them.
    expect(event.Records[3].s3.object.key).toBe("incoming/with+space+and%2Bplus.txt");

    await invoke(event);
    for (const [key, body] of objects) {
      const record = await current(key);
      expect(record, key).toMatchObject({ state: "present", key, bucket: SOURCE, size: body.length, sha256: sha256(body) });
      expect(await indexDoc(keys.content(sha256(body), SOURCE, key)), `content entry of ${key}`).toMatchObject({ key });
    }
  });

  it("logs one structured line per record, without object data", async () => {
    const spec = await upload("incoming/logged.txt", "secret payload");
    const lines = await invoke(s3Event(spec));
    const outcomes = lines.filter((l) => l.outcome);
    expect(outcomes).toEqual([
      expect.objectContaining({
        level: "INFO",
        key: "incoming/logged.txt",
        size: 14,
        sha256: sha256("secret payload"),
        outcome: "indexed",
        durationMs: expect.any(Number),
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain("secret payload");
  });

  it("records a streamed upload of unknown length byte-exact", async () => {
    const body = randomBytes(1000);
    await s3.client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/streamed.bin", Body: Readable.from([body.subarray(0, 400), body.subarray(400)]) }));
    const head = await s3.client.send(new GetObjectCommand({ Bucket: SOURCE, Key: "incoming/streamed.bin" }));
    const eTag = head.ETag!.replace(/"/g, "");
    await head.Body!.transformToByteArray();
    await invoke(s3Event({ eventName: "ObjectCreated:Put", bucket: SOURCE, key: "incoming/streamed.bin", size: 1000, eTag, sequencer: nextSequencer() }));
    expect(await current("incoming/streamed.bin")).toMatchObject({ size: 1000, sha256: sha256(body) });
  });
});

describe("S3's delivery semantics", () => {
  it("a duplicate delivery changes nothing", async () => {
    const event = s3Event(await upload("incoming/dup.txt", "dup"));
    await invoke(event);
    const first = await current("incoming/dup.txt");
    const lines = await invoke(event);
    expect(lines.find((l) => l.outcome)?.outcome).toBe("duplicate");
    expect(await current("incoming/dup.txt")).toEqual(first);
  });

  it("a delete delivered before its older create leaves the object deleted", async () => {
    const create = await upload("incoming/reordered.txt", "short-lived");
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: "incoming/reordered.txt" }));
    const remove: EventSpec = { eventName: "ObjectRemoved:Delete", bucket: SOURCE, key: "incoming/reordered.txt", sequencer: nextSequencer() };
    await invoke(s3Event(remove));
    await invoke(s3Event(create));
    expect(await current("incoming/reordered.txt")).toMatchObject({ state: "deleted", sequencer: remove.sequencer });
    expect(await listIndex(keys.contentPrefix(sha256("short-lived")))).toEqual([]);
  });

  it("a create then its delete, in order, end with the object deleted and its content entry gone", async () => {
    const create = await upload("incoming/in-order.txt", "in order");
    await invoke(s3Event(create));
    expect(await listIndex(keys.contentPrefix(sha256("in order")))).toHaveLength(1);
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: "incoming/in-order.txt" }));
    await invoke(s3Event({ eventName: "ObjectRemoved:Delete", bucket: SOURCE, key: "incoming/in-order.txt", sequencer: nextSequencer() }));
    expect(await current("incoming/in-order.txt")).toMatchObject({ state: "deleted" });
    expect(await listIndex(keys.contentPrefix(sha256("in order")))).toEqual([]);
  });

  it("an object deleted before processing is skipped without error", async () => {
    const create = await upload("incoming/deleted-first.txt", "bye");
    await s3.client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: "incoming/deleted-first.txt" }));
    const lines = await invoke(s3Event(create));
    expect(lines.find((l) => l.outcome)).toMatchObject({ level: "WARN", outcome: "skipped-gone", reason: expect.stringContaining("no longer exists") });
    expect(lines.find((l) => l.summary)).toMatchObject({ level: "WARN", unindexed: 1, counts: { "skipped-gone": 1 } });
    expect(await current("incoming/deleted-first.txt")).toBeUndefined();
  });

  it("an object overwritten before processing is skipped, and the overwrite's event indexes the new bytes", async () => {
    const first = await upload("incoming/overwritten.txt", "first version");
    const second = await upload("incoming/overwritten.txt", "second version");
    const lines = await invoke(s3Event(first));
    expect(lines.find((l) => l.outcome)).toMatchObject({ level: "WARN", outcome: "skipped-replaced" });
    expect(await current("incoming/overwritten.txt")).toBeUndefined();
    await invoke(s3Event(second));
    expect(await current("incoming/overwritten.txt")).toMatchObject({ sha256: sha256("second version") });
  });

  it("acknowledges S3's test event", async () => {
    const lines = await invoke({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: SOURCE });
    expect(lines).toEqual([expect.objectContaining({ outcome: "test-event" })]);
  });

  it("indexes the good records of an event with a record it cannot parse, then fails so that the event is not lost", async () => {
    const good = await upload("incoming/good-neighbour.txt", "good");
    const bad = { ...s3Record(good), eventSource: "aws:kinesis" };
    await expect(invoke({ Records: [bad, s3Record(good)] })).rejects.toThrow(/record Records\[0\] rejected: the record comes from "aws:kinesis"/);
    expect(logs.filter((l) => l.outcome).map((l) => [l.level, l.outcome])).toEqual([
      ["ERROR", "rejected"],
      ["INFO", "indexed"],
    ]);
    expect(logs.find((l) => l.summary)).toMatchObject({ unindexed: 1, counts: { rejected: 1, indexed: 1 } });
    expect(await current("incoming/good-neighbour.txt")).toMatchObject({ sha256: sha256("good") });
  });

  it("throws when a record fails for a reason other than S3's semantics, after trying the others", async () => {
    const good = await upload("incoming/ok-before-failure.txt", "fine");
    const missingBucket = { ...good, bucket: "no-such-bucket", key: "incoming/x" };
    await expect(invoke(s3Event(missingBucket, good))).rejects.toThrow(/1 record\(s\) failed: incoming\/x/);
    expect(logs.filter((l) => l.outcome).map((l) => l.outcome)).toEqual(["failed", "indexed"]);
    expect(await current("incoming/ok-before-failure.txt")).toMatchObject({ sha256: sha256("fine") });
  });

  it("never records a checksum when the size does not match what was announced", async () => {
    const spec = await upload("incoming/size-lie.txt", "12345");
    await expect(invoke(s3Event({ ...spec, size: 6 }))).rejects.toThrow(/read 5 bytes, the event announced 6/);
    expect(await current("incoming/size-lie.txt")).toBeUndefined();
  });
});
