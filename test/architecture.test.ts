/** The directions of dependence of ARCHITECTURE.md, checked on every import. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    return statSync(path.join(ROOT, rel)).isDirectory() ? sources(rel) : rel.endsWith(".ts") ? [rel] : [];
  });
}

/** Every module a file imports, resolved to a project path for relative imports. */
function imports(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const pattern = /^(?:import|export)\s[^;]*?from\s+"([^"]+)"|^import\s+"([^"]+)"|\brequire\("([^"]+)"\)/gm;
  return [...text.matchAll(pattern)].map((m) => m[1] ?? m[2] ?? m[3]).map((spec) =>
    spec.startsWith(".") ? path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec)) : spec,
  );
}

/**
 * Packages lambda/ may import besides Node and the AWS SDK, each for a reason:
 * - hash-wasm: CRC32C and CRC64NVME (the checksums S3 stores) at the speed of SHA-256, several times faster
 *   than the AWS SDK's JavaScript implementations; its WebAssembly is inlined (base64) so esbuild bundles
 *   it like any module, and its hashers can save and restore their state.
 * The AWS SDK is @aws-sdk/ and @smithy/, the layer its clients are built on (lean-http.ts sends requests the
 * way the SDK's own handler does, with its query-string encoding, and hands it what it does not send).
 */
const LAMBDA_PACKAGES = ["hash-wasm"];

describe("lambda/ is bundled alone", () => {
  it.each(sources("lambda"))("%s imports only lambda/, Node, the AWS SDK and the allowed packages", (file) => {
    for (const spec of imports(file)) {
      const allowed = spec.startsWith("lambda/") || spec.startsWith("node:") || spec.startsWith("@aws-sdk/") || spec.startsWith("@smithy/") || spec === "aws-lambda" || LAMBDA_PACKAGES.includes(spec);
      expect(allowed, `${file} imports ${spec}`).toBe(true);
    }
  });
});

describe("stacks/ reaches the function only through its contract and the bundler", () => {
  it.each(sources("stacks"))("%s", (file) => {
    for (const spec of imports(file).filter((s) => s.startsWith("lambda/") || s.startsWith("tools/") || s.startsWith("test/"))) {
      expect(spec, `${file} imports ${spec}`).toBe("lambda/contract");
    }
  });
});

describe("nothing but tests imports test/", () => {
  it.each([...sources("lambda"), ...sources("stacks"), ...sources("tools"), "main.ts"])("%s", (file) => {
    expect(imports(file).filter((s) => s.startsWith("test/"))).toEqual([]);
  });
});

/** What tools/ may take from stacks/: the app's definitions, the resolved pipeline and the bundler, never constructs. */
const TOOLS_MAY_IMPORT_FROM_STACKS = ["stacks/app", "stacks/pipeline", "stacks/bundle"];

describe("tools/ read the pipeline, not the constructs", () => {
  it.each(sources("tools"))("%s imports only tools/, lambda/, stacks/{app,pipeline,bundle}, Node and packages", (file) => {
    for (const spec of imports(file)) {
      if (spec.startsWith("node:") || !spec.includes("/") || spec.startsWith("@")) continue;
      const allowed = spec.startsWith("tools/") || spec.startsWith("lambda/") || TOOLS_MAY_IMPORT_FROM_STACKS.includes(spec);
      expect(allowed, `${file} imports ${spec}`).toBe(true);
    }
  });

  it.each(sources("tools").filter((f) => f !== "tools/plan.ts"))("%s never synthesizes the app (only npm run plan does)", (file) => {
    expect(readFileSync(path.join(ROOT, file), "utf8")).not.toMatch(/\bsynthesizeApp\b|\.synth\(\)/);
  });
});

describe("no import cycles in lambda/", () => {
  it("the imports between lambda/ modules form no cycle", () => {
    const graph = new Map(sources("lambda").map((f) => [f.replace(/\.ts$/, ""), imports(f).filter((s) => s.startsWith("lambda/"))]));
    const visiting = new Set<string>();
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (node: string, trail: string[]) => {
      if (done.has(node)) return;
      if (visiting.has(node)) {
        cycles.push([...trail.slice(trail.indexOf(node)), node].join(" → "));
        return;
      }
      visiting.add(node);
      for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
      visiting.delete(node);
      done.add(node);
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });
});
