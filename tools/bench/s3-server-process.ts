/**
 * The bench's S3 server in a process of its own, so that the server's CPU and memory are not the reader's:
 * s3rver on a free loopback port, started by `startS3ServerProcess` and stopped with `close()`.
 *
 * Run as a script (`node --import tsx s3-server-process.ts <dir> <bucket>`), it serves and prints its port.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface S3ServerProcess {
  readonly endpoint: string;
  readonly pid: number;
  close(): Promise<void>;
}

export async function startS3ServerProcess(directory: string, bucket: string): Promise<S3ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", __filename, directory, bucket], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the S3 server process did not start in 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`the S3 server process exited with ${code}`)));
    lines.on("line", (line) => {
      try {
        const { port } = JSON.parse(line) as { port: number };
        clearTimeout(timer);
        resolve(port);
      } catch {
        // not the port line
      }
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

if (require.main === module) {
  const [directory, bucket] = process.argv.slice(2);
  // s3rver ships no types.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require("s3rver");
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  server.run().then(({ port }: { port: number }) => process.stdout.write(`${JSON.stringify({ port })}\n`));
  process.on("SIGTERM", () => void server.close().finally(() => process.exit(0)));
}
