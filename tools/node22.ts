/**
 * `npm run test:node22`: the function's tests (test/lambda, the built zip's included) on Node.js 22, the
 * runtime Lambda runs the function on (`nodejs22.x`), while the project's tools run on the machine's Node.
 *
 * Node 22 comes from the npm registry, the one network this project may use: the `node-linux-<arch>`
 * package holds the official binary. The version is pinned (NODE_22) and the package is unpacked into
 * node_modules/.cache (`npm ci` empties it; npm's own cache keeps the download); `npm pack` checks it
 * against the registry's integrity hash. Arguments after `--` go
 * to vitest (e.g. a test file).
 *
 * `npm run bench:node22` (`tsx tools/node22.ts bench -- <flags>`) runs `npm run bench` on the same Node 22,
 * so that the cold-load figures are measured on the runtime's version.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import * as path from "node:path";

/** The Node.js 22 release the tests run on. */
export const NODE_22 = "22.23.3";

const ROOT = path.resolve(__dirname, "..");

/**
 * The Node 22 binary, unpacked from the npm registry's package on first use. It is fetched and checked in
 * a folder of its own and then renamed into place, so that an interrupted run leaves nothing half-written
 * and two first runs at once both end with the same binary.
 */
export function node22(): string {
  if (process.platform !== "linux" || !["x64", "arm64"].includes(process.arch)) {
    throw new Error(`test:node22 runs on Linux x64 or arm64 (the npm package node-linux-<arch>), not ${process.platform}-${process.arch}`);
  }
  const cache = path.join(ROOT, "node_modules", ".cache");
  const dir = path.join(cache, `node-${NODE_22}-linux-${process.arch}`);
  const binary = (folder: string) => path.join(folder, "package", "bin", "node");
  if (!existsSync(binary(dir))) {
    mkdirSync(cache, { recursive: true });
    const partial = mkdtempSync(`${dir}.partial-`);
    try {
      const spec = `node-linux-${process.arch}@${NODE_22}`;
      console.log(`test:node22: fetching ${spec} from the npm registry`);
      execFileSync("npm", ["pack", spec, "--silent", "--pack-destination", partial], { stdio: ["ignore", "ignore", "inherit"] });
      const tarball = readdirSync(partial).find((name) => name.endsWith(".tgz"));
      if (!tarball) throw new Error(`npm pack ${spec} wrote no tarball into ${partial}`);
      execFileSync("tar", ["xzf", tarball, "package/bin/node"], { cwd: partial });
      rmSync(path.join(partial, tarball));
      checkVersion(binary(partial));
      try {
        renameSync(partial, dir);
      } catch (error) {
        // Another run put its copy in place first: use that one.
        if (!existsSync(binary(dir))) throw error;
      }
    } finally {
      rmSync(partial, { recursive: true, force: true });
    }
  }
  checkVersion(binary(dir));
  return binary(dir);
}

/** Throws, naming the folder to remove, unless `bin` (`<folder>/package/bin/node`) runs and is NODE_22. */
function checkVersion(bin: string): void {
  const remedy = `remove ${path.resolve(bin, "..", "..", "..")} and run again`;
  let version: string;
  try {
    version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
  } catch (error) {
    throw new Error(`${bin} does not run (${(error as Error).message.split("\n")[0]}): ${remedy}`);
  }
  if (version !== `v${NODE_22}`) throw new Error(`${bin} is ${version}, not v${NODE_22}: ${remedy}`);
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
