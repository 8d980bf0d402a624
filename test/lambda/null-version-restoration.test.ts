/**
 * A removal that makes the null version current again (a key written before versioning was enabled, or
 * while suspended): a restoration of more than one part goes through the create path (continuations), one
 * of one part through the removal's own path. Both must leave the content lookup listing the object S3
 * serves.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Continuations } from "../../lambda/continuation";
import { parseRecord, type ObjectChange } from "../../lambda/event";
import { indexKeys } from "../../lambda/index-keys";
import { indexChange, type ContinuationHooks } from "../../lambda/indexer";
import { s3Record, type EventSpec } from "../support/events";
import { MemoryDocumentStore, MemoryObjectReader } from "../support/memory-io";

const BUCKET = "src";
const KEY = "incoming/a.txt";
const keys = indexKeys("index/");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const change = (spec: Partial<EventSpec> & Pick<EventSpec, "eventName" | "sequencer">): ObjectChange => parseRecord(s3Record({ bucket: BUCKET, key: KEY, ...spec }));

async function restoreNullVersion(withHooks: boolean) {
  const store = new MemoryDocumentStore();
  const reader = new MemoryObjectReader();
  const deps = { reader, store, keys, backoff: async () => {} };
  const hooks: ContinuationHooks | undefined = withHooks
    ? { stopAt: Date.now() + 60_000, attemptId: "req", continuations: new Continuations(store, "index/", { invoke: async () => {} }), partSize: 2 }
    : undefined;
  const run = (c: ObjectChange) => indexChange(c, { requestId: "req", now: new Date("2026-11-25T00:00:00Z") }, deps, hooks);
  // The null version (written before versioning), then v2 on top of it.
  const one = reader.add(BUCKET, KEY, "one");
  await run(change({ eventName: "ObjectCreated:Put", sequencer: "0A", eTag: one.eTag, size: one.size }));
  const two = reader.add(BUCKET, KEY, "two", "v2");
  await run(change({ eventName: "ObjectCreated:Put", sequencer: "0B", eTag: two.eTag, size: two.size, versionId: "v2" }));
  // Deleting v2 makes the null version current again.
  reader.deleteVersion(BUCKET, KEY, "v2");
  const result = await run(change({ eventName: "ObjectRemoved:Delete", sequencer: "0C", versionId: "v2" }));
  return { result, current: store.json(keys.current(BUCKET, KEY)), entries: store.keysUnder(keys.contentPrefix(sha("one"))) };
}

describe("a removal that makes the null version current again", () => {
  it("large (continuation hooks): the null version's content entry exists", async () => {
    const { current, entries } = await restoreNullVersion(true);
    expect(current).toMatchObject({ state: "present", versionId: null, sha256: sha("one"), sequencer: "0C" });
    expect(entries).toEqual([keys.content(sha("one"), BUCKET, KEY)]);
  });

  it("small (one invocation): the null version's content entry exists too", async () => {
    const { current, entries } = await restoreNullVersion(false);
    expect(current).toMatchObject({ state: "present", versionId: null, sha256: sha("one"), sequencer: "0C" });
    expect(entries).toEqual([keys.content(sha("one"), BUCKET, KEY)]);
  });
});
