/** Local mode run as a user runs it: `npm start`'s command, in its own process. */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { contractEnvironment } from "../../lambda/contract";
import { LOCAL_CREDENTIALS } from "../../tools/local/local-endpoint";

const PROJECT = path.resolve(__dirname, "..", "..");

export interface LocalModeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Waits until the output matches, or fails after `timeoutMs` with the output so far. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends Ctrl-C and resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

export async function startLocalModeProcess(dataDir: string, extraArgs: string[] = []): Promise<LocalModeProcess> {
  // The same command as `npm start` (package.json), without npm in between so that signals reach it.
  const child = spawn(
    process.execPath,
    [path.join(PROJECT, "node_modules", "tsx", "dist", "cli.mjs"), "tools/local-mode.ts", "--port", "0", "--data-dir", dataDir, ...extraArgs],
    {
      cwd: PROJECT,
      env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider", AWS_ENDPOINT_URL_S3: "", INDEX_BUCKET: "" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let text = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString("utf8");
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = text.match(pattern);
        if (match) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`local mode did not print ${pattern} within ${timeoutMs} ms; it printed:\n${text}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const banner = await waitFor(/Local S3 endpoint\s+(http:\/\/127\.0\.0\.1:\d+)/, 30_000);
  return {
    url: banner[1],
    child,
    output: () => text,
    waitFor,
    async interrupt() {
      child.kill("SIGINT");
      return exited;
    },
  };
}

/**
 * What the index CLI (and any SDK client) needs in process.env to use a running local mode and one of its
 * stack's indexes: the endpoint, path-style addressing, local mode's credentials and the contract's variables.
 */
export function localCliEnv(url: string, indexBucket: string, indexPrefix = "index/"): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: url,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: "us-east-1",
    ...contractEnvironment({ indexBucket, indexPrefix, forcePathStyle: true }),
  };
}
