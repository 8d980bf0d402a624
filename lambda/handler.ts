/**
 * Entry point of the indexer function. Foundation version: hashes each created object and writes its
 * index record; the full delivery semantics (ordering, duplicates, removals) build on this.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ENV } from "./contract";

interface S3EventRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer: string } };
}

const indexBucket = process.env[ENV.indexBucket];
if (!indexBucket) throw new Error(`${ENV.indexBucket} is not set: give the name of the index bucket.`);
const indexPrefix = process.env[ENV.indexPrefix] ?? "";
const s3 = new S3Client({ forcePathStyle: process.env[ENV.forcePathStyle] === "true" });

export async function handler(event: { Records?: S3EventRecord[] }): Promise<void> {
  for (const record of event.Records ?? []) {
    if (!record.eventName.startsWith("ObjectCreated:")) continue;
    const bucket = record.s3.bucket.name;
    const key = decodeURIComponent(record.s3.object.key.replace(/\+/g, " "));
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: record.s3.object.versionId }));
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of object.Body as Readable) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const sha256 = hash.digest("hex");
    await s3.send(
      new PutObjectCommand({
        Bucket: indexBucket,
        Key: `${indexPrefix}objects/${encodeURIComponent(bucket)}/${encodeURIComponent(key)}.json`,
        Body: JSON.stringify({ bucket, key, size, sha256 }),
        ContentType: "application/json",
      }),
    );
    console.log(JSON.stringify({ key, size, sha256, outcome: "indexed" }));
  }
}
