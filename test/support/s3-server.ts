/**
 * A real S3-compatible server on loopback (s3rver), in-process, with a client that talks to it.
 *
 * The test client sends checksums only when required: today's SDK otherwise streams bodies of unknown
 * length with aws-chunked framing, which s3rver stores as-is (a 1000-byte stream became 1043 bytes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { LOCAL_CREDENTIALS } from "../../tools/local/local-endpoint";
// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");


export interface S3TestServer {
  readonly endpoint: string;
  readonly client: S3Client;
  /** The environment a handler needs to talk to this server. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

export async function startS3Server(buckets: string[]): Promise<S3TestServer> {
  const directory = mkdtempSync(path.join(tmpdir(), "cix-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    endpoint,
    client,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      S3_FORCE_PATH_STYLE: "true",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    },
    async close() {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Which S3 API a suite that can run on either talks to: s3rver (in-process), or moto (its own process). */
export type S3Api = "s3rver" | "moto";

/**
 * The same as startS3Server, on moto: versioning, conditional writes (If-Match / If-None-Match, quoted
 * ETags) and stored checksums as S3 enforces them, which s3rver does not.
 */
export async function startMotoS3(buckets: string[]): Promise<S3TestServer> {
  const { startMotoServer } = await import("./moto-server");
  const moto = await startMotoServer();
  const client = new S3Client({ ...moto.clientConfig, requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
  const { CreateBucketCommand } = await import("@aws-sdk/client-s3");
  for (const name of buckets) await client.send(new CreateBucketCommand({ Bucket: name }));
  return {
    endpoint: moto.endpoint,
    client,
    env: {
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      S3_FORCE_PATH_STYLE: "true",
      AWS_REGION: moto.clientConfig.region,
      AWS_ACCESS_KEY_ID: moto.clientConfig.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.clientConfig.credentials.secretAccessKey,
    },
    async close() {
      client.destroy();
      await moto.stop();
    },
  };
}

/** The S3 API the current test file asked for (CIX_TEST_S3), s3rver by default. */
export function startTestS3(buckets: string[], api: S3Api = (process.env.CIX_TEST_S3 as S3Api | undefined) ?? "s3rver"): Promise<S3TestServer> {
  return api === "moto" ? startMotoS3(buckets) : startS3Server(buckets);
}
