/**
 * moto's S3 (`moto_server`) on a free loopback port, for behaviour s3rver lacks: versioning, conditional
 * writes (If-Match / If-None-Match), stored checksums. Started and stopped by the test that needs it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { S3Client } from "@aws-sdk/client-s3";

export interface MotoServer {
  readonly endpoint: string;
  readonly client: S3Client;
  close(): Promise<void>;
}

export const MOTO_CREDENTIALS = { accessKeyId: "testing", secretAccessKey: "testing" };

async function freePort(): Promise<number> {
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
    throw new Error("moto_server is not on the PATH: install it with  pip install 'moto[server]'");
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    const endpoint = `http://127.0.0.1:${port}`;
    const up = await waitUntilUp(endpoint, child);
    if (!up) {
      child.kill();
      if (attempt >= 3) throw new Error(`moto_server did not start on ${endpoint} (install it with  pip install 'moto[server]')`);
      continue;
    }
    const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: MOTO_CREDENTIALS });
    return {
      endpoint,
      client,
      async close() {
        client.destroy();
        await new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill();
        });
      },
    };
  }
}

async function waitUntilUp(endpoint: string, child: ChildProcess): Promise<boolean> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) return false;
    try {
      const response = await fetch(`${endpoint}/`);
      if (response.status < 500) return true;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
