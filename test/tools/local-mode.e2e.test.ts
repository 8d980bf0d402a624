/**
 * Local mode end to end, as a user runs it: a separate process, uploads from the SDK with its default
 * settings (streamed bodies in aws-chunked), the index checked against SHA-256 computed here; then the
 * index CLI against the same endpoint.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { indexKeys } from "../../lambda/index-keys";
import { runCli } from "../../tools/index-cli";
import { localCliEnv, startLocalModeProcess, type LocalModeProcess } from "../support/local-mode-process";
import { tempDir } from "../support/temp";

const SOURCE = "checksum-index-dev-source";
const INDEX = "checksum-index-dev-index";
const PROJECT = path.resolve(__dirname, "..", "..");
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

let local: LocalModeProcess;
let client: S3Client;
let dataDir: string;
const savedEnv = { ...process.env };

/** A client with the SDK's defaults: checksums WHEN_SUPPORTED, so streamed bodies are aws-chunked. */
function sdkClient(url: string): S3Client {
  return new S3Client({ endpoint: url, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, process.env, { out: (l) => out.push(l), err: (l) => err.push(l), progress: () => {} });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** The CLI with one variable of the environment unset. */
async function cliWithout(variable: string, ...args: string[]) {
  const saved = process.env[variable];
  delete process.env[variable];
  try {
    return await cli(...args);
  } finally {
    process.env[variable] = saved;
  }
}

beforeAll(async () => {
  dataDir = tempDir("cix-local-");
  local = await startLocalModeProcess(dataDir, ["--retry-delay", "50"]);
  client = sdkClient(local.url);
  Object.assign(process.env, localCliEnv(local.url, INDEX));
}, 60_000);

afterAll(async () => {
  client?.destroy();
  if (local && local.child.exitCode === null) await local.interrupt();
  process.env = savedEnv;
});

describe("local mode", () => {
  it("indexes an SDK upload and a streamed upload byte-exact, and shows each in the console", async () => {
    const small = Buffer.from("hello local mode");
    const streamed = randomBytes(256 * 1024 + 7);
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/hello local.txt", Body: small }));
    await client.send(
      new PutObjectCommand({
        Bucket: SOURCE,
        Key: "incoming/streamed.bin",
        Body: Readable.from([streamed.subarray(0, 100_000), streamed.subarray(100_000)]),
        ContentLength: streamed.length,
      }),
    );
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/hello local.txt  16 B  sha256 ${sha256(small)}`));
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/streamed.bin  256.0 KiB  sha256 ${sha256(streamed)}`));
    const record = await cli("get", `s3://${SOURCE}/incoming/streamed.bin`, "--json");
    expect(JSON.parse(record.out)).toMatchObject({ size: streamed.length, sha256: sha256(streamed) });
  });

  it("routes events as the synthesized notification does: nothing outside incoming/ is indexed", async () => {
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "elsewhere/not-watched.txt", Body: "x" }));
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/after-unwatched.txt", Body: "y" }));
    await local.waitFor(/indexed  s3:\/\/[^ ]+\/incoming\/after-unwatched.txt/);
    expect(local.output()).not.toContain("elsewhere/not-watched.txt");
    expect((await cli("get", `s3://${SOURCE}/elsewhere/not-watched.txt`)).code).toBe(1);
  });

  it("records a delete as a removal", async () => {
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/to-delete.txt", Body: "bye" }));
    await local.waitFor(/indexed  s3:\/\/[^ ]+\/incoming\/to-delete.txt/);
    await client.send(new DeleteObjectCommand({ Bucket: SOURCE, Key: "incoming/to-delete.txt" }));
    await local.waitFor(/removed  s3:\/\/[^ ]+\/incoming\/to-delete.txt/);
    expect(JSON.parse((await cli("get", `s3://${SOURCE}/incoming/to-delete.txt`, "--json")).out)).toMatchObject({ state: "deleted" });
  });

  it("indexes a copy, and records each key of a multi-object delete as removed", async () => {
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/original.txt", Body: "copy me" }));
    await client.send(new CopyObjectCommand({ Bucket: SOURCE, Key: "incoming/the copy.txt", CopySource: `${SOURCE}/incoming/original.txt` }));
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/the copy.txt  7 B  sha256 ${sha256("copy me")}`));
    await client.send(
      new DeleteObjectsCommand({ Bucket: SOURCE, Delete: { Objects: [{ Key: "incoming/original.txt" }, { Key: "incoming/the copy.txt" }] } }),
    );
    await local.waitFor(/removed  s3:\/\/[^ ]+\/incoming\/original.txt/);
    await local.waitFor(/removed  s3:\/\/[^ ]+\/incoming\/the copy.txt/);
    expect(await cli("find", sha256("copy me"))).toMatchObject({ code: 1 });
  });

  it("answers a key segment too long for a file name with a clear S3 error, and stays up", async () => {
    const key = `incoming/${"k".repeat(300)}.txt`;
    const error = await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: "long" })).catch((e) => e);
    expect(error.name).toBe("KeyTooLongError");
    expect(error.message).toMatch(/segment of 304 bytes between slashes; it can store at most 233\. S3 itself accepts this key/);
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/still-up.txt", Body: "up" }));
    await local.waitFor(/indexed  s3:\/\/[^ ]+\/incoming\/still-up.txt/);
  });
});

describe("the index CLI against local mode", () => {
  it("get prints the record of an object, and says when an object is not indexed", async () => {
    const got = await cli("get", `s3://${SOURCE}/incoming/hello local.txt`);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.out)).toMatchObject({ key: "incoming/hello local.txt", sha256: sha256("hello local mode") });
    const missing = await cli("get", `s3://${SOURCE}/incoming/never.txt`);
    expect(missing).toMatchObject({ code: 1, err: `s3://${SOURCE}/incoming/never.txt is not in the index` });
  });

  it("find lists every object with the content", async () => {
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/copy-a.txt", Body: "same content" }));
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/copy-b.txt", Body: "same content" }));
    await local.waitFor(/indexed  s3:\/\/[^ ]+\/incoming\/copy-b.txt/);
    const found = await cli("find", sha256("same content"), "--json");
    expect(JSON.parse(found.out).map((e: any) => e.key)).toEqual(["incoming/copy-a.txt", "incoming/copy-b.txt"]);
    expect((await cli("find", sha256("nothing has this"))).code).toBe(1);
  });

  it("verify reports matches, and catches a deliberately corrupted index record with a non-zero exit", async () => {
    const ok = await cli("verify", `s3://${SOURCE}/incoming/copy-a.txt`);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.out).toContain(`match      s3://${SOURCE}/incoming/copy-a.txt`);

    const recordKey = indexKeys("index/").current(SOURCE, "incoming/copy-b.txt");
    const record = JSON.parse((await cli("get", `s3://${SOURCE}/incoming/copy-b.txt`, "--json")).out);
    await client.send(new PutObjectCommand({ Bucket: INDEX, Key: recordKey, Body: JSON.stringify({ ...record, sha256: "0".repeat(64) }) }));
    const bad = await cli("verify", `s3://${SOURCE}/incoming/`);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`mismatch   s3://${SOURCE}/incoming/copy-b.txt  content is ${sha256("same content")}, the index says ${"0".repeat(64)}`);
    expect(bad.out).toMatch(/verified \d+: \d+ match, 1 mismatch, 0 unindexed, 0 gone, 0 corrupt/);
  });

  it("backfill indexes what the trigger rules select and was missed, stops with a checkpoint, and resumes", async () => {
    // Objects whose events were missed: uploaded, then their index records taken away.
    const bodies = Array.from({ length: 7 }, (_, i) => `old object ${i}`);
    for (const [i, body] of bodies.entries()) {
      await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: `incoming/legacy/file-${i}.txt`, Body: body }));
    }
    await local.waitFor(/indexed  s3:\/\/[^ ]+\/incoming\/legacy\/file-6.txt/);
    for (let i = 0; i < bodies.length; i++) {
      await client.send(new DeleteObjectCommand({ Bucket: INDEX, Key: indexKeys("index/").current(SOURCE, `incoming/legacy/file-${i}.txt`) }));
    }
    const checkpoint = path.join(dataDir, "legacy.checkpoint.json");
    const first = await cli("backfill", `s3://${SOURCE}/incoming/legacy/`, "--max-objects", "3", "--page-size", "2", "--checkpoint", checkpoint, "--json");
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ listed: 3, indexed: 3, complete: false, checkpoint });
    expect(existsSync(checkpoint)).toBe(true);
    expect(JSON.parse(readFileSync(checkpoint, "utf8")).startAfter).toBe("incoming/legacy/file-2.txt");

    const second = await cli("backfill", `s3://${SOURCE}/incoming/legacy/`, "--page-size", "2", "--checkpoint", checkpoint, "--json");
    expect(JSON.parse(second.out)).toMatchObject({ listed: 4, indexed: 4, failed: 0, complete: true, resumedAfter: "incoming/legacy/file-2.txt" });
    expect(existsSync(checkpoint)).toBe(false);
    for (const [i, body] of bodies.entries()) {
      expect(JSON.parse((await cli("get", `s3://${SOURCE}/incoming/legacy/file-${i}.txt`, "--json")).out).sha256).toBe(sha256(body));
    }
    const again = await cli("backfill", `s3://${SOURCE}/incoming/legacy/`, "--checkpoint", checkpoint);
    expect(again.out).toMatch(/7 objects, 0 indexed \(0 B\), 7 already indexed/);
  });

  it("backfill s3://bucket/incoming (no slash) indexes only what the rules select, and says what it skipped", async () => {
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incomingX/outside.txt", Body: "not watched" }));
    const checkpoint = path.join(dataDir, "noslash.checkpoint.json");
    const run = await cli("backfill", `s3://${SOURCE}/incoming`, "--checkpoint", checkpoint);
    expect(run.code).toBe(0);
    expect(run.out).toContain("not indexed: 1 objects that no trigger rule of the stack selects (incomingX/outside.txt)");
    expect((await cli("get", `s3://${SOURCE}/incomingX/outside.txt`)).code).toBe(1);
    const elsewhere = await cli("backfill", "s3://checksum-index-dev-index/index/", "--checkpoint", checkpoint);
    expect(elsewhere).toMatchObject({ code: 2 });
    expect(elsewhere.err).toContain("is not in the source bucket of stack dev (s3://checksum-index-dev-source/)");
  });

  it("says clearly what is wrong with a bad URI, a missing bucket, or missing credentials", async () => {
    expect(await cli("get", "https://example.com/x")).toMatchObject({ code: 2, err: 'get: "https://example.com/x" is not an S3 URI: write it as s3://bucket/key' });
    expect(await cli("find", "abc")).toMatchObject({ code: 2, err: 'find: "abc" is not a SHA-256: give 64 hexadecimal digits' });
    const missing = await cli("verify", "s3://no-such-bucket-here/");
    expect(missing).toMatchObject({ code: 1, err: `verify: the bucket no-such-bucket-here does not exist at ${local.url}` });

    const noCredentials = spawnSync(process.execPath, [path.join(PROJECT, "node_modules", "tsx", "dist", "cli.mjs"), "tools/index-cli.ts", "get", `s3://${SOURCE}/incoming/x`], {
      cwd: PROJECT,
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        HOME: tempDir("cix-nohome-"),
        AWS_ENDPOINT_URL_S3: local.url,
        S3_FORCE_PATH_STYLE: "true",
        AWS_REGION: "us-east-1",
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_CONFIG_FILE: "/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
        INDEX_BUCKET: INDEX,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
    });
    expect(noCredentials.status).toBe(1);
    expect(noCredentials.stderr).toContain("get: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");

    const noRegion = await cliWithout("AWS_REGION", "verify", `s3://${SOURCE}/incoming/`);
    expect(noRegion).toMatchObject({ code: 1, err: "verify: no AWS region: set AWS_REGION (local mode: us-east-1)" });
  });
});

