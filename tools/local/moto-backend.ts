/**
 * moto_server as the storage server of local mode (`npm start -- --s3 moto`): versioning, stored checksums
 * and conditional writes behave as in S3. moto_server comes from Python (`pip install "moto[server]"`); it is
 * started on a free loopback port and stopped with local mode. It keeps everything in memory.
 */
import { CreateBucketCommand, HeadObjectCommand, PutBucketVersioningCommand, S3Client } from "@aws-sdk/client-s3";
import { StorageBackendError, type StorageBackend, type StoredObject } from "./backend";
import { MotoServerMissingError, startMotoServer, type MotoServer } from "./moto-server";

/** moto accepts any credentials; these are local mode's. */
const MOTO_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface MotoBackend extends StorageBackend {
  readonly kind: "moto";
  readonly client: S3Client;
}

export async function startMotoBackend(options: {
  buckets: readonly string[];
  versionedBuckets: readonly string[];
  region: string;
  onProblem: (message: string) => void;
}): Promise<MotoBackend> {
  let moto: MotoServer;
  try {
    moto = await startMotoServer({ onUnexpectedExit: options.onProblem });
  } catch (error) {
    if (error instanceof MotoServerMissingError) {
      throw new StorageBackendError('moto_server is not installed: pip install "moto[server]" (or set MOTO_SERVER to its path), or run without --s3 moto', { cause: error });
    }
    throw new StorageBackendError(`moto_server did not start: ${(error as Error).message}`, { cause: error });
  }
  const url = moto.endpoint;
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
    await moto.stop();
    throw new StorageBackendError(`could not create the buckets on moto_server at ${url}: ${(error as Error).message}`, { cause: error });
  }
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
      client.destroy();
      await moto.stop();
    },
  };
}
