/**
 * Property: whatever S3 does to a few keys (creates, overwrites, deletes, delete markers, version
 * deletions) and however the events are delivered (reordered, duplicated, several invocations at once with
 * their I/O interleaved by fast-check's scheduler, failed invocations retried), the index ends equal to what
 * S3 serves: per key (current record), per version (version records) and per content hash (the entries).
 *
 * S3 is modelled by MemoryObjectReader (versions, delete markers, ETags); the index by MemoryDocumentStore,
 * which enforces conditional writes. PROPERTY_RUNS sets the number of generated histories (the reliability
 * suite runs many more).
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkedContentEntries } from "../../lambda/content";
import { parseRecord, type ObjectChange } from "../../lambda/event";
import { indexKeys } from "../../lambda/index-keys";
import { indexChange, type IndexerDeps } from "../../lambda/indexer";
import type { DocumentStore, ObjectReader } from "../../lambda/ports";
import { s3Record } from "../support/events";
import { MemoryDocumentStore, MemoryObjectReader } from "../support/memory-io";

const RUNS = Number(process.env.PROPERTY_RUNS ?? 150);
const BUCKET = "src";
const KEYS = ["incoming/a.txt", "incoming/b.txt"];
const CONTENTS = ["alpha", "beta", "gamma"];
const keys = indexKeys("index/");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

type Op =
  | { type: "put"; key: number; content: number }
  | { type: "delete"; key: number }
  | { type: "delete-version"; key: number; pick: number }
  | { type: "deliver"; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ type: fc.constant("put" as const), key: fc.nat(1), content: fc.nat(2) }),
  fc.record({ type: fc.constant("delete" as const), key: fc.nat(1) }),
  fc.record({ type: fc.constant("delete-version" as const), key: fc.nat(1), pick: fc.nat(5) }),
  fc.record({ type: fc.constant("deliver" as const), pick: fc.nat(20) }),
);

/** Runs S3 operations on the model, returning the events S3 would send, in the order it made the changes. */
class S3Model {
  readonly reader = new MemoryObjectReader();
  readonly events: ObjectChange[] = [];
  private sequence = 0;
  private ids = 0;

  constructor(readonly versioned: boolean) {}

  apply(op: Exclude<Op, { type: "deliver" }>): void {
    const key = KEYS[op.key];
    const sequencer = (++this.sequence).toString(16).toUpperCase().padStart(8, "0");
    const event = (eventName: string, extra: Record<string, unknown> = {}) =>
      this.events.push(parseRecord(s3Record({ eventName, bucket: BUCKET, key, sequencer, ...extra })));
    if (op.type === "put") {
      const versionId = this.versioned ? `v${++this.ids}` : undefined;
      const { eTag, size } = this.reader.add(BUCKET, key, CONTENTS[op.content], versionId);
      event("ObjectCreated:Put", { eTag, size, versionId });
    } else if (op.type === "delete") {
      if (this.versioned) {
        const markerId = `m${++this.ids}`;
        this.reader.addDeleteMarker(BUCKET, key, markerId);
        event("ObjectRemoved:DeleteMarkerCreated", { versionId: markerId });
      } else {
        this.reader.objects.delete(`${BUCKET}/${key}`);
        event("ObjectRemoved:Delete");
      }
    } else if (this.versioned) {
      const stack = this.reader.stacks.get(`${BUCKET}/${key}`) ?? [];
      if (stack.length === 0) return;
      const id = stack[op.pick % stack.length].replace(/^marker:/, "");
      this.reader.deleteVersion(BUCKET, key, id);
      event(id.startsWith("m") ? "ObjectRemoved:Delete" : "LifecycleExpiration:Delete", { versionId: id });
    }
  }
}

/** I/O whose every call is scheduled by fast-check, so concurrent invocations interleave at each call. */
function scheduled(s: fc.Scheduler, store: DocumentStore, reader: ObjectReader): { store: DocumentStore; reader: ObjectReader } {
  const wrap = <T extends object>(target: T, names: Array<keyof T>): T => {
    const copy = Object.create(target) as T;
    for (const name of names) (copy as any)[name] = s.scheduleFunction((target as any)[name].bind(target));
    return copy;
  };
  return {
    store: wrap(store, ["get", "putIfAbsent", "putIfMatch", "put", "delete"]),
    reader: wrap(reader, ["read", "served"]),
  };
}

