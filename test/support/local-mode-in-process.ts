/** Local mode in this process (faster than a child process), with every line it prints kept. */
import { S3Client } from "@aws-sdk/client-s3";
import { startLocalMode, type LocalStorage } from "../../tools/local-mode";
import { LOCAL_CREDENTIALS } from "../../tools/local/local-endpoint";
import { tempDir } from "./temp";

export type InProcessLocalMode = Awaited<ReturnType<typeof startLocalMode>> & {
  readonly lines: string[];
  readonly client: S3Client;
  readonly dataDir: string;
  /** Lines that start with `prefix`, e.g. "removed  s3://…". */
  count(prefix: string): number;
  close(): Promise<void>;
};

export async function startInProcessLocalMode(options: { s3?: LocalStorage; maxAttempts?: number } = {}): Promise<InProcessLocalMode> {
  const dataDir = tempDir("cix-local-");
  const lines: string[] = [];
  const local = await startLocalMode({ port: 0, dataDir, stack: "dev", s3: options.s3, retryDelayMs: () => 20, print: (l) => lines.push(l) });
  const client = new S3Client({
    endpoint: local.endpoint.url,
    region: local.pipeline.region,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: options.maxAttempts,
  });
  let closed = false;
  return Object.assign(local, {
    lines,
    client,
    dataDir,
    count: (prefix: string) => lines.filter((l) => l.startsWith(prefix)).length,
    async close() {
      if (closed) return;
      closed = true;
      client.destroy();
      await local.stop();
    },
  });
}

/** Runs `fn` over `items`, `limit` at a time. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}
