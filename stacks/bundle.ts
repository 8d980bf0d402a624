/**
 * Bundles the function with esbuild and zips it deterministically: the same source gives the same bytes
 * on any machine, in any time zone, under any umask and from any checkout path. `source_code_hash` is the
 * zip's SHA-256, so `terraform plan` shows no change to the function when its code has not changed.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { buildSync } from "esbuild";
import { zipSync, type Zippable } from "fflate";
import { DIGEST_WORKER, HANDLER } from "../lambda/contract";

export interface BundleOptions {
  /** Entry file of the function, absolute or relative to `projectRoot`. */
  readonly entry: string;
  /** Root of the project: every path esbuild records (source maps) is relative to it. */
  readonly projectRoot: string;
  /** Node.js version the code must run on, as an esbuild target. @default "node20" (valid on nodejs22.x too) */
  readonly target?: string;
  /** Minify the bundle. @default true */
  readonly minify?: boolean;
  /**
   * Build a source map. It is kept beside the zip (`Bundle.sourceMap`, written by writeBundle), never in
   * it: the runtime does not need it, it is four times the code, and `--enable-source-maps` slows every
   * cold start. The build is deterministic, so the map of any deployed zip is rebuilt from its commit.
   * @default true
   */
  readonly sourceMap?: boolean;
  /**
   * Module format: "esm" writes `<file>.mjs`, "cjs" `<file>.js`; Lambda's Node.js runtimes load either for
   * the same `handler` setting. @default "esm": measured here, the ESM bundle (ESM builds of the AWS SDK)
   * is a quarter smaller and loads about three times faster than the CommonJS one (`npm run bench`)
   */
  readonly format?: "cjs" | "esm";
  /**
   * Worker-thread entries bundled beside the entry (each `<file>.mjs`, or `.js` for "cjs"), which the code
   * finds next to its own file. @default the digest worker (lambda/digest-worker.ts) when the entry is the
   * handler, none otherwise
   */
  readonly workers?: ReadonlyArray<{ readonly file: string; readonly source: string }>;
}

/** The bundled file's name inside the zip, for a format. */
export function handlerFileName(format: "cjs" | "esm" = "esm"): string {
  return `${HANDLER.file}.${format === "esm" ? "mjs" : "js"}`;
}

/**
 * ESM output keeps a `require` for the few dependencies that still call it (Node's own modules only, once
 * bundled): the standard esbuild shim; and `__filename`/`__dirname`, by which the code finds the worker
 * files bundled beside it (digest-offload.ts) in either format.
 */
const ESM_REQUIRE_SHIM =
  "import { createRequire as __cixCreateRequire } from 'node:module'; import { fileURLToPath as __cixFileURLToPath } from 'node:url'; " +
  "import { dirname as __cixDirname } from 'node:path'; const require = __cixCreateRequire(import.meta.url); " +
  "const __filename = __cixFileURLToPath(import.meta.url); const __dirname = __cixDirname(__filename);";

export interface Bundle {
  /** The zip's bytes. */
  readonly zip: Uint8Array;
  /** Hex SHA-256 of the zip. */
  readonly sha256Hex: string;
  /** Base64 SHA-256 of the zip: what `source_code_hash` expects (it is what `filebase64sha256` computes). */
  readonly sha256Base64: string;
  /** The source map of the bundled file (not in the zip), when one was built. */
  readonly sourceMap?: { readonly name: string; readonly bytes: Uint8Array };
  /** The source maps of the worker files (not in the zip either). */
  readonly workerSourceMaps: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>;
  /** Names and sizes of the files inside the zip, in their order. */
  readonly files: ReadonlyArray<{ name: string; size: number }>;
}

/**
 * DOS timestamps hold local date fields, and zip libraries fill them from a `Date` with local getters.
 * A `Date` built from local fields therefore encodes the same bytes in every time zone; a fixed UTC
 * instant does not. 1980-01-01 00:00 is the earliest DOS date, the convention of reproducible builds.
 */
function fixedLocalDosEpoch(): Date {
  return new Date(1980, 0, 1, 0, 0, 0, 0);
}

/** Regular file, rw-r--r--: the zip records this mode whatever the umask of the machine. */
const UNIX_FILE_MODE = 0o100644;
/** The zip "made by" host system: 3 = Unix, so that the mode above is read by unzip and by Lambda. */
const ZIP_HOST_UNIX = 3;

