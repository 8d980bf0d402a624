/**
 * `npm start`: the whole pipeline on this machine, no AWS account needed.
 *
 * An S3-compatible endpoint on loopback holds the stack's source and index buckets; every object event
 * that the stack's notification would send (same events, prefix and suffix, from the resolved pipeline) is
 * shaped as S3 shapes it and handed to the bundled function, with the stack's retries. Failures are printed
 * and kept in a failure log, as the on-failure destination keeps them in AWS. The storage server is s3rver
 * in this process (default) or moto_server (`--s3 moto`: versioning, stored checksums, conditional writes).
 */
import { appendFileSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { contractEnvironment, ENV } from "../lambda/contract";
import { indexKeys } from "../lambda/index-keys";
import { parseIndexRecord } from "../lambda/index-record";
import { S3DocumentStore } from "../lambda/s3-store";
import { loadBundledHandler, type BundledHandler } from "./local/bundled-handler";
import { deliveredEvent, sequencerClock, type DeliveredEvent } from "./local/event-routing";
import { LOCAL_CREDENTIALS, startLocalEndpoint, type ServerObjectEvent } from "./local/local-endpoint";
import { startMotoBackend } from "./local/moto-backend";
import { formatBytes } from "./format";
import { appPipeline, type Pipeline } from "./stack-config";

export interface LocalModeOptions {
  /** Port on 127.0.0.1. @default 4569 (LOCAL_S3_PORT) */
  readonly port: number;
  /** Folder of the stored objects and the failure log. @default ".local-s3" (LOCAL_S3_DIR) */
  readonly dataDir: string;
  /** Stack of the app whose configuration is used. @default "dev" */
  readonly stack: string;
  /** A resolved pipeline to run instead of the app's stack (any stack's props, for tests). @default the app's `stack` */
  readonly pipeline?: Pipeline;
  /** The storage server: s3rver in this process, or moto_server (must be installed). @default "s3rver" */
  readonly s3?: LocalStorage;
  /** Pause before the n-th retry of a failed invocation, in ms. @default 1000 × n */
  readonly retryDelayMs?: (attempt: number) => number;
  readonly print?: (line: string) => void;
}


export const LOCAL_STORAGE = ["s3rver", "moto"] as const;
export type LocalStorage = (typeof LOCAL_STORAGE)[number];

export async function startLocalMode(options: LocalModeOptions) {
  const print = options.print ?? ((line: string) => console.log(line));
  const pipeline: Pipeline = options.pipeline ?? appPipeline(options.stack);
  const dataDir = path.resolve(options.dataDir);
  const failureLog = path.join(dataDir, "failed-events.jsonl");
  mkdirSync(path.join(dataDir, "s3"), { recursive: true });

  const nextSequencer = sequencerClock();
  const queue: Array<Promise<DeliveredEvent | undefined>> = [];
  let wake: (() => void) | undefined;
  let handler: BundledHandler | undefined;
  let client: S3Client | undefined;

  // Events are shaped as they arrive (the sequencer follows arrival order) and handled one at a time,
  // in that order.
  const onEvent = (event: ServerObjectEvent) => {
    for (const raw of event.Records) {
      const sequencer = nextSequencer();
      const needsETag = raw.eventName.startsWith("ObjectCreated:") && !raw.s3.object.eTag;
      queue.push(
        (async () => {
          let eTag: string | undefined;
          if (needsETag && client) {
            const head = await client.send(new HeadObjectCommand({ Bucket: raw.s3.bucket.name, Key: raw.s3.object.key })).catch(() => undefined);
            eTag = head?.ETag?.replace(/"/g, "");
          }
          return deliveredEvent(pipeline, raw, sequencer, eTag);
        })(),
      );
    }
    wake?.();
  };

  const onProblem = (message: string) => print(`! ${message}`);
  const backend =
    options.s3 === "moto"
      ? await startMotoBackend({
          buckets: pipeline.buckets,
          versionedBuckets: [pipeline.source, pipeline.index].filter((b) => b.versioned).map((b) => b.name),
          region: pipeline.region,
          onProblem,
        })
      : undefined;
  const endpoint = await startLocalEndpoint({
    directory: path.join(dataDir, "s3"),
    port: options.port,
    buckets: pipeline.buckets,
    backend,
    onEvent,
    onProblem,
  });
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint.url,
    AWS_REGION: pipeline.region,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    ...contractEnvironment({ indexBucket: pipeline.index.name, indexPrefix: pipeline.index.prefix, forcePathStyle: true }),
    // The handler's own lines for failures only; local mode prints each outcome itself.
    LOG_LEVEL: "warn",
  };
  handler = loadBundledHandler(env);
  client = new S3Client({ endpoint: endpoint.url, region: pipeline.region, forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
  const index = new S3DocumentStore(client, pipeline.index.name);
  const keys = indexKeys(pipeline.index.prefix);

  async function deliver(delivered: DeliveredEvent): Promise<void> {
    const { event, key, bucket, sequencer, eventName } = delivered;
    const where = `s3://${bucket}/${key}`;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt <= pipeline.function.maxRetryAttempts; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, (options.retryDelayMs ?? ((n) => 1000 * n))(attempt)));
      try {
        await handler!(event, { awsRequestId: `local-${sequencer}-${attempt}` });
        const stored = await index.get(keys.current(bucket, key), parseIndexRecord);
        const current = stored?.value;
        if (current && current.sequencer === sequencer) {
          print(
            current.state === "present"
              ? `indexed  ${where}  ${formatBytes(current.size)}  sha256 ${current.sha256}`
              : `removed  ${where}`,
          );
        } else {
          print(`skipped  ${where}  (${eventName}: ${current ? "the index holds a newer event" : "object gone or replaced"})`);
        }
        return;
      } catch (error) {
        lastError = error as Error;
        print(`! ${eventName} ${where} failed (attempt ${attempt + 1} of ${pipeline.function.maxRetryAttempts + 1}): ${lastError.message}`);
      }
    }
    appendFileSync(failureLog, JSON.stringify({ failedAt: new Date().toISOString(), error: lastError?.message, event }) + "\n");
    print(`! kept in ${path.relative(process.cwd(), failureLog)}: ${JSON.stringify(event)}`);
  }

  let stopping = false;
  let busy = false;
  const idleWaiters: Array<() => void> = [];
  const worker = (async () => {
    while (!stopping || queue.length > 0) {
      const next = queue.shift();
      if (!next) {
        for (const resolve of idleWaiters.splice(0)) resolve();
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      busy = true;
      const shaped = await next;
      if (shaped) await deliver(shaped);
      busy = false;
    }
    for (const resolve of idleWaiters.splice(0)) resolve();
  })();

  return {
    pipeline,
    endpoint,
    env,
    failureLog,
    /** Resolves once every event received so far has been delivered (or kept as failed). */
    async settled(): Promise<void> {
      // Calls still in progress may raise events: wait for them, then for the queue, until both are still.
      for (let round = 0; round < 1000; round++) {
        await endpoint.quiet();
        if (queue.length === 0 && !busy) return;
        await new Promise<void>((resolve) => idleWaiters.push(resolve));
      }
    },
    /** Finishes the events already received, then closes the endpoint. */
    async stop() {
      // The function still talks to the endpoint while it finishes: close the endpoint last.
      stopping = true;
      wake?.();
      await worker;
      client?.destroy();
      await endpoint.close();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: process.env.LOCAL_S3_PORT ?? "4569" },
      "data-dir": { type: "string", default: process.env.LOCAL_S3_DIR ?? ".local-s3" },
      stack: { type: "string", default: "dev" },
      s3: { type: "string", default: "s3rver" },
      "retry-delay": { type: "string", default: "1000" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log("npm start -- [--port 4569] [--data-dir .local-s3] [--stack dev] [--s3 s3rver|moto] [--retry-delay 1000]");
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port} is not a port number`);
  const retryDelay = Number(values["retry-delay"]);
  if (!Number.isInteger(retryDelay) || retryDelay < 0) throw new Error(`--retry-delay ${values["retry-delay"]} is not a number of milliseconds`);
  if (!(LOCAL_STORAGE as readonly string[]).includes(values.s3!)) throw new Error(`--s3 ${values.s3} is not one of ${LOCAL_STORAGE.join(", ")}`);
  const local = await startLocalMode({
    port,
    dataDir: values["data-dir"]!,
    stack: values.stack!,
    s3: values.s3 as LocalStorage,
    retryDelayMs: (attempt) => retryDelay * attempt,
  });
  const p = local.pipeline;
  const watched = p.rules.map((r) => `${r.prefix}*${r.suffix} (${r.events.join(", ")})`).join("; ");
  console.log(
    [
      local.endpoint.backend.kind === "moto"
        ? `Local S3 endpoint  ${local.endpoint.url}   moto_server at ${local.endpoint.backend.url} (in memory; versioned: ${[...local.endpoint.backend.versionedBuckets].join(", ") || "none"})`
        : `Local S3 endpoint  ${local.endpoint.url}   data in ${values["data-dir"]}/`,
      `Stack ${p.stack}: source s3://${p.source.name}/ watching ${watched}`,
      `           index  s3://${p.index.name}/${p.index.prefix}`,
      ``,
      `Point any S3 client at it (path-style addressing), for example:`,
      `  export AWS_ENDPOINT_URL_S3=${local.endpoint.url} AWS_ACCESS_KEY_ID=${LOCAL_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_CREDENTIALS.secretAccessKey} AWS_REGION=${p.region} ${ENV.forcePathStyle}=true`,
      `  aws s3 cp README.md s3://${p.source.name}/${p.rules[0].prefix}README.md --endpoint-url ${local.endpoint.url}`,
      `  npm run index -- get s3://${p.source.name}/${p.rules[0].prefix}README.md`,
      ``,
      `Ctrl-C stops.`,
    ].join("\n"),
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping: finishing the events already received…");
    await local.stop();
    console.log("Stopped.");
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // A local development server stays up: report what went wrong and carry on.
  process.on("uncaughtException", (error) => console.error(`! unexpected error, still running: ${error.stack ?? error}`));
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`npm start: ${(error as Error).message}`);
    process.exit(1);
  });
}
