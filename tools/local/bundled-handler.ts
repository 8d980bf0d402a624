/** The function exactly as deployed: the esbuild bundle from the zip, loaded as Lambda would load it. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { bundleFunction } from "../../stacks/bundle";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export type BundledHandler = (event: unknown, context?: { awsRequestId: string }) => Promise<void>;

/**
 * Unzips the bundle into a new folder and requires handler.js, after `env` is set in process.env (the
 * handler reads its configuration from there, as in Lambda).
 */
export function loadBundledHandler(env: Record<string, string>): BundledHandler {
  const bundle = bundleFunction({ entry: "lambda/handler.ts", projectRoot: PROJECT_ROOT });
  const dir = mkdtempSync(path.join(tmpdir(), "cix-bundle-"));
  for (const [name, bytes] of Object.entries(unzipSync(bundle.zip))) writeFileSync(path.join(dir, name), bytes);
  Object.assign(process.env, env);
  const required = createRequire(path.join(dir, "index.js"))(path.join(dir, "handler.js"));
  return required.handler;
}
