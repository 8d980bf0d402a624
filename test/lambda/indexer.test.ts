/**
 * The indexer's behaviour under S3's delivery semantics, on in-memory I/O that enforces conditional
 * writes the way S3 does (the S3-compatible test server does not).
 */
import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { parseRecord, type ObjectChange } from "../../lambda/event";
import { indexKeys } from "../../lambda/index-keys";
import { indexChange, type IndexerDeps } from "../../lambda/indexer";
import * as zlib from "node:zlib";
import { ChecksumMismatchError, ConflictError, ObjectForbiddenError } from "../../lambda/errors";
import { s3Record, type EventSpec } from "../support/events";
import { MemoryDocumentStore, MemoryObjectReader } from "../support/memory-io";

const BUCKET = "src";
/** CRC32 as S3 writes it: 4 bytes, big-endian, base64. */
const crc32Base64 = (crc: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString("base64");
};
const keys = indexKeys("index/");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

let store: MemoryDocumentStore;
let reader: MemoryObjectReader;
let deps: IndexerDeps;

beforeEach(() => {
  store = new MemoryDocumentStore();
  reader = new MemoryObjectReader();
  deps = { reader, store, keys, backoff: async () => {} };
});

const change = (spec: Partial<EventSpec> & Pick<EventSpec, "eventName" | "sequencer">): ObjectChange =>
  parseRecord(s3Record({ bucket: BUCKET, key: "incoming/a.txt", ...spec }));

function put(body: string, sequencer: string, key = "incoming/a.txt", versionId?: string): ObjectChange {
  const { eTag, size } = reader.add(BUCKET, key, body, versionId);
  return change({ eventName: "ObjectCreated:Put", key, sequencer, eTag, size, versionId });
}

const run = (c: ObjectChange) => indexChange(c, { requestId: "req", now: new Date("2026-11-25T00:00:00Z") }, deps);
const current = (key = "incoming/a.txt") => store.json(keys.current(BUCKET, key));

