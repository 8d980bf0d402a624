/**
 * The S3 clients Debian ships (awscli, rclone, s3cmd), run as a user runs them: in a shell, with a HOME of
 * their own. `.ci/run` installs them; a missing one fails with the command that installs it.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { tempDir } from "./temp";

/** Debian's AWS CLI (2.9): another `aws` (pip's) may come first on the PATH. */
const DEBIAN_AWS = "/usr/bin/aws";

export function missingClients(): string[] {
  const missing: string[] = [];
  if (!existsSync(DEBIAN_AWS)) missing.push("awscli");
  for (const [pkg, bin] of [["rclone", "/usr/bin/rclone"], ["s3cmd", "/usr/bin/s3cmd"]]) if (!existsSync(bin)) missing.push(pkg);
  return missing;
}

export interface ClientShell {
  readonly home: string;
  /** The working folder, with README.md and docs/ to upload. */
  readonly cwd: string;
  run(script: string, timeoutMs?: number): Promise<{ code: number | null; out: string }>;
}

export function clientShell(files: Record<string, string | Buffer> = {}): ClientShell {
  const missing = missingClients();
  if (missing.length > 0) throw new Error(`missing S3 clients: ${missing.join(", ")}; install them with: apt-get install -y ${missing.join(" ")} (.ci/run does)`);
  const home = tempDir("cix-client-home-");
  const cwd = tempDir("cix-client-cwd-");
  const bin = path.join(home, "bin");
  mkdirSync(bin);
  symlinkSync(DEBIAN_AWS, path.join(bin, "aws"));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(cwd, name)), { recursive: true });
    writeFileSync(path.join(cwd, name), content);
  }
  // A clean environment: no AWS_* of the machine (AWS_CA_BUNDLE makes rclone refuse to start with
  // LoadCustomCABundleError; everything here is plain HTTP on loopback).
  const env: NodeJS.ProcessEnv = { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, HOME: home, LANG: "C.UTF-8", AWS_PAGER: "" };
  return {
    home,
    cwd,
    run(script, timeoutMs = 240_000) {
      return new Promise((resolve) => {
        const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
        child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("close", (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
    },
  };
}
