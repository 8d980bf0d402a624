/** The function exactly as deployed: the esbuild bundle from the zip, loaded as Lambda would load it. */
import { mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { unzipSync } from "fflate";
import { HANDLER } from "../../lambda/contract";
import { bundleFunction } from "../../stacks/bundle";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export type BundledHandler = (event: unknown, context?: { awsRequestId: string; getRemainingTimeInMillis?: () => number }) => Promise<unknown>;

/** Node's own dynamic import (see native-import.cjs): the bundle is loaded exactly as Lambda loads it. */
const nativeImport = createRequire(__filename)("./native-import.cjs") as (url: string) => Promise<Record<string, unknown>>;

/** Unzips a function zip into a content-addressed folder (reused, never piling up); returns the handler's file. */
export function unpackFunctionZip(zip: Uint8Array, sha256Hex: string): string {
  return unpackZipInto(zip, path.join(tmpdir(), "s3-checksum-index-bundles", sha256Hex, "unzipped"));
}

/** Unzips a function zip into `dir`; returns the handler's file. */
function unpackZipInto(zip: Uint8Array, dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(unzipSync(zip))) {
    // Write then rename: another process may be loading the same files at this moment.
    const partial = path.join(dir, `${name}.${process.pid}.partial`);
    writeFileSync(partial, bytes);
    renameSync(partial, path.join(dir, name));
  }
  // Lambda looks for <file>.js, .mjs or .cjs for the same handler setting.
  const file = readdirSync(dir).find((name) => [".js", ".mjs", ".cjs"].some((ext) => name === `${HANDLER.file}${ext}`));
  if (!file) throw new Error(`the function zip holds no ${HANDLER.file}.js, .mjs or .cjs`);
  return path.join(dir, file);
}

/**
 * The handler of an unpacked function, after `env` is set in process.env (the handler reads its
 * configuration from there, as in Lambda). The module is imported at the first call.
 */
export function handlerFromFile(file: string, env: Record<string, string>): BundledHandler {
  Object.assign(process.env, env);
  let loaded: Promise<BundledHandler> | undefined;
  return async (event, context) => {
    loaded ??= nativeImport(pathToFileURL(file).href).then((module) => {
      const handler = module[HANDLER.export];
      if (typeof handler !== "function") throw new Error(`${file} exports no function "${HANDLER.export}"`);
      return handler as BundledHandler;
    });
    return (await loaded)(event, context);
  };
}

/** The project's function, bundled as it is deployed, unzipped and loaded with `env`. */
export function loadBundledHandler(env: Record<string, string>): BundledHandler {
  const bundle = bundleFunction({ entry: HANDLER.source, projectRoot: PROJECT_ROOT });
  return handlerFromFile(unpackFunctionZip(bundle.zip, bundle.sha256Hex), env);
}

/**
 * A function zip (such as the one a deploy uploaded) unzipped into `dir` and loaded with `env`. A module is
 * loaded once per folder: use a new folder for another environment.
 */
export function loadHandlerFromZip(zip: Uint8Array, dir: string, env: Record<string, string>): BundledHandler {
  return handlerFromFile(unpackZipInto(zip, dir), env);
}
