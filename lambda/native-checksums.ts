/**
 * CRC32C and CRC64NVME from the AWS Common Runtime's native binary (the `aws-crt` package, the one the
 * AWS SDK's own `@aws-sdk/crc64-nvme-crt` uses). Measured here (256 MiB in 64 KiB–1 MiB chunks):
 * CRC32C 5,500–6,500 MiB/s against hash-wasm's 1,750–1,900 (about 3×), CRC64NVME 1,550–1,850 against
 * 1,270–1,480 (about 1.2×); SHA-256 runs at about 1,600. The values are the same
 * (test/lambda/native-checksums.test.ts).
 *
 * - **Only the binary.** The zip holds `aws-crt-nodejs.node` for the function's architecture beside the
 *   handler (stacks/bundle.ts), and this module opens it with `process.dlopen`, calling the two functions
 *   aws-crt's own `checksums` module calls. None of aws-crt's JavaScript (MQTT, HTTP) is bundled.
 * - **Loaded when it pays.** Opening the binary costs about 40 ms here, once per thread. A read opens it
 *   only when its object is at least NATIVE_CHECKSUMS_MIN_BYTES, or it is already open (`wantsNative`),
 *   so small objects never pay for it.
 * - **Never required.** Without the binary (a zip built with `nativeChecksums: false`, or a platform the
 *   package has none for), or if it fails to open, the same CRCs come from hash-wasm, and `problem()` says
 *   why once. A CRC's state is its value, so a read saved by one implementation continues in the other.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { DigestAlgorithm } from "./checksums";
import { NATIVE_CHECKSUMS } from "./contract";

/** The two functions used from the binary, as aws-crt's `checksums` module calls them (two arguments each). */
export interface NativeChecksums {
  /** The CRC32C of `data` continuing from `previous` (0 to start). */
  crc32c(data: Uint8Array, previous: number): number;
  /** The CRC64NVME of `data` continuing from `previous` (undefined to start): 8 bytes, big-endian. */
  crc64nvme(data: Uint8Array, previous: DataView | undefined): DataView;
}

const MiB = 1024 * 1024;

/**
 * Objects from this size open the binary. At 128 MiB the native CRC32C saves about 45 ms over hash-wasm's
 * here and CRC64NVME about 15–25 ms, against about 40 ms to open the binary once: the first such read in a
 * container breaks even or loses a few tens of ms, and every later read (all larger ones) gains.
 */
export const NATIVE_CHECKSUMS_MIN_BYTES = 128 * MiB;

/** Algorithms the binary computes for the function; the others come from node:crypto and node:zlib. */
export const NATIVE_ALGORITHMS: ReadonlySet<DigestAlgorithm> = new Set(["CRC32C", "CRC64NVME"]);

/** `linux-x64-glibc`, `linux-arm64-glibc`, `darwin-arm64-cruntime`: the package's folder for this platform. */
function platformFolder(): string {
  if (process.platform === "linux") {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    return `linux-${process.arch}-${report?.header?.glibcVersionRuntime ? "glibc" : "musl"}`;
  }
  return `${process.platform}-${process.arch}-cruntime`;
}

/**
 * Where the binary is looked for, in order: beside this code (the bundled function: the zip's root), then
 * the package in the project's node_modules (code run from source: tests, local mode, the bench).
 */
export function nativeChecksumsCandidates(directory: string = __dirname): string[] {
  return [
    path.join(directory, NATIVE_CHECKSUMS.file),
    path.join(directory, "..", "node_modules", NATIVE_CHECKSUMS.package, NATIVE_CHECKSUMS.binDir, platformFolder(), NATIVE_CHECKSUMS.file),
  ];
}

/** Why the binary is not used: `missing` (no binary, as built with nativeChecksums: false) or `failed` to open. */
export interface NativeChecksumsProblem {
  readonly kind: "missing" | "failed";
  readonly message: string;
}

interface Loaded {
  readonly checksums?: NativeChecksums;
  readonly file?: string;
  /** How long opening the binary took, ms. */
  readonly openMs?: number;
  readonly problem?: NativeChecksumsProblem;
}

let loaded: Loaded | undefined;
let present: string | null | undefined;
let noted: NativeChecksumsNews | undefined;
let reported = false;

