/**
 * Same source, same bytes: the synthesized configuration and the function's zip do not depend on the
 * time, the time zone, the umask or the folder the project is checked out in.
 */
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { beforeAll, describe, expect, it } from "vitest";
import { bundleFunction, deterministicZip } from "../../stacks/bundle";
import { synthAppToDisk } from "../support/synth";
import { tempDir } from "../support/temp";

const PROJECT = path.resolve(__dirname, "..", "..");
const SETTINGS = { namePrefix: "cix-determinism", accountId: "111122223333" };

/** Every file below a folder, relative path → bytes. */
function filesBelow(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.set(path.relative(dir, full), readFileSync(full));
    }
  };
  walk(dir);
  return files;
}

describe("a synth in another time zone, under another umask, from a copy at another path", () => {
  let here: Map<string, Buffer>;
  let there: Map<string, Buffer>;

  beforeAll(() => {
    here = filesBelow(path.join(synthAppToDisk(SETTINGS), "stacks"));

    const copy = path.join(tempDir("cix elsewhere "), "checkout");
    cpSync(PROJECT, copy, {
      recursive: true,
      filter: (src) => !/[/\\](node_modules|cdktf\.out|\.git)$/.test(src),
    });
    symlinkSync(path.join(PROJECT, "node_modules"), path.join(copy, "node_modules"), "dir");
    const result = spawnSync("sh", ["-c", "umask 077 && exec node_modules/.bin/tsx main.ts"], {
      cwd: copy,
      encoding: "utf8",
      env: {
        ...process.env,
        TZ: "Pacific/Chatham",
        CHECKSUM_INDEX_NAME_PREFIX: SETTINGS.namePrefix,
        CHECKSUM_INDEX_ACCOUNT_ID: SETTINGS.accountId,
        CHECKSUM_INDEX_REGION: "",
      },
    });
    if (result.status !== 0) throw new Error(`synth in the copy failed:\n${result.stdout}\n${result.stderr}`);
    there = filesBelow(path.join(copy, "cdktf.out", "stacks"));
  });

  it("writes the same files", () => {
    expect([...there.keys()]).toEqual([...here.keys()]);
    expect([...here.keys()].filter((f) => f.endsWith(".zip"))).toHaveLength(2);
  });

  it("writes byte-identical cdk.tf.json and zips", () => {
    for (const [name, bytes] of here) {
      expect(Buffer.compare(bytes, there.get(name)!), `${name} differs`).toBe(0);
    }
  });

  it("names no folder of the machine in what it writes", () => {
    for (const [name, bytes] of here) {
      const text = name.endsWith(".zip")
        ? Object.values(unzipSync(bytes)).map((b) => Buffer.from(b).toString("utf8")).join("\n")
        : bytes.toString("utf8");
      expect(text.includes(PROJECT), `${name} contains ${PROJECT}`).toBe(false);
      expect(text.includes(tmpdir() + "/"), `${name} contains a temporary folder`).toBe(false);
    }
  });
});

describe("the zip", () => {
  it("does not change with the process's time zone", () => {
    const entries = { "b.js": Buffer.from("b"), "a.js": Buffer.from("a") };
    const original = process.env.TZ;
    try {
      process.env.TZ = "UTC";
      const utc = deterministicZip(entries);
      process.env.TZ = "Asia/Kathmandu";
      const kathmandu = deterministicZip(entries);
      expect(Buffer.compare(Buffer.from(utc), Buffer.from(kathmandu))).toBe(0);
    } finally {
      if (original === undefined) delete process.env.TZ;
      else process.env.TZ = original;
    }
  });

  it("holds entries in name order, dated 1980-01-01 00:00, with mode 0644 made on Unix", () => {
    const zip = Buffer.from(deterministicZip({ "z.js": Buffer.from("z"), "a.js": Buffer.from("a") }));
    // Central directory entries: signature 0x02014b50.
    const entries: Array<{ name: string; madeBy: number; time: number; date: number; mode: number }> = [];
    for (let i = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); i >= 0; i = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), i + 4)) {
      const nameLength = zip.readUInt16LE(i + 28);
      entries.push({
        madeBy: zip.readUInt8(i + 5),
        time: zip.readUInt16LE(i + 12),
        date: zip.readUInt16LE(i + 14),
        mode: zip.readUInt32LE(i + 38) >>> 16,
        name: zip.subarray(i + 46, i + 46 + nameLength).toString(),
      });
    }
    expect(entries).toEqual([
      { name: "a.js", madeBy: 3, time: 0, date: (0 << 9) | (1 << 5) | 1, mode: 0o100644 },
      { name: "z.js", madeBy: 3, time: 0, date: (0 << 9) | (1 << 5) | 1, mode: 0o100644 },
    ]);
  });

  it("holds only the minified ESM handler and its digest worker, their source maps beside the zip, and the hash is of the zip", () => {
    const bundle = bundleFunction({ entry: "lambda/handler.ts", projectRoot: PROJECT });
    expect(bundle.files.map((f) => f.name)).toEqual(["digest-worker.mjs", "handler.mjs"]);
    expect(bundle.sourceMap?.name).toBe("handler.mjs.map");
    expect(bundle.workerSourceMaps.map((m) => m.name)).toEqual(["digest-worker.mjs.map"]);
    const worker = Buffer.from(unzipSync(bundle.zip)["digest-worker.mjs"]).toString("utf8");
    expect(worker, "the worker carries no AWS SDK").not.toContain("S3Client");
    expect(JSON.parse(Buffer.from(bundle.sourceMap!.bytes).toString("utf8")).sources.some((s: string) => s.endsWith("lambda/handler.ts"))).toBe(true);
    const { createHash } = require("node:crypto") as typeof import("node:crypto");
    expect(bundle.sha256Hex).toBe(createHash("sha256").update(bundle.zip).digest("hex"));
    expect(Buffer.from(bundle.sha256Hex, "hex").toString("base64")).toBe(bundle.sha256Base64);
    const handler = Buffer.from(unzipSync(bundle.zip)["handler.mjs"]).toString("utf8");
    expect(handler, "the deployed code names no source map it does not ship").not.toContain("sourceMappingURL");
    const unminified = bundleFunction({ entry: "lambda/handler.ts", projectRoot: PROJECT, minify: false });
    const handlerSize = (b: typeof bundle) => b.files.find((f) => f.name === "handler.mjs")!.size;
    expect(handlerSize(bundle), "the bundle is minified").toBeLessThan(handlerSize(unminified) * 0.8);
  });
});
