/**
 * moto_server as the storage server of local mode (`npm start -- --s3 moto`): versioning, stored checksums
 * and conditional writes behave as in S3. moto_server comes from Python (`pip install "moto[server]"`); it is
 * started on a free loopback port and stopped with local mode. It keeps everything in memory.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { CreateBucketCommand, HeadObjectCommand, PutBucketVersioningCommand, S3Client } from "@aws-sdk/client-s3";
import { StorageBackendError, type StorageBackend, type StoredObject } from "./backend";

/** moto accepts any credentials; these are local mode's. */
const MOTO_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface MotoBackend extends StorageBackend {
  readonly kind: "moto";
  readonly client: S3Client;
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The moto_server command, or undefined when it is not installed. */
export function motoServerCommand(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const command = env.MOTO_SERVER ?? "moto_server";
  const probe = spawnSync(command, ["--help"], { encoding: "utf8", timeout: 30_000 });
  return probe.status === 0 ? command : undefined;
}

async function waitUntilServing(url: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new StorageBackendError(`moto_server exited with code ${child.exitCode}: ${output().trim().slice(-500)}`);
    try {
      const answer = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      if (answer.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StorageBackendError(`moto_server did not answer on ${url} within ${timeoutMs} ms: ${output().trim().slice(-500)}`);
}

export async function startMotoBackend(options: {
  buckets: readonly string[];
  versionedBuckets: readonly string[];
  region: string;
  onProblem: (message: string) => void;
}): Promise<MotoBackend> {
  const command = motoServerCommand();
  if (!command) {
    throw new StorageBackendError('moto_server is not installed: pip install "moto[server]" (or set MOTO_SERVER to its path), or run without --s3 moto');
  }
  let child: ChildProcess | undefined;
  let text = "";
  let url = "";
  // The free port can be taken between the probe and moto's bind: try a few.
  for (let attempt = 1; attempt <= 3 && !url; attempt++) {
    const port = await freePort();
    child = spawn(command, ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (c: Buffer) => (text += c.toString("utf8")));
    child.stderr!.on("data", (c: Buffer) => (text += c.toString("utf8")));
    try {
      await waitUntilServing(`http://127.0.0.1:${port}`, child, () => text, 30_000);
      url = `http://127.0.0.1:${port}`;
    } catch (error) {
      child.kill("SIGTERM");
      if (attempt === 3) throw error;
    }
  }
  const client = new S3Client({
    endpoint: url,
    region: options.region,
    forcePathStyle: true,
    credentials: MOTO_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  try {
    for (const bucket of options.buckets) {
      await client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          CreateBucketConfiguration: options.region === "us-east-1" ? undefined : { LocationConstraint: options.region as never },
        }),
      );
      if (options.versionedBuckets.includes(bucket)) {
        await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
      }
    }
  } catch (error) {
    child!.kill("SIGTERM");
    throw new StorageBackendError(`could not create the buckets on moto_server at ${url}: ${(error as Error).message}`, { cause: error });
  }
  const exited = new Promise<void>((resolve) => child!.once("exit", () => resolve()));
  child!.once("exit", (code, signal) => {
    if (!stopping) options.onProblem(`moto_server stopped (code ${code}, signal ${signal}): ${text.trim().slice(-300)}`);
  });
  let stopping = false;
  return {
    kind: "moto",
    url,
    client,
    versionedBuckets: new Set(options.versionedBuckets),
    async stat(bucket: string, key: string): Promise<StoredObject | undefined> {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        const versionId = head.VersionId && head.VersionId !== "null" ? head.VersionId : undefined;
        return { size: head.ContentLength ?? 0, eTag: (head.ETag ?? "").replace(/"/g, ""), versionId };
      } catch (error) {
        const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e.$metadata?.httpStatusCode === 404 || e.name === "NotFound" || e.name === "NoSuchKey") return undefined;
        throw error;
      }
    },
    async close() {
      stopping = true;
      client.destroy();
      if (child!.exitCode === null) {
        child!.kill("SIGTERM");
        const timer = setTimeout(() => child!.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
