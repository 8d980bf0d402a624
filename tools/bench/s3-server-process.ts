/**
 * The bench's S3 server in a process of its own, so that the server's CPU and memory are not the reader's:
 * s3rver on a free loopback port, started by `startS3ServerProcess` and stopped with `close()`.
 *
 * s3rver stores no checksums. S3 stores the one an upload sends (and CRC64NVME for every upload that sends
 * none), and the function verifies with it. So that the bench reads objects as the function reads them in
 * AWS, a small middleware keeps the `x-amz-checksum-<algorithm>` header a single-part PUT sends (it does not
 * check it: the bench sends the right value, and the reader's verdict is checked) and returns it, with
 * `x-amz-checksum-type: FULL_OBJECT`, on whole-object GETs and HEADs that ask with `x-amz-checksum-mode:
 * ENABLED`, as S3 does. Any other write to the object's bytes (a PutObject without one, a copy, a
 * multipart upload, a delete) forgets it; tagging and ACLs do not.
 *
 * Run as a script (`node --import tsx s3-server-process.ts <dir> <bucket>`), it serves and prints its port.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { createInterface } from "node:readline";

export interface S3ServerProcess {
  readonly endpoint: string;
  readonly pid: number;
  close(): Promise<void>;
}

/** tools/tls: the self-signed certificate of loopback servers (localhost, 127.0.0.1) and its key. */
export const LOOPBACK_TLS = { cert: path.join(__dirname, "../tls/localhost.crt"), key: path.join(__dirname, "../tls/localhost.key") };

/** s3rver in a process of its own; over TLS (`https://localhost:<port>`, LOOPBACK_TLS's certificate) when `tls`. */
export async function startS3ServerProcess(directory: string, bucket: string, tls = false): Promise<S3ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", __filename, directory, bucket, ...(tls ? ["tls"] : [])], { stdio: ["ignore", "pipe", "inherit"] });
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
    endpoint: tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`,
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
  const [directory, bucket, tls] = process.argv.slice(2);
  // s3rver ships no types.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require("s3rver");
  const certificate = tls === "tls" ? { cert: readFileSync(LOOPBACK_TLS.cert), key: readFileSync(LOOPBACK_TLS.key) } : {};
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }], ...certificate });
  server.middleware.unshift(storedChecksums());
  server.run().then(({ port }: { port: number }) => process.stdout.write(`${JSON.stringify({ port })}\n`));
  process.on("SIGTERM", () => void server.close().finally(() => process.exit(0)));
}

interface KoaContext {
  readonly method: string;
  readonly path: string;
  readonly querystring: string;
  readonly headers: Record<string, string | string[] | undefined>;
  status: number;
  set(name: string, value: string): void;
}

/** The checksum a PUT sent, kept per object path and returned as S3 returns it (see the module's comment). */
function storedChecksums() {
  const stored = new Map<string, { header: string; value: string }>();
  return async (ctx: KoaContext, next: () => Promise<void>) => {
    // The path as sent is the key: the SDK encodes a key the same way in every request.
    const object = ctx.path;
    const sent = Object.keys(ctx.headers).find((name) => /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.test(name));
    await next();
    const ok = ctx.status >= 200 && ctx.status < 300;
    // Tagging, ACLs and the like change no byte of the object: S3 keeps its checksum.
    const subresource = /(^|&)(tagging|acl|retention|legal-hold|restore|attributes)(=|&|$)/.test(ctx.querystring);
    if (ok && ctx.method !== "GET" && ctx.method !== "HEAD" && !subresource) {
      // Any other write to the path (a copy, a completed multipart upload, a delete) forgets it; only a
      // PutObject (the SDK adds `x-id=PutObject`) that sent one stores it again.
      stored.delete(object);
      const putObject = ctx.method === "PUT" && (ctx.querystring === "" || ctx.querystring === "x-id=PutObject") && !ctx.headers["x-amz-copy-source"];
      if (putObject && sent) stored.set(object, { header: sent, value: String(ctx.headers[sent]) });
    }
    const checksum = stored.get(object);
    if ((ctx.method === "GET" || ctx.method === "HEAD") && checksum && ctx.status === 200 && !ctx.headers.range && ctx.headers["x-amz-checksum-mode"] === "ENABLED") {
      ctx.set(checksum.header, checksum.value);
      ctx.set("x-amz-checksum-type", "FULL_OBJECT");
    }
  };
}
