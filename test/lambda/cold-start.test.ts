import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { expect, it } from "vitest";
import { bundleFunction } from "../../stacks/bundle";
import { tempDir } from "../support/temp";

it("the deployed bundle fails its cold start naming the missing variable", () => {
  const bundle = bundleFunction({ entry: "lambda/handler.ts", projectRoot: path.resolve(__dirname, "..", "..") });
  const dir = tempDir("cix-cold-");
  for (const [name, bytes] of Object.entries(unzipSync(bundle.zip))) writeFileSync(path.join(dir, name), bytes);
  const env = { PATH: process.env.PATH, AWS_LAMBDA_FUNCTION_NAME: "indexer", AWS_REGION: "us-east-1" };
  const load = "import('./handler.mjs').catch((e) => { console.error(`${e.name}: ${e.message}`); process.exit(1); })";
  const failed = spawnSync(process.execPath, ["-e", load], { cwd: dir, env, encoding: "utf8" });
  expect(failed.status).not.toBe(0);
  // The error keeps its class's name in the minified bundle (esbuild's keepNames).
  expect(failed.stderr).toContain("ConfigError: INDEX_BUCKET is not set: give the name of the bucket that holds the index records.");
  const ok = spawnSync(process.execPath, ["-e", load], { cwd: dir, env: { ...env, INDEX_BUCKET: "my-index" }, encoding: "utf8" });
  expect(ok.status, ok.stderr).toBe(0);
});