describe("failures and restarts", () => {
  it("prints a failing event with its record, keeps it in the failure log, and keeps running", async () => {
    // Take the index away: every write of the function now fails, as it would without its bucket.
    const listed = await client.send(new ListObjectsV2Command({ Bucket: INDEX }));
    for (const o of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: INDEX, Key: o.Key! }));
    await client.send(new DeleteBucketCommand({ Bucket: INDEX }));
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/doomed.txt", Body: "doomed" }));
    await local.waitFor(/failed \(attempt 3 of 3\)/);
    await local.waitFor(/! kept in .*failed-events\.jsonl: \{.*incoming\/doomed\.txt/);
    const kept = readFileSync(path.join(dataDir, "failed-events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(kept.at(-1)).toMatchObject({ event: { Records: [{ eventName: "ObjectCreated:Put", s3: { object: { key: "incoming/doomed.txt" } } }] } });
    expect(kept.at(-1).error).toMatch(/bucket does not exist/i);
  });

  it("replay local re-sends the failure log's events once the cause is gone: a dry run counts, a replay indexes and empties the log", async () => {
    const log = path.join(dataDir, "failed-events.jsonl");
    const dry = await cli("replay", "local", "--data-dir", dataDir, "--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/would replay  ObjectCreated:Put s3:\/\/checksum-index-dev-source\/incoming\/doomed.txt/);
    expect(dry.out).toMatch(/dry run: 1 events would be replayed/);
    // Still failing: the event stays in the log.
    const again = await cli("replay", "local", "--data-dir", dataDir);
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/replayed 0 of 1 events .* 1 failed again and stay there/);
    expect(readFileSync(log, "utf8").trim().split("\n")).toHaveLength(1);
    await client.send(new CreateBucketCommand({ Bucket: INDEX }));
    const replayed = await cli("replay", "local", "--data-dir", dataDir);
    expect(replayed).toMatchObject({ code: 0 });
    expect(replayed.out).toMatch(/replayed 1 of 1 events/);
    expect(existsSync(log)).toBe(false);
    expect(JSON.parse((await cli("get", `s3://${SOURCE}/incoming/doomed.txt`, "--json")).out)).toMatchObject({ sha256: sha256("doomed") });
  });

  it("stops cleanly on Ctrl-C and keeps its data across a restart", async () => {
    expect(await local.interrupt()).toBe(0);
    expect(local.output()).toContain("Stopped.");
    local = await startLocalModeProcess(dataDir, ["--retry-delay", "50"]);
    client.destroy();
    client = sdkClient(local.url);
    process.env.AWS_ENDPOINT_URL_S3 = local.url;
    // The index bucket is created again; the source objects are still there.
    const listed = await client.send(new ListObjectsV2Command({ Bucket: SOURCE, Prefix: "incoming/hello" }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(["incoming/hello local.txt"]);
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/after-restart.txt", Body: "again" }));
    await local.waitFor(/indexed  s3:\/\/[^ ]+\/incoming\/after-restart.txt/);
  });
});
