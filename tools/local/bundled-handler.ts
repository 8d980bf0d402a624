/** The function exactly as deployed: the esbuild bundle from the zip, loaded as Lambda would load it. */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { bundleFunction } from "../../stacks/bundle";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export type BundledHandler = (event: unknown, context?: { awsRequestId: string }) => Promise<void>;

/**
 * Builds the bundle, unzips it and requires handler.js, after `env` is set in process.env (the
 * handler reads its configuration from there, as in Lambda).
 */
export function loadBundledHandler(env: Record<string, string>): BundledHandler {
  const bundle = bundleFunction({ entry: "lambda/handler.ts", projectRoot: PROJECT_ROOT });
  // Content-addressed, like the zip itself: one folder per version of the code, reused, never piling up.
  return loadHandlerFromZip(bundle.zip, path.join(tmpdir(), "s3-checksum-index-bundles", bundle.sha256Hex, "unzipped"), env);
}

/**
 * Unzips a function zip (such as the one a deploy uploaded) into `dir` and requires its handler.js, after
 * `env` is set in process.env. A module is loaded once per folder: use a new folder for another environment.
 */
export function loadHandlerFromZip(zip: Uint8Array, dir: string, env: Record<string, string>): BundledHandler {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(unzipSync(zip))) {
    // Write then rename: another process may be loading the same files at this moment.
    const partial = path.join(dir, `${name}.${process.pid}.partial`);
    writeFileSync(partial, bytes);
    renameSync(partial, path.join(dir, name));
  }
  Object.assign(process.env, env);
  const required = createRequire(path.join(dir, "index.js"))(path.join(dir, "handler.js"));
  return required.handler;
}