async function checkIndex(model: S3Model, store: MemoryDocumentStore): Promise<void> {
  const expectedEntries: string[] = [];
  for (const key of KEYS) {
    const served = await model.reader.served(BUCKET, key);
    const current = store.json(keys.current(BUCKET, key));
    if (served.exists) {
      const content = model.reader.objects.get(`${BUCKET}/${key}${served.versionId ? `#${served.versionId}` : ""}`)!.body.toString();
      expect(current, `current record of ${key}`).toMatchObject({ state: "present", sha256: sha(content), versionId: served.versionId ?? null });
      if (!model.versioned) expectedEntries.push(keys.content(sha(content), BUCKET, key));
    } else {
      expect(current?.state ?? "absent", `current record of ${key}`).not.toBe("present");
    }
    if (model.versioned) {
      for (const id of model.reader.stacks.get(`${BUCKET}/${key}`) ?? []) {
        if (id.startsWith("marker:")) continue;
        const content = model.reader.objects.get(`${BUCKET}/${key}#${id}`)!.body.toString();
        expect(store.json(keys.version(BUCKET, key, id)), `version ${id} of ${key}`).toMatchObject({ state: "present", sha256: sha(content) });
        expectedEntries.push(keys.content(sha(content), BUCKET, key, id));
      }
    }
  }
  expect(store.keysUnder("index/by-sha256/"), "content entries").toEqual(expectedEntries.sort());
  // And find, which checks each entry, agrees.
  for (const content of CONTENTS) {
    const found = await checkedContentEntries(store.keysUnder(keys.contentPrefix(sha(content))), { store, keys }, []);
    expect(found.length).toBe(expectedEntries.filter((k) => k.startsWith(keys.contentPrefix(sha(content)))).length);
  }
}

const historyArb = fc.record({
  versioned: fc.boolean(),
  ops: fc.array(opArb, { minLength: 1, maxLength: 14 }),
  duplicates: fc.array(fc.nat(30), { maxLength: 4 }),
  concurrency: fc.integer({ min: 1, max: 3 }),
  order: fc.infiniteStream(fc.nat()),
  scheduler: fc.scheduler(),
});

describe("the index against a model of S3", () => {
  it(`ends equal to what S3 serves, per key, per version and per content hash, for any history and delivery (${RUNS} histories)`, async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, async ({ versioned, ops, duplicates, concurrency, order, scheduler }) => {
        const model = new S3Model(versioned);
        const store = new MemoryDocumentStore();
        const io = scheduled(scheduler, store, model.reader);
        const deps: IndexerDeps = { ...io, keys, backoff: async () => {} };
        const pending: ObjectChange[] = [];
        const picks = order[Symbol.iterator]();
        let seen = 0;
        const deliver = async (batch: ObjectChange[]) => {
          // Each invocation is retried (as Lambda does) until it succeeds; no event may end in the failure queue.
          const one = async (change: ObjectChange) => {
            for (let attempt = 1; ; attempt++) {
              try {
                return await indexChange(change, { requestId: "r", now: new Date(0) }, deps);
              } catch (error) {
                if (attempt >= 6) throw error;
              }
            }
          };
          await scheduler.waitFor(Promise.all(batch.map(one)));
        };
        const takeNew = () => {
          while (seen < model.events.length) pending.push(model.events[seen++]);
        };
        for (const op of ops) {
          if (op.type !== "deliver") {
            model.apply(op);
            takeNew();
            continue;
          }
          const batch: ObjectChange[] = [];
          for (let i = 0; i < concurrency && pending.length > 0; i++) batch.push(pending.splice(op.pick % pending.length, 1)[0]);
          await deliver(batch);
        }
        takeNew();
        // What is left, plus duplicates of any event, in a generated order, `concurrency` at a time.
        const rest = [...pending, ...duplicates.filter(() => model.events.length > 0).map((d) => model.events[d % model.events.length])];
        while (rest.length > 0) {
          const batch: ObjectChange[] = [];
          for (let i = 0; i < concurrency && rest.length > 0; i++) batch.push(rest.splice((picks.next().value as number) % rest.length, 1)[0]);
          await deliver(batch);
        }
        await checkIndex(model, store);
      }),
      { numRuns: RUNS },
    );
  });
});
