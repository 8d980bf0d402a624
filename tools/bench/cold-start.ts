/**
 * Cold load of the bundled handler, measured as Lambda pays it: a new Node process imports the bundle (the
 * handler builds its S3 client at load, as in Lambda). Each variant is loaded `rounds` times, interleaved
 * with the others so that a busy machine slows them all alike; the medians are compared as ratios.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { unzipSync } from "fflate";
import { HANDLER } from "../../lambda/contract";
import { bundleFunction, type BundleOptions } from "../../stacks/bundle";

export interface LoadVariant {
  readonly name: string;
  readonly entry: string;
  readonly format: "cjs" | "esm";
  /** Run with NODE_OPTIONS=--enable-source-maps (as the function is deployed today). */
  readonly sourceMaps: boolean;
}

export interface LoadResult {
  readonly variant: LoadVariant;
  readonly medianMs: number;
  readonly zipBytes: number;
  readonly codeBytes: number;
  readonly files: ReadonlyArray<{ name: string; size: number }>;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Bundles a variant and unzips it into a folder of its own; returns the file to import. */
function unpack(variant: LoadVariant, projectRoot: string, options: Partial<BundleOptions>) {
  const bundle = bundleFunction({ entry: variant.entry, projectRoot, format: variant.format, ...options });
  const dir = path.join(tmpdir(), "cix-bench-load", `${bundle.sha256Hex}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(unzipSync(bundle.zip))) writeFileSync(path.join(dir, name), bytes);
  const file = path.join(dir, `${HANDLER.file}.${variant.format === "esm" ? "mjs" : "js"}`);
  const code = bundle.files.find((f) => f.name === path.basename(file))!;
  return { file, zipBytes: bundle.zip.length, codeBytes: code.size, files: bundle.files };
}

/** Milliseconds a new Node process spends importing `file` (the process's own start is not counted). */
function loadOnce(file: string, sourceMaps: boolean): number {
  const script = `const t=process.hrtime.bigint();import(${JSON.stringify(pathToFileURL(file).href)}).then(()=>process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6)))`;
  const result = spawnSync(process.execPath, ["-e", script], {
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      // What Lambda sets, so that the handler builds its runtime at load as it does there.
      AWS_LAMBDA_FUNCTION_NAME: "bench",
      AWS_REGION: "us-east-1",
      INDEX_BUCKET: "bench-index",
      ...(sourceMaps ? { NODE_OPTIONS: "--enable-source-maps" } : {}),
    },
  });
  if (result.status !== 0) throw new Error(`loading ${file} failed: ${result.stderr}`);
  return Number(result.stdout);
}

export function measureColdLoads(variants: readonly LoadVariant[], projectRoot: string, rounds = 15): LoadResult[] {
  const unpacked = variants.map((v) => unpack(v, projectRoot, {}));
  const samples = variants.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const k = (i + round) % variants.length;
      samples[k].push(loadOnce(unpacked[k].file, variants[k].sourceMaps));
    }
  }
  return variants.map((variant, i) => ({
    variant,
    medianMs: median(samples[i]),
    zipBytes: unpacked[i].zipBytes,
    codeBytes: unpacked[i].codeBytes,
    files: unpacked[i].files,
  }));
}

export const BASELINE_ENTRY = "tools/bench/s3-client-only.ts";

/** The cold-start table of `npm run bench`: the deployed bundle against the S3-client-only one, and the alternatives measured. */
export function coldStartReport(projectRoot: string, rounds = 15): string[] {
  const variants: LoadVariant[] = [
    { name: "the function as deployed (ESM)", entry: HANDLER.source, format: "esm", sourceMaps: false },
    { name: "S3 client only (ESM): the baseline", entry: BASELINE_ENTRY, format: "esm", sourceMaps: false },
    { name: "the function as CommonJS", entry: HANDLER.source, format: "cjs", sourceMaps: false },
    { name: "S3 client only (CommonJS)", entry: BASELINE_ENTRY, format: "cjs", sourceMaps: false },
    { name: "the function (ESM) with --enable-source-maps", entry: HANDLER.source, format: "esm", sourceMaps: true },
  ];
  const results = measureColdLoads(variants, projectRoot, rounds);
  const baseline = results[1].medianMs;
  const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  return [
    `Cold load in a new Node process (median of ${rounds}, interleaved), as a ratio to the S3-client-only ESM bundle.`,
    "",
    "| bundle | code | zip | load | ratio |",
    "| --- | --- | --- | --- | --- |",
    ...results.map((r) => `| ${r.variant.name} | ${kib(r.codeBytes)} | ${kib(r.zipBytes)} | ${r.medianMs.toFixed(0)} ms | ${(r.medianMs / baseline).toFixed(2)} |`),
  ];
}