describe("creates", () => {
  it("records the SHA-256 of the bytes read and a content lookup entry", async () => {
    const result = await run(put("hello", "0A"));
    expect(result.outcome).toBe("indexed");
    expect(current()).toMatchObject({ state: "present", sha256: sha("hello"), size: 5, sequencer: "0A" });
    expect(store.json(keys.content(sha("hello"), BUCKET, "incoming/a.txt"))).toMatchObject({ key: "incoming/a.txt", size: 5 });
  });

  it("compares the bytes read with the checksum S3 stored, and says which algorithm agreed", async () => {
    const good = Buffer.from(sha("right"), "hex").toString("base64");
    const { eTag, size } = reader.add(BUCKET, "incoming/ok.txt", "right", undefined, { type: "FULL_OBJECT", sha256: good });
    await run(change({ eventName: "ObjectCreated:Put", key: "incoming/ok.txt", sequencer: "0A", eTag, size }));
    expect(current("incoming/ok.txt").s3Checksum).toEqual({ type: "FULL_OBJECT", algorithm: "SHA256", source: "checksum", value: good, computed: good, verification: "match", verifiedBy: "SHA256" });
  });

  it("records nothing and fails when the bytes disagree with S3's checksum on every read, naming algorithm and both values", async () => {
    const wrong = reader.add(BUCKET, "incoming/bad.txt", "flipped", undefined, { type: "FULL_OBJECT", crc32: "AAAAAA==" });
    const error = await run(change({ eventName: "ObjectCreated:Put", key: "incoming/bad.txt", sequencer: "0A", ...wrong })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect((error as ChecksumMismatchError).details).toMatchObject({ bucket: BUCKET, key: "incoming/bad.txt", algorithm: "CRC32", stored: "AAAAAA==", computed: crc32Base64(zlib.crc32(Buffer.from("flipped"))), attempts: 3 });
    expect(reader.reads).toHaveLength(3);
    expect(store.docs.size).toBe(0);
  });

  it("reads again when one read's bytes were damaged, and records the verified bytes", async () => {
    const body = "the real bytes";
    const stored = { type: "FULL_OBJECT", crc32: crc32Base64(zlib.crc32(Buffer.from(body))) };
    const { eTag, size } = reader.add(BUCKET, "incoming/a.txt", body, undefined, stored);
    let reads = 0;
    reader.corrupt = (_request, data) => (++reads === 1 ? Buffer.concat([data.subarray(0, 3), Buffer.from([data[3] ^ 1]), data.subarray(4)]) : data);
    expect((await run(change({ eventName: "ObjectCreated:Put", sequencer: "0A", eTag, size }))).outcome).toBe("indexed");
    expect(reads).toBe(2);
    expect(current()).toMatchObject({ sha256: sha(body), s3Checksum: { verification: "match" } });
    expect(store.keysUnder("index/by-sha256/")).toEqual([keys.content(sha(body), BUCKET, "incoming/a.txt")]);
  });

  it("reads exactly the announced bytes: by ETag without a version, by version id with one", async () => {
    await run(put("v1 body", "0A"));
    await run(put("v2 body", "0B", "incoming/b.txt", "ver-2"));
    expect(reader.reads[0]).toMatchObject({ ifMatch: reader.objects.get("src/incoming/a.txt")!.eTag, versionId: undefined, expectedSize: 7 });
    expect(reader.reads[1]).toMatchObject({ versionId: "ver-2", ifMatch: undefined });
  });

  it("is idempotent: the same event twice leaves one record, unchanged", async () => {
    const c = put("hello", "0A");
    await run(c);
    const first = store.docs.get(keys.current(BUCKET, "incoming/a.txt"));
    expect((await run(c)).outcome).toBe("duplicate");
    expect(store.docs.get(keys.current(BUCKET, "incoming/a.txt"))).toEqual(first);
  });

  it("an older create delivered after a newer one never overwrites it (the old bytes are gone)", async () => {
    const older = put("old", "0A");
    const newer = put("new", "0B");
    await run(newer);
    expect((await run(older)).outcome).toBe("skipped-replaced");
    expect(current().sha256).toBe(sha("new"));
  });

  it("an older version's create delivered late records that version but not as current", async () => {
    const older = put("old", "0A", "incoming/a.txt", "v1");
    const newer = put("new", "0B", "incoming/a.txt", "v2");
    await run(newer);
    expect((await run(older)).outcome).toBe("stale");
    expect(current()).toMatchObject({ sha256: sha("new"), versionId: "v2" });
    expect(store.json(keys.version(BUCKET, "incoming/a.txt", "v1"))).toMatchObject({ sha256: sha("old") });
    expect(store.keysUnder(keys.contentPrefix(sha("old")))).toHaveLength(1);
  });

  it("an older create whose bytes are still there (same content re-uploaded) is stale", async () => {
    const older = put("same", "0A");
    await run(put("same", "0B"));
    expect((await run(older)).outcome).toBe("stale");
    expect(current().sequencer).toBe("0B");
  });

  it("an overwrite moves the content lookup from the old content to the new", async () => {
    await run(put("old", "0A"));
    await run(put("new", "0B"));
    expect(store.keysUnder(keys.contentPrefix(sha("old")))).toEqual([]);
    expect(store.keysUnder(keys.contentPrefix(sha("new")))).toHaveLength(1);
  });

  it("skips, without error, an object deleted before it was read", async () => {
    const c = put("gone soon", "0A");
    reader.objects.clear();
    expect(await run(c)).toMatchObject({ outcome: "skipped-gone" });
    expect(store.docs.size).toBe(0);
  });

  it("skips, without error, an object overwritten before it was read", async () => {
    const c = put("first", "0A");
    reader.add(BUCKET, "incoming/a.txt", "second");
    expect(await run(c)).toMatchObject({ outcome: "skipped-replaced" });
    expect(store.docs.size).toBe(0);
  });

  it("treats a refused read as stale when a newer event is indexed, and throws otherwise", async () => {
    const c = put("x", "0A");
    reader.failWith = new ObjectForbiddenError("403");
    await expect(run(c)).rejects.toThrow("403");
    store.set(keys.current(BUCKET, "incoming/a.txt"), { schemaVersion: 1, state: "deleted", bucket: BUCKET, key: "incoming/a.txt", sequencer: "0B", versionId: null });
    expect((await run(c)).outcome).toBe("stale");
  });

  it("never records anything when the read fails midway", async () => {
    const c = put("x", "0A");
    reader.failWith = new Error("socket hang up");
    await expect(run(c)).rejects.toThrow("socket hang up");
    expect(store.docs.size).toBe(0);
  });
});

describe("removals", () => {
  it("a delete leaves a tombstone and drops the content lookup", async () => {
    await run(put("hello", "0A"));
    expect((await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0B" }))).outcome).toBe("removed");
    expect(current()).toMatchObject({ state: "deleted", deleteMarker: false, sequencer: "0B" });
    expect(store.keysUnder(keys.contentPrefix(sha("hello")))).toEqual([]);
  });

  it("a create delivered after a newer delete does not bring the object back", async () => {
    const create = put("hello", "0A");
    await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0B" }));
    expect((await run(create)).outcome).toBe("stale");
    expect(current().state).toBe("deleted");
    expect(store.keysUnder("index/by-sha256/")).toEqual([]);
  });

  it("a delete delivered after a newer create does not remove it", async () => {
    await run(put("again", "0C"));
    expect((await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0B" }))).outcome).toBe("stale");
    expect(current()).toMatchObject({ state: "present", sha256: sha("again") });
  });

  it("a delete marker keeps the versions' records; deleting a version tombstones its record and drops its entry", async () => {
    await run(put("one", "0A", "incoming/a.txt", "v1"));
    await run(put("two", "0B", "incoming/a.txt", "v2"));
    reader.addDeleteMarker(BUCKET, "incoming/a.txt", "m1");
    expect((await run(change({ eventName: "ObjectRemoved:DeleteMarkerCreated", sequencer: "0C", versionId: "m1" }))).outcome).toBe("removed");
    expect(current()).toMatchObject({ state: "deleted", deleteMarker: true });
    expect(store.keysUnder("index/versions/")).toHaveLength(2);

    reader.deleteVersion(BUCKET, "incoming/a.txt", "v1");
    expect((await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0D", versionId: "v1" }))).outcome).toBe("removed");
    expect(store.json(keys.version(BUCKET, "incoming/a.txt", "v1"))).toMatchObject({ state: "deleted" });
    expect(store.json(keys.version(BUCKET, "incoming/a.txt", "v2"))).toMatchObject({ state: "present", sha256: sha("two") });
    expect(store.keysUnder(keys.contentPrefix(sha("one")))).toEqual([]);
    expect(store.keysUnder(keys.contentPrefix(sha("two")))).toHaveLength(1);
  });

  it("deleting the only version leaves the key deleted", async () => {
    await run(put("one", "0A", "incoming/a.txt", "v1"));
    reader.deleteVersion(BUCKET, "incoming/a.txt", "v1");
    expect((await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0B", versionId: "v1" }))).outcome).toBe("removed");
    expect(current()).toMatchObject({ state: "deleted", deleteMarker: false, sequencer: "0B" });
    expect(store.keysUnder("index/by-sha256/")).toEqual([]);
  });

  it("deleting the current version makes the index hold the version that became current again", async () => {
    await run(put("one", "0A", "incoming/a.txt", "v1"));
    await run(put("two", "0B", "incoming/a.txt", "v2"));
    reader.deleteVersion(BUCKET, "incoming/a.txt", "v2");
    expect((await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0C", versionId: "v2" }))).outcome).toBe("restored");
    expect(current()).toMatchObject({ state: "present", versionId: "v1", sha256: sha("one"), sequencer: "0C" });
  });

  it("removing a delete marker brings back the version behind it, read even if it was never indexed", async () => {
    reader.add(BUCKET, "incoming/a.txt", "never announced", "v1");
    reader.addDeleteMarker(BUCKET, "incoming/a.txt", "m1");
    await run(change({ eventName: "ObjectRemoved:DeleteMarkerCreated", sequencer: "0B", versionId: "m1" }));
    reader.deleteVersion(BUCKET, "incoming/a.txt", "m1");
    expect((await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0C", versionId: "m1" }))).outcome).toBe("restored");
    expect(current()).toMatchObject({ state: "present", versionId: "v1", sha256: sha("never announced") });
    expect(store.json(keys.version(BUCKET, "incoming/a.txt", "v1"))).toMatchObject({ sha256: sha("never announced") });
    expect(store.keysUnder(keys.contentPrefix(sha("never announced")))).toEqual([keys.content(sha("never announced"), BUCKET, "incoming/a.txt", "v1")]);
  });

  it("a lifecycle expiration removes the object like a delete", async () => {
    await run(put("old", "0A"));
    reader.objects.clear();
    expect((await run(change({ eventName: "LifecycleExpiration:Delete", sequencer: "0B" }))).outcome).toBe("removed");
    expect(current()).toMatchObject({ state: "deleted", eventName: "LifecycleExpiration:Delete" });
    expect(store.keysUnder("index/by-sha256/")).toEqual([]);
  });

  it("a version's create processed after the version's deletion writes no record or entry back", async () => {
    const create = put("one", "0A", "incoming/a.txt", "v1");
    const second = put("two", "0B", "incoming/a.txt", "v2");
    await run(second);
    reader.deleteVersion(BUCKET, "incoming/a.txt", "v1");
    await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0C", versionId: "v1" }));
    expect((await run(create)).outcome).toBe("skipped-gone");
    expect(store.keysUnder(keys.contentPrefix(sha("one")))).toEqual([]);
  });
});

describe("damaged and drifting index documents", () => {
  it("treats a record that does not parse as absent, reports the repair and overwrites it", async () => {
    store.docs.set(keys.current(BUCKET, "incoming/a.txt"), { text: "{not json", etag: '"poison"' });
    const result = await run(put("hello", "0A"));
    expect(result.outcome).toBe("indexed");
    expect(result.repairs).toEqual([expect.stringContaining("is not a valid record")]);
    expect(current()).toMatchObject({ sha256: sha("hello") });
  });

  it("treats a record with a non-hex sequencer as absent", async () => {
    store.set(keys.current(BUCKET, "incoming/a.txt"), { schemaVersion: 1, state: "deleted", bucket: BUCKET, key: "incoming/a.txt", versionId: null, sequencer: "not-hex" });
    expect((await run(put("hello", "0A"))).outcome).toBe("indexed");
  });

  it("a retry that finds its record already written (lost response) still drops the replaced content's entry", async () => {
    await run(put("old", "0A"));
    const overwrite = put("new", "0B");
    // The first attempt wrote the record, then stopped before touching the content entries.
    const realDelete = store.delete.bind(store);
    store.delete = async () => {
      throw new Error("connection reset");
    };
    await expect(run(overwrite)).rejects.toThrow("connection reset");
    store.delete = realDelete;
    expect(store.keysUnder(keys.contentPrefix(sha("old")))).toHaveLength(1);
    expect((await run(overwrite)).outcome).toBe("duplicate");
    expect(store.keysUnder(keys.contentPrefix(sha("old")))).toEqual([]);
    expect(store.keysUnder(keys.contentPrefix(sha("new")))).toHaveLength(1);
  });
});

describe("concurrent invocations on one key", () => {
  it("a newer record written between read and write wins; the older event re-reads and stands down", async () => {
    const older = put("old", "0A");
    let raced = false;
    store.beforeConditionalWrite = (key) => {
      if (!raced && key === keys.current(BUCKET, "incoming/a.txt")) {
        raced = true;
        store.set(key, { schemaVersion: 1, state: "present", bucket: BUCKET, key: "incoming/a.txt", versionId: null, sequencer: "0B", sha256: sha("new"), size: 3 });
      }
    };
    expect((await run(older)).outcome).toBe("stale");
    expect(current()).toMatchObject({ sequencer: "0B", sha256: sha("new") });
  });

  it("an older record written between read and write is overwritten by the newer event after a retry", async () => {
    await run(put("v0", "01"));
    const newer = put("new", "0C");
    let raced = false;
    store.beforeConditionalWrite = (key) => {
      if (!raced && key === keys.current(BUCKET, "incoming/a.txt")) {
        raced = true;
        store.set(key, { schemaVersion: 1, state: "present", bucket: BUCKET, key: "incoming/a.txt", versionId: null, sequencer: "0B", sha256: sha("mid"), size: 3 });
      }
    };
    expect((await run(newer)).outcome).toBe("indexed");
    expect(current()).toMatchObject({ sequencer: "0C", sha256: sha("new") });
  });

  it("gives up after a bounded number of lost races, so Lambda retries the event", async () => {
    const c = put("x", "0F");
    let n = 0;
    store.beforeConditionalWrite = (key) => {
      store.set(key, { schemaVersion: 1, state: "present", bucket: BUCKET, key: "incoming/a.txt", versionId: null, sequencer: `0${++n}`, sha256: sha("y"), size: 1 });
    };
    await expect(run(c)).rejects.toBeInstanceOf(ConflictError);
    expect(n).toBe(5);
  });
});