/** Zips named contents in sorted order with fixed timestamps and modes. */
export function deterministicZip(entries: Record<string, Uint8Array>): Uint8Array {
  const names = Object.keys(entries).sort();
  const zippable: Zippable = {};
  for (const name of names) {
    zippable[name] = [
      entries[name],
      { mtime: fixedLocalDosEpoch(), os: ZIP_HOST_UNIX, attrs: UNIX_FILE_MODE << 16, level: 9 },
    ];
  }
  return zipSync(zippable);
}

export function bundleFunction(options: BundleOptions): Bundle {
  const projectRoot = path.resolve(options.projectRoot);
  const entry = path.resolve(projectRoot, options.entry);
  if (!existsSync(entry)) {
    throw new Error(`The function's entry file ${path.relative(projectRoot, entry)} does not exist: check the entry option.`);
  }
  const format = options.format ?? "esm";
  const workers = options.workers ?? (path.relative(projectRoot, entry) === HANDLER.source ? [DIGEST_WORKER] : []);
  const result = buildSync({
    entryPoints: {
      [HANDLER.file]: path.relative(projectRoot, entry),
      ...Object.fromEntries(workers.map((worker) => [worker.file, worker.source])),
    },
    absWorkingDir: projectRoot,
    outdir: "out",
    bundle: true,
    platform: "node",
    format,
    outExtension: format === "esm" ? { ".js": ".mjs" } : undefined,
    // ESM builds of the dependencies where they ship one (the AWS SDK does): they tree-shake better.
    mainFields: format === "esm" ? ["module", "main"] : undefined,
    banner: format === "esm" ? { js: ESM_REQUIRE_SHIM } : undefined,
    target: options.target ?? "node20",
    minify: options.minify ?? true,
    // Classes and functions keep their names: error names (IndexerError sets name from its class) and
    // stack traces stay readable in the logs without a source map.
    keepNames: true,
    treeShaking: true,
    // External: the map is not deployed, so the bundle names none (no dangling sourceMappingURL).
    sourcemap: options.sourceMap === false ? false : "external",
    // Paths through a symlinked node_modules stay as they are, so the source map does not name the
    // folder the link points to.
    preserveSymlinks: true,
    // Source paths in the map stay relative and no absolute path leaks into the bundle.
    sourceRoot: "",
    legalComments: "none",
    write: false,
    logLevel: "silent",
    metafile: false,
  });
  if (result.errors.length > 0) {
    throw new Error(`esbuild could not bundle ${options.entry}: ${result.errors.map((e) => e.text).join("; ")}`);
  }
  const entries: Record<string, Uint8Array> = {};
  let sourceMap: Bundle["sourceMap"];
  const workerSourceMaps: Array<{ name: string; bytes: Uint8Array }> = [];
  for (const file of result.outputFiles) {
    const name = path.basename(file.path);
    if (name.startsWith(`${HANDLER.file}.`) && name.endsWith(".map")) sourceMap = { name, bytes: file.contents };
    else if (name.endsWith(".map")) workerSourceMaps.push({ name, bytes: file.contents });
    else entries[name] = file.contents;
  }
  const zip = deterministicZip(entries);
  const digest = createHash("sha256").update(zip).digest();
  return {
    zip,
    sha256Hex: digest.toString("hex"),
    sha256Base64: digest.toString("base64"),
    sourceMap,
    workerSourceMaps: workerSourceMaps.sort((a, b) => a.name.localeCompare(b.name)),
    files: Object.keys(entries)
      .sort()
      .map((name) => ({ name, size: entries[name].length })),
  };
}

/**
 * Writes the zip to a content-addressed file outside the project, from which cdktf copies it into the
 * synthesized stack, and its source map beside it. The name depends only on the content, so the asset
 * path in `cdk.tf.json` is stable.
 */
export function writeBundle(bundle: Bundle, fileName = "function.zip"): string {
  const dir = path.join(tmpdir(), "s3-checksum-index-bundles", bundle.sha256Hex);
  const file = path.join(dir, fileName);
  if (existsSync(file) && createHash("sha256").update(readFileSync(file)).digest("hex") === bundle.sha256Hex) {
    return file;
  }
  mkdirSync(dir, { recursive: true });
  // Write then rename, so that a synth running at the same time never copies a half-written file.
  const write = (target: string, bytes: Uint8Array) => {
    const partial = `${target}.${process.pid}.partial`;
    writeFileSync(partial, bytes);
    renameSync(partial, target);
  };
  // The source map lives beside the zip, not in it (see BundleOptions.sourceMap).
  for (const map of [...(bundle.sourceMap ? [bundle.sourceMap] : []), ...bundle.workerSourceMaps]) write(path.join(dir, map.name), map.bytes);
  write(file, bundle.zip);
  return file;
}
