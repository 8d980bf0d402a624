/**
 * The committed WebAssembly (lambda/crc64nvme-wasm.ts) is what lambda/crc64nvme.c compiles to, so that
 * the module reviewed as C is the module deployed. Needs Debian's clang and lld, which .ci/run installs.
 * Another clang version emits other bytes for the same source, so the bytes are compared only with the
 * compiler the module records; on a machine without it the comparison is skipped, except in CI, where it
 * fails.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { checkWasm, clangVersion, compileWasm, recordedCompiler, WASM_MODULE, wasmModuleText } from "../../tools/build-wasm";

const here = clangVersion();
const recorded = recordedCompiler(readFileSync(WASM_MODULE, "utf8"));

describe("the committed WebAssembly", () => {
  it("records the compiler that made it, and CI has that compiler", () => {
    expect(recorded).toMatch(/clang version \d+\.\d+\.\d+/);
    if (process.env.CI) expect(here, "clang and wasm-ld of the recorded version (apt-get install -y clang lld)").toBe(recorded);
  });

  it.runIf(here !== undefined && here === recorded)("is what crc64nvme.c compiles to (npm run build:wasm)", () => {
    expect(checkWasm().verdict).toBe("same");
  });

  it.runIf(here !== undefined)("names the compiler's complaint when the source does not compile", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cix-wasm-test-"));
    try {
      const source = path.join(dir, "broken.c");
      writeFileSync(source, "int f( {\n");
      expect(() => compileWasm(source)).toThrow(/compiling .*broken\.c failed: .*error/s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("carries the module and its compiler in the generated text", () => {
    const text = wasmModuleText(Buffer.from([0, 97, 115, 109]), "Some clang version 99.1.2");
    expect(recordedCompiler(text)).toBe("Some clang version 99.1.2");
    expect(text).toContain('export const CRC64NVME_WASM = "AGFzbQ==";');
  });
});
