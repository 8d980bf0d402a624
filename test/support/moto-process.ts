/**
 * moto's S3 (`moto_server`) in its own process on a free loopback port, for behaviour s3rver lacks (stored
 * checksums sent by the SDK). Missing moto fails with the command that installs it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { ListBucketsCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";

export interface MotoServer {
  readonly endpoint: string;
  /** A client of this server; `overrides` are merged into its configuration. */
  client(overrides?: S3ClientConfig): S3Client;
  close(): Promise<void>;
}

/** A port nobody listens on right now (the OS's choice). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startMoto(): Promise<MotoServer> {
  if (spawnSync("moto_server", ["--help"], { stdio: "ignore" }).error) {
    throw new Error("moto_server is not installed: pip install 'moto[server]'");
  }
  // Another process may take the port between the check and moto's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const endpoint = `http://127.0.0.1:${port}`;
    const client = (overrides: S3ClientConfig = {}) =>
      new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "moto", secretAccessKey: "moto" }, maxAttempts: 1, ...overrides });
    if (await ready(child, client())) {
      return {
        endpoint,
        client,
        close: () => stop(child),
      };
    }
    await stop(child);
    if (attempt === 3) throw new Error(`moto_server did not start on 127.0.0.1:${port}: ${stderr.slice(-500)}`);
  }
}

async function ready(child: ChildProcess, probe: S3Client): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  try {
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        await probe.send(new ListBucketsCommand({}));
        return true;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return false;
  } finally {
    probe.destroy();
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
