/**
 * `npm run test:node22`: the function's tests (test/lambda, the built zip's included) on Node.js 22, the
 * runtime Lambda runs the function on (`nodejs22.x`), while the project's tools run on the machine's Node.
 *
 * Node 22 comes from the npm registry, the one network this project may use: the `node-linux-<arch>`
 * package holds the official binary. The version is pinned (NODE_22) and the package is unpacked once into
 * node_modules/.cache; `npm pack` checks it against the registry's integrity hash. Arguments after `--` go
 * to vitest (e.g. a test file).
 *
 * `npm run bench:node22` (`tsx tools/node22.ts bench -- <flags>`) runs `npm run bench` on the same Node 22,
 * so that the cold-load figures are measured on the runtime's version.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import * as path from "node:path";

/** The Node.js 22 release the tests run on. */
export const NODE_22 = "22.23.3";

const ROOT = path.resolve(__dirname, "..");

/** The Node 22 binary, unpacked from the npm registry's package on first use. */
export function node22(): string {
  if (process.platform !== "linux" || !["x64", "arm64"].includes(process.arch)) {
    throw new Error(`test:node22 runs on Linux x64 or arm64 (the npm package node-linux-<arch>), not ${process.platform}-${process.arch}`);
  }
  const dir = path.join(ROOT, "node_modules", ".cache", `node-${NODE_22}-linux-${process.arch}`);
  const bin = path.join(dir, "package", "bin", "node");
  if (!existsSync(bin)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const spec = `node-linux-${process.arch}@${NODE_22}`;
    console.log(`test:node22: fetching ${spec} from the npm registry`);
    execFileSync("npm", ["pack", spec, "--silent", "--pack-destination", dir], { stdio: ["ignore", "ignore", "inherit"] });
    const tarball = readdirSync(dir).find((name) => name.endsWith(".tgz"));
    if (!tarball) throw new Error(`npm pack ${spec} wrote no tarball into ${dir}`);
    execFileSync("tar", ["xzf", tarball, "package/bin/node"], { cwd: dir });
    rmSync(path.join(dir, tarball));
  }
  const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
  if (version !== `v${NODE_22}`) throw new Error(`${bin} is ${version}, not v${NODE_22}: remove ${dir} and run again`);
  return bin;
}

if (require.main === module) {
  const node = node22();
  const [mode, ...rest] = process.argv.slice(2).filter((arg) => arg !== "--");
  const bench = mode === "bench";
  const args = bench
    ? ["--openssl-legacy-provider", "--expose-gc", "--import", "tsx", path.join(ROOT, "tools", "bench.ts"), ...rest]
    : [path.join(ROOT, "node_modules", "vitest", "vitest.mjs"), "run", "--config", "vitest.node22.config.mts", ...(mode === undefined ? [] : [mode]), ...rest];
  console.log(`${bench ? "bench" : "test"}:node22: ${execFileSync(node, ["--version"], { encoding: "utf8" }).trim()} (${path.relative(ROOT, node)})`);
  const run = spawnSync(node, args, { cwd: ROOT, stdio: "inherit", env: { ...process.env, NODE_OPTIONS: "" } });
  process.exit(run.status ?? 1);
}