/** The binary's path, if there is one (looked up once). */
export function nativeChecksumsFile(): string | undefined {
  if (present === undefined) present = nativeChecksumsCandidates().find((file) => existsSync(file)) ?? null;
  return present ?? undefined;
}

/** Opens a binary and checks that it has the two functions; throws what went wrong. */
export function openNativeChecksums(file: string): NativeChecksums {
  const module = { exports: {} as Record<string, unknown> };
  process.dlopen(module, file);
  const { checksums_crc32c: crc32c, checksums_crc64nvme: crc64nvme } = module.exports;
  if (typeof crc32c !== "function" || typeof crc64nvme !== "function") throw new Error(`${file} has no checksums_crc32c/checksums_crc64nvme`);
  return {
    crc32c: (data, previous) => (crc32c as (d: Uint8Array, p: number) => number)(data, previous) >>> 0,
    crc64nvme: (data, previous) => (crc64nvme as (d: Uint8Array, p: DataView | undefined) => DataView)(data, previous),
  };
}

/** The binary's CRCs, opened on first call (once per thread); undefined without a binary that opens. */
export function nativeChecksums(): NativeChecksums | undefined {
  if (!loaded) {
    const file = nativeChecksumsFile();
    if (!file) loaded = { problem: { kind: "missing", message: `no ${NATIVE_CHECKSUMS.file} beside the code: CRC32C and CRC64NVME come from hash-wasm` } };
    else {
      try {
        const started = performance.now();
        const checksums = openNativeChecksums(file);
        loaded = { checksums, file, openMs: Math.round(performance.now() - started) };
      } catch (error) {
        loaded = { file, problem: { kind: "failed", message: `${file} did not open (${(error as Error).message}): CRC32C and CRC64NVME come from hash-wasm` } };
      }
    }
  }
  return loaded.checksums;
}

/** Whether this thread has opened the binary. */
export function nativeChecksumsOpen(): boolean {
  return loaded?.checksums !== undefined;
}

/** Why the binary is not used, once this thread looked for it; undefined while unopened or in use. */
export function nativeChecksumsProblem(): NativeChecksumsProblem | undefined {
  return loaded?.problem;
}

/** Records what became of the binary in another thread (the digest worker), to be reported here. */
export function noteNativeChecksums(news: NativeChecksumsNews): void {
  noted ??= news;
}

/** What became of the binary in this process: opened (where, in how long), or a problem. */
export type NativeChecksumsNews = { readonly kind: "opened"; readonly file: string; readonly openMs: number } | NativeChecksumsProblem;

/**
 * What became of the binary, the first time it is asked for after the binary was opened or a problem
 * arose (here or in the digest worker), so that it is logged once per process.
 */
export function unreportedNativeChecksums(): NativeChecksumsNews | undefined {
  const news: NativeChecksumsNews | undefined = loaded?.checksums ? { kind: "opened", file: loaded.file!, openMs: loaded.openMs ?? 0 } : (loaded?.problem ?? noted);
  if (reported || !news) return undefined;
  reported = true;
  return news;
}

/**
 * Whether a read's verifying algorithm should come from the binary. Pure: only CRC32C and CRC64NVME; then
 * always once it is open; otherwise for objects of NATIVE_CHECKSUMS_MIN_BYTES and more, and for reads that
 * may continue in another invocation (resumable), which are larger still. Unknown sizes do not open it.
 */
export function wantsNative(read: { readonly algorithm?: DigestAlgorithm; readonly bytes?: number; readonly resumable: boolean; readonly open: boolean }): boolean {
  if (!read.algorithm || !NATIVE_ALGORITHMS.has(read.algorithm)) return false;
  if (read.open || read.resumable) return true;
  return read.bytes !== undefined && read.bytes >= NATIVE_CHECKSUMS_MIN_BYTES;
}

/** The binary's CRCs for a read, when `wantsNative` says so and it opens. */
export function nativeChecksumsFor(read: { readonly algorithm?: DigestAlgorithm; readonly bytes?: number; readonly resumable: boolean }): NativeChecksums | undefined {
  return wantsNative({ ...read, open: nativeChecksumsOpen() }) ? nativeChecksums() : undefined;
}
