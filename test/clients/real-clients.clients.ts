/**
 * Local mode (`npm start`, its own process) with the S3 clients Debian ships, set up exactly as
 * docs/local-mode.md says: every index record checked against SHA-256 computed here.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../tools/index-cli";
import { docSnippet } from "../support/doc-snippets";
import { localCliEnv, startLocalModeProcess, type LocalModeProcess } from "../support/local-mode-process";
import { clientShell, type ClientShell } from "../support/real-clients";
import { tempDir } from "../support/temp";

const SOURCE = "checksum-index-dev-source";
const PROJECT = path.resolve(__dirname, "..", "..");
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");
let local: LocalModeProcess;
let shell: ClientShell;
let env: NodeJS.ProcessEnv;

async function cli(...args: string[]) {
  const out: string[] = [];
  const code = await runCli(args, env, { out: (l) => out.push(l), err: (l) => out.push(l), progress: () => {} });
  return { code, out: out.join("\n") };
}

/** Waits until local mode printed `n` lines matching `pattern` (bounded); returns how many it printed. */
async function waitForLines(pattern: RegExp, n: number, timeoutMs = 180_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const count = () => local.output().split("\n").filter((l) => pattern.test(l)).length;
  while (count() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  return count();
}

async function indexedSha(key: string): Promise<string | undefined> {
  const got = await cli("get", `s3://${SOURCE}/${key}`, "--json");
  return got.code === 0 ? JSON.parse(got.out).sha256 : undefined;
}

const sh = async (script: string) => {
  const result = await shell.run(script);
  expect(result.code, result.out).toBe(0);
  return result.out;
};

/** For a failure message: local mode's lines about the prefix other than `expected`, its problems, and the client's output. */
function diagnose(expected: string, prefix: string, clientOutput: string): string {
  const lines = local.output().split("\n");
  const other = lines.filter((l) => l.includes(`/${prefix}`) && !l.startsWith(`${expected}  `));
  return [`lines about ${prefix} other than "${expected}":`, ...other.slice(0, 20), "problems:", ...lines.filter((l) => l.startsWith("!")).slice(0, 20), "client:", clientOutput.slice(-3000)].join("\n");
}

function folder(root: string, relative: string): string {
  const dir = path.join(root, relative);
  mkdirSync(dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  local = await startLocalModeProcess(tempDir("cix-clients-"), ["--retry-delay", "50"]);
  shell = clientShell({ "README.md": readFileSync(path.join(PROJECT, "README.md")), "docs/a.txt": "doc a\n", "docs/deeper/b.txt": "doc b\n" });
  // The CLI's SDK client reads process.env.
  Object.assign(process.env, localCliEnv(local.url, "checksum-index-dev-index"));
  env = process.env;
}, 120_000);

afterAll(async () => {
  if (local && local.child.exitCode === null) await local.interrupt();
});

describe("the AWS CLI (Debian's 2.9)", () => {
  const aws = () => `aws --endpoint-url ${local.url}`;
  const credentials = "export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1";

  it("the documented set-up uploads and the object is indexed", async () => {
    await sh(docSnippet("awscli", local.url));
    expect(readFileSync(path.join(shell.home, ".aws", "config"), "utf8")).toMatch(/addressing_style = path/);
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/README.md `));
    expect(await indexedSha("incoming/README.md")).toBe(sha256(readFileSync(path.join(PROJECT, "README.md"))));
  });

  it("copies a 100 MiB object inside the bucket (UploadPartCopy) and both are indexed with its SHA-256", async () => {
    const big = randomBytes(100 * 1024 * 1024);
    writeFileSync(path.join(shell.cwd, "big.bin"), big);
    await sh(`${credentials}\n${aws()} s3 cp big.bin s3://${SOURCE}/incoming/big/big.bin --only-show-errors`);
    await sh(`${credentials}\n${aws()} s3 cp s3://${SOURCE}/incoming/big/big.bin s3://${SOURCE}/incoming/big/copy.bin --only-show-errors`);
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/big/copy.bin  100.0 MiB`), 120_000);
    expect(await indexedSha("incoming/big/big.bin")).toBe(sha256(big));
    expect(await indexedSha("incoming/big/copy.bin")).toBe(sha256(big));
  });

  it("aws s3 rm --recursive over 200 keys in nested folders: every key removed from the index, verify finds nothing gone", async () => {
    for (let i = 0; i < 200; i++) writeFileSync(path.join(folder(shell.cwd, `tree/a${i % 4}/b${i % 5}`), `f${i}.txt`), `tree file ${i}`);
    await sh(`${credentials}\n${aws()} s3 cp --recursive tree s3://${SOURCE}/incoming/tree/ --only-show-errors`);
    expect(await waitForLines(/^indexed  s3:\/\/\S+\/incoming\/tree\//, 200)).toBe(200);
    await sh(`${credentials}\n${aws()} s3 rm --recursive s3://${SOURCE}/incoming/tree/ --only-show-errors`);
    expect(await waitForLines(/^removed  s3:\/\/\S+\/incoming\/tree\//, 200)).toBe(200);
    const verify = await cli("verify", `s3://${SOURCE}/incoming/`);
    expect(verify.out).toMatch(/, 0 gone, 0 corrupt$/m);
    expect(local.output()).not.toMatch(/^! /m);
  });

  it("aws s3api delete-objects (a multi-object delete) removes each key once", async () => {
    await sh(`${credentials}\nfor i in 1 2 3; do echo "m$i" > m$i.txt; ${aws()} s3 cp m$i.txt s3://${SOURCE}/incoming/multi/m$i.txt --only-show-errors; done`);
    expect(await waitForLines(/^indexed  s3:\/\/\S+\/incoming\/multi\//, 3)).toBe(3);
    await sh(
      `${credentials}\n${aws()} s3api delete-objects --bucket ${SOURCE} --delete '{"Objects":[{"Key":"incoming/multi/m1.txt"},{"Key":"incoming/multi/m2.txt"},{"Key":"incoming/multi/m3.txt"}]}'`,
    );
    expect(await waitForLines(/^removed  s3:\/\/\S+\/incoming\/multi\//, 3)).toBe(3);
  });
});

describe("rclone (Debian's 1.60)", () => {
  it("the documented set-up copies a folder, and every file is indexed", async () => {
    await sh(docSnippet("rclone", local.url));
    expect(await waitForLines(/^indexed  s3:\/\/\S+\/incoming\/docs\//, 2)).toBe(2);
    expect(await indexedSha("incoming/docs/deeper/b.txt")).toBe(sha256("doc b\n"));
  });

  it("syncs 200 files, then purges them: the index follows", async () => {
    for (let i = 0; i < 200; i++) writeFileSync(path.join(folder(shell.cwd, `sync/s${i % 7}`), `r${i}.txt`), `rclone ${i}`);
    const synced = await sh(`rclone sync sync local-s3:${SOURCE}/incoming/sync --transfers 8 -v`);
    expect(await waitForLines(/^indexed  s3:\/\/\S+\/incoming\/sync\//, 200), diagnose("indexed", "incoming/sync/", synced)).toBe(200);
    const purged = await sh(`rclone purge local-s3:${SOURCE}/incoming/sync -v`);
    expect(await waitForLines(/^removed  s3:\/\/\S+\/incoming\/sync\//, 200), diagnose("removed", "incoming/sync/", purged)).toBe(200);
  });

  it("asking for a key the server cannot store is a quick 404, not minutes of retries on a 500", async () => {
    const started = Date.now();
    const result = await shell.run(`rclone copyto local-s3:${SOURCE}/incoming/${"k".repeat(300)}.txt got.txt --dump headers`, 60_000);
    // A 404 for the file makes rclone look for a folder of that name, find it empty and copy nothing.
    expect(result.out).toMatch(/HTTP\/1\.1 404 Not Found/);
    expect(existsSync(path.join(shell.cwd, "got.txt"))).toBe(false);
    expect(result.out).not.toMatch(/HTTP\/1\.1 5\d\d/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("s3cmd (Debian's 2.3)", () => {
  it("the documented set-up uploads; cp (which reads the ACL) and info work; del is indexed as a removal", async () => {
    await sh(docSnippet("s3cmd", local.url));
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/README-s3cmd.md `));
    const copied = await sh(`s3cmd -c local-s3.s3cfg cp s3://${SOURCE}/incoming/README-s3cmd.md s3://${SOURCE}/incoming/README-s3cmd-copy.md`);
    expect(copied).not.toMatch(/Traceback|ERROR/);
    await local.waitFor(new RegExp(`indexed  s3://${SOURCE}/incoming/README-s3cmd-copy.md `));
    const info = await sh(`s3cmd -c local-s3.s3cfg info s3://${SOURCE}/incoming/README-s3cmd-copy.md`);
    expect(info).toMatch(/ACL:\s+\S+: FULL_CONTROL/);
    await sh(`s3cmd -c local-s3.s3cfg del s3://${SOURCE}/incoming/README-s3cmd-copy.md`);
    await local.waitFor(new RegExp(`removed  s3://${SOURCE}/incoming/README-s3cmd-copy.md`));
    expect(await indexedSha("incoming/README-s3cmd.md")).toBe(sha256(readFileSync(path.join(PROJECT, "README.md"))));
  });
});
