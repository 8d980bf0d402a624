/**
 * The committed WebAssembly (lambda/crc64nvme-wasm.ts) is what lambda/crc64nvme.c compiles to, so that
 * the module reviewed as C is the module deployed. Needs Debian's clang and lld, which .ci/run installs; on
 * a machine without them the check is skipped, except in CI, where it fails.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileWasm, WASM_MODULE, wasmModuleText } from "../../tools/build-wasm";

function hasClang(): boolean {
  try {
    execFileSync("clang", ["--version"], { stdio: "ignore" });
    execFileSync("wasm-ld", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const clang = hasClang();

describe("the committed WebAssembly", () => {
  it("is available to check wherever CI runs", () => {
    if (process.env.CI) expect(clang, "clang and wasm-ld (apt-get install -y clang lld)").toBe(true);
  });

  it.runIf(clang)("is what crc64nvme.c compiles to (npm run build:wasm)", () => {
    expect(readFileSync(WASM_MODULE, "utf8")).toBe(wasmModuleText(compileWasm()));
  });

  it.runIf(clang)("names the compiler's complaint when the source does not compile", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cix-wasm-test-"));
    try {
      const source = path.join(dir, "broken.c");
      writeFileSync(source, "int f( {\n");
      expect(() => compileWasm(source)).toThrow(/compiling .*broken\.c failed: .*error/s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
