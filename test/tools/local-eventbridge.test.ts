/**
 * Local mode in EventBridge delivery: events reach the bundled function as EventBridge carries them
 * (keys not URL-encoded, fields under `detail`), routed by the stack's EventBridge rule patterns.
 */
import { createHash } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { indexKeys } from "../../lambda/index-keys";
import { resolvePipeline } from "../../stacks/pipeline";
import { deliveredEvent } from "../../tools/local/event-routing";
import { LOCAL_CREDENTIALS } from "../../tools/local/local-endpoint";
import { startLocalMode } from "../../tools/local-mode";
import { tempDir } from "../support/temp";

const pipeline = resolvePipeline("eb", {
  namePrefix: "cix-eb",
  delivery: "eventbridge",
  triggers: [{ prefix: "incoming/" }, { prefix: "csv/", suffix: ".csv", events: ["s3:ObjectCreated:*"] }],
});
const raw = (eventName: string, key: string) => ({
  eventName,
  eventTime: "2026-11-25T10:00:00.000Z",
  s3: { bucket: { name: "cix-eb-source" }, object: { key, size: 3, eTag: "abc" } },
});

describe("routing in EventBridge mode", () => {
  it("hands on the event as EventBridge carries it, named by the rule that routes it", () => {
    const delivered = deliveredEvent(pipeline, raw("ObjectCreated:Put", "incoming/a b+c.txt") as any, "0A")!;
    expect(delivered.ruleId).toBe("cix-eb-indexer-0");
    expect(delivered.event).toMatchObject({
      source: "aws.s3",
      "detail-type": "Object Created",
      detail: { bucket: { name: "cix-eb-source" }, object: { key: "incoming/a b+c.txt", size: 3, etag: "abc", sequencer: "0A" }, reason: "PutObject" },
    });
  });

  it("routes what the rules' patterns select, and nothing else", () => {
    expect(deliveredEvent(pipeline, raw("ObjectCreated:Copy", "csv/x.csv") as any, "0B")?.ruleId).toBe("cix-eb-indexer-1");
    expect(deliveredEvent(pipeline, raw("ObjectRemoved:Delete", "csv/x.csv") as any, "0C")).toBeUndefined();
    expect(deliveredEvent(pipeline, raw("ObjectCreated:Put", "other/x.csv") as any, "0D")).toBeUndefined();
    expect(deliveredEvent(pipeline, raw("ObjectRemoved:Delete", "incoming/x") as any, "0E")?.event).toMatchObject({
      "detail-type": "Object Deleted",
      detail: { reason: "DeleteObject", "deletion-type": "Permanently Deleted" },
    });
  });
});

describe("local mode running an EventBridge-delivery stack", () => {
  let local: Awaited<ReturnType<typeof startLocalMode>>;
  let client: S3Client;
  const lines: string[] = [];

  beforeAll(async () => {
    local = await startLocalMode({ port: 0, dataDir: tempDir("cix-local-eb-"), stack: "eb", pipeline, retryDelayMs: () => 10, print: (l) => lines.push(l) });
    client = new S3Client({ endpoint: local.endpoint.url, region: pipeline.region, forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    client?.destroy();
    await local?.stop();
  });

  it("indexes uploads and removals through the bundled function, as EventBridge would deliver them", async () => {
    const keys = indexKeys(pipeline.index.prefix);
    const body = "hello through EventBridge";
    await client.send(new PutObjectCommand({ Bucket: pipeline.source.name, Key: "incoming/über a+b.txt", Body: body }));
    await client.send(new PutObjectCommand({ Bucket: pipeline.source.name, Key: "outside/x.txt", Body: "not watched" }));
    await local.settled();
    const record = JSON.parse(
      await (await client.send(new GetObjectCommand({ Bucket: pipeline.index.name, Key: keys.current(pipeline.source.name, "incoming/über a+b.txt") }))).Body!.transformToString(),
    );
    expect(record).toMatchObject({ state: "present", key: "incoming/über a+b.txt", sha256: createHash("sha256").update(body).digest("hex") });
    expect(lines.some((l) => l.includes("outside/x.txt"))).toBe(false);

    await client.send(new DeleteObjectCommand({ Bucket: pipeline.source.name, Key: "incoming/über a+b.txt" }));
    await local.settled();
    expect(lines.filter((l) => l.startsWith("removed"))).toEqual(["removed  s3://cix-eb-source/incoming/über a+b.txt"]);
  });
});
