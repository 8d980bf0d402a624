/**
 * The long local-mode runs: 400 keys deleted in parallel; the pipeline on moto_server (`npm start -- --s3
 * moto`); `replay aws` against moto's SQS. moto has no Lambda invoke without Docker, so the queue handling
 * runs against moto's SQS and the invocation is a stub behind EventInvoker, failing on purpose for some events.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../tools/index-cli";
import { redriveQueue, ReplayError, type EventInvoker } from "../../tools/index/replay";
import { startMotoBackend, type MotoBackend } from "../../tools/local/moto-backend";
import { localCliEnv, startLocalModeProcess, type LocalModeProcess } from "../support/local-mode-process";
import { startInProcessLocalMode, type InProcessLocalMode } from "../support/local-mode-in-process";
import { deleteInParallel } from "../support/parallel-deletes";
import { clientShell } from "../support/real-clients";
import { s3Event } from "../support/events";
import { tempDir } from "../support/temp";

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

describe("parallel deletes at scale", () => {
  let local: InProcessLocalMode;
  beforeAll(async () => {
    local = await startInProcessLocalMode({ maxAttempts: 1 });
  });
  afterAll(async () => local?.close());

  it("deleting 400 keys of nested folders in parallel (300 single, 100 in multi-object deletes) while 60 uploads land in the same folders loses no event", async () => {
    const outcome = await deleteInParallel(local, { keys: 400, newcomers: 60 });
    expect(outcome.failures).toEqual([]);
    expect(outcome.problems).toEqual([]);
    expect(outcome.removedOnce).toBe(400);
    expect(outcome.bucketMinusExpected).toEqual([]);
    expect(outcome.indexDisagreesWithBucket).toEqual([]);
  });
});

describe("npm start -- --s3 moto --stack prod (versioned buckets)", () => {
  let local: LocalModeProcess;
  let client: S3Client;
  const SOURCE = "checksum-index-prod-source";
  const saved = { ...process.env };

  beforeAll(async () => {
    local = await startLocalModeProcess(tempDir("cix-moto-"), ["--s3", "moto", "--stack", "prod", "--retry-delay", "50"]);
    client = new S3Client({ endpoint: local.url, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    Object.assign(process.env, localCliEnv(local.url, "checksum-index-prod-index"));
  }, 120_000);
  afterAll(async () => {
    client?.destroy();
    if (local && local.child.exitCode === null) await local.interrupt();
    process.env = saved;
  });

  async function get(key: string) {
    const out: string[] = [];
    const code = await runCli(["get", `s3://${SOURCE}/${key}`, "--json"], process.env, { out: (l) => out.push(l), err: (l) => out.push(l), progress: () => {} });
    return code === 0 ? JSON.parse(out.join("")) : undefined;
  }

  it("says it runs on moto with the stack's versioned buckets", () => {
    expect(local.output()).toMatch(/moto_server at http:\/\/127\.0\.0\.1:\d+ \(in memory; versioned: checksum-index-prod-source, checksum-index-prod-index\)/);
  });

  it("indexes each version with its version id, and a delete as a delete marker", async () => {
    const first = await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/v.txt", Body: "version one" }));
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/v.txt  11 B  sha256 ${sha256("version one")}`));
    const second = await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/v.txt", Body: "version two!" }));
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/v.txt  12 B  sha256 ${sha256("version two!")}`));
    expect(first.VersionId).toBeTruthy();
    expect(await get("incoming/v.txt")).toMatchObject({ state: "present", versionId: second.VersionId, sha256: sha256("version two!") });
    const deleted = await client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: "incoming/v.txt" }));
    expect(deleted.DeleteMarker).toBe(true);
    await local.waitFor(new RegExp(`removed  s3://${SOURCE}/incoming/v.txt`));
    expect(await get("incoming/v.txt")).toMatchObject({ state: "deleted", deleteMarker: true, eventName: "ObjectRemoved:DeleteMarkerCreated", versionId: deleted.VersionId });
    expect(local.output()).not.toMatch(/^(! |skipped)/m);
  });
  it("verifies multipart uploads without checksums (rclone, the AWS CLI) by their MD5 ETag, part sizes from HEAD ?partNumber=n", async () => {
    const big = randomBytes(13 * 1024 * 1024);
    const shell = clientShell({ "big.bin": big });
    const remote = [
      "export RCLONE_CONFIG_MOTO_TYPE=s3 RCLONE_CONFIG_MOTO_PROVIDER=Other RCLONE_CONFIG_MOTO_ENDPOINT=" + local.url,
      "export RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=S3RVER RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=S3RVER RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE=true",
      "export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1",
    ].join("\n");
    // rclone: 5 MiB parts (3 parts); the AWS CLI: its default 8 MiB parts (2 parts). Neither sends a checksum.
    const uploaded = await shell.run(
      `${remote}\nrclone copyto big.bin moto:${SOURCE}/incoming/mpu/rclone.bin --s3-upload-cutoff 5M --s3-chunk-size 5M\n` +
        `aws --endpoint-url ${local.url} s3 cp big.bin s3://${SOURCE}/incoming/mpu/awscli.bin --only-show-errors`,
    );
    expect(uploaded.code, uploaded.out).toBe(0);
    for (const [key, parts] of [["incoming/mpu/rclone.bin", 3], ["incoming/mpu/awscli.bin", 2]] as const) {
      await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/${key}  13.0 MiB  sha256 ${sha256(big)}`), 60_000);
      const record = await get(key);
      expect(record.s3Checksum, key).toMatchObject({ algorithm: "MD5", source: "etag", verification: "match", verifiedBy: "MD5", parts });
      expect(record.s3Checksum.value, key).toMatch(new RegExp(`-${parts}$`));
    }
  }, 180_000);
});

describe("replay aws: the on-failure queue on moto's SQS, the invocation behind EventInvoker", () => {
  let moto: MotoBackend;
  let sqs: SQSClient;
  let url: string;

  beforeAll(async () => {
    moto = await startMotoBackend({ buckets: [], versionedBuckets: [], region: "us-east-1", onProblem: () => {} });
    sqs = new SQSClient({ endpoint: moto.url, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    url = (await sqs.send(new CreateQueueCommand({ QueueName: "checksum-index-dev-indexer-failures" }))).QueueUrl!;
  }, 120_000);
  afterAll(async () => {
    sqs?.destroy();
    await moto?.close();
  });

  /** A message as Lambda's on-failure destination writes it: the invocation record around the event. */
  const failureMessage = (key: string) =>
    JSON.stringify({
      version: "1.0",
      timestamp: "2026-11-25T10:00:00.000Z",
      requestContext: { requestId: `req-${key}`, functionArn: "arn:aws:lambda:us-east-1:123456789012:function:checksum-index-dev-indexer:live", condition: "RetriesExhausted", approximateInvokeCount: 3 },
      requestPayload: s3Event({ eventName: "ObjectCreated:Put", bucket: "checksum-index-dev-source", key, sequencer: "0A", size: 1, eTag: "e" }),
      responseContext: { statusCode: 200, executedVersion: "3", functionError: "Unhandled" },
      responsePayload: { errorType: "Error", errorMessage: "boom" },
    });

  const visibleMessages = async () =>
    Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }))).Attributes!.ApproximateNumberOfMessages);

  it("a dry run counts and lists every message and leaves all of them in the queue, visible", async () => {
    for (const key of ["incoming/a.txt", "incoming/b.txt", "incoming/fails.txt"]) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: failureMessage(key) }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "not json" }));
    const invoked: unknown[] = [];
    const lines: string[] = [];
    const summary = await redriveQueue(sqs, url, { target: "stub", invoke: async (e) => void invoked.push(e) }, { dryRun: true, onEvent: (l) => lines.push(l) });
    expect(summary).toMatchObject({ found: 3, unreadable: 1, replayed: 0, failed: 0, approximate: 4 });
    expect(invoked).toEqual([]);
    expect(lines.filter((l) => l.startsWith("would replay  ObjectCreated:Put s3://checksum-index-dev-source/incoming/"))).toHaveLength(3);
    expect(await visibleMessages()).toBe(4);
  });

  it("re-invokes with each original event, deletes a message only once its invocation succeeded, and keeps the rest visible", async () => {
    const invoked: string[] = [];
    const invoker: EventInvoker = {
      target: "stub alias",
      async invoke(event) {
        const key = (event as any).Records[0].s3.object.key as string;
        invoked.push(key);
        if (key.includes("fails")) throw new ReplayError(`stub alias failed (Unhandled): still broken for ${key}`);
      },
    };
    const summary = await redriveQueue(sqs, url, invoker);
    expect(summary).toMatchObject({ found: 3, replayed: 2, failed: 1, unreadable: 1 });
    expect(invoked.sort()).toEqual(["incoming/a.txt", "incoming/b.txt", "incoming/fails.txt"]);
    expect(summary.failures[0].error).toContain("still broken for incoming/fails.txt");
    // What is left: the failing event and the unreadable message, visible at once for the next run.
    const left = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const bodies = (left.Messages ?? []).map((m) => m.Body!);
    expect(bodies).toHaveLength(2);
    expect(bodies.some((b) => b.includes("incoming/fails.txt"))).toBe(true);
    expect(bodies).toContain("not json");
  });

  it("stops after --max-messages", async () => {
    // The two messages left above were received just now: wait until they are visible again.
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 5; i++) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: failureMessage(`incoming/more-${i}.txt`) }));
    const summary = await redriveQueue(sqs, url, { target: "stub", invoke: async () => {} }, { maxMessages: 2, visibilityTimeoutSeconds: 1 });
    expect(summary.found + summary.unreadable).toBe(2);
  });
});
