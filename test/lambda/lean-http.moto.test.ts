/**
 * The function's S3 client (createS3Client: the lean handler for GETs and HEADs) against the SDK's own handler, on
 * moto (an independent S3): the same answers, bodies and errors for every kind of key, range and condition.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeanBody } from "../../lambda/lean-http";
import { createS3Client, S3ObjectReader } from "../../lambda/s3-store";
import { startMotoServer, type MotoServer } from "../support/moto-server";

const BUCKET = "cix-lean-http";
let moto: MotoServer;
let lean: S3Client;
let node: S3Client;
const KEYS = ["plain", "a b+c", "é/ü/日本", "weird !'()*~;=@$,&[]", "dir//double", "q?x#y%25", "empty"];
const bodies = new Map<string, Buffer>();

beforeAll(async () => {
  moto = await startMotoServer();
  node = new S3Client({ ...moto.clientConfig });
  lean = createS3Client({ ...moto.clientConfig });
  await node.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await node.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: "Enabled" } }));
  for (const key of KEYS) {
    const body = key === "empty" ? Buffer.alloc(0) : randomBytes(100_000 + key.length);
    bodies.set(key, body);
    // Through the lean client: PutObject goes to the fallback.
    await lean.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, Metadata: { m: "v" } }));
  }
}, 120_000);
afterAll(async () => {
  lean?.destroy();
  node?.destroy();
  await moto?.stop();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}
async function outcome<T>(p: Promise<T>): Promise<unknown> {
  try {
    const r = (await p) as Record<string, unknown>;
    const { $metadata, Body, ...rest } = r;
    return { ok: true, status: ($metadata as { httpStatusCode?: number }).httpStatusCode, rest, body: Body ? sha(await bytesOf(Body)) : undefined };
  } catch (e) {
    const err = e as { name: string; $metadata?: { httpStatusCode?: number }; Code?: string; code?: string; $retryable?: unknown; $fault?: string };
    return { ok: false, name: err.name, status: err.$metadata?.httpStatusCode, fault: err.$fault };
  }
}

describe("the function's client and the SDK's, on moto", () => {
  it("GetObject of every key (with and without Range) and HeadObject, same results", async () => {
    for (const key of KEYS) {
      for (const Range of [undefined, "bytes=0-9", "bytes=10-", "bytes=-5"]) {
        if (key === "empty" && Range) continue;
        const a = await outcome(lean.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range })));
        const b = await outcome(node.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range })));
        expect(a, `${key} ${Range}`).toEqual(b);
        expect((a as { ok: boolean }).ok, `${key} ${Range}`).toBe(true);
      }
      const h1 = await outcome(lean.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })));
      const h2 = await outcome(node.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })));
      expect(h1).toEqual(h2);
    }
  });

  it("errors: NoSuchKey, HEAD of a missing key, PreconditionFailed, NotModified, NoSuchBucket, bad version", async () => {
    const head = await node.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "plain" }));
    const cases = [
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: "missing" })),
      (c: S3Client) => c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "missing" })),
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain", IfMatch: '"nope"' })),
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain", IfMatch: head.ETag })),
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain", IfNoneMatch: head.ETag })),
      (c: S3Client) => c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "plain", IfNoneMatch: head.ETag })),
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: "no-such-bucket-x", Key: "k" })),
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain", VersionId: head.VersionId, Range: "bytes=5-20" })),
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain", VersionId: "nonexistentversion" })),
      (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain", Range: "bytes=999999999-" })),
    ];
    for (const [i, run] of cases.entries()) {
      const a = await outcome(run(lean));
      const b = await outcome(run(node));
      expect(a, `case ${i}`).toEqual(b);
    }
  });

  it("ListObjectsV2 with a prefix and pagination, and ListObjectVersions", async () => {
    const all = async (c: S3Client, Prefix?: string) => {
      const keys: string[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await c.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 2, ContinuationToken, Prefix }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        ContinuationToken = page.NextContinuationToken;
      } while (ContinuationToken);
      return keys;
    };
    for (const prefix of [undefined, "a b", "é/", "weird !'()*", "q?x#"]) {
      const a = await all(lean, prefix);
      expect(a, String(prefix)).toEqual(await all(node, prefix));
      if (prefix) expect(a.length, String(prefix)).toBeGreaterThan(0);
    }
    const v1 = await lean.send(new ListObjectVersionsCommand({ Bucket: BUCKET, MaxKeys: 3 }));
    const v2 = await node.send(new ListObjectVersionsCommand({ Bucket: BUCKET, MaxKeys: 3 }));
    expect(v1.Versions?.map((v) => v.VersionId)).toEqual(v2.Versions?.map((v) => v.VersionId));
  });

  it("the Body of a lean GetObject is a LeanBody, and into() works (and sdk stream helpers)", async () => {
    const r = await lean.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain" }));
    expect(r.Body).toBeInstanceOf(LeanBody);
    const t = new Uint8Array(r.ContentLength!);
    await bytesOf((r.Body as unknown as LeanBody).into(t));
    expect(sha(t)).toBe(sha(bodies.get("plain")!));
    const r2 = await lean.send(new GetObjectCommand({ Bucket: BUCKET, Key: "plain" }));
    expect(sha(await r2.Body!.transformToByteArray())).toBe(sha(bodies.get("plain")!));
  });

  it("the reader reads every key through the lean client (single GET and ranged parts)", async () => {
    for (const partSize of [undefined, 16 * 1024]) {
      const reader = new S3ObjectReader(lean, undefined, partSize ? { partSize, concurrency: 3 } : undefined);
      for (const key of KEYS) {
        const read = (await reader.read({ bucket: BUCKET, key } as never)) as { computed: { sha256Hex: string }; size: number };
        expect(read.computed.sha256Hex, `${key} ${partSize}`).toBe(sha(bodies.get(key)!));
      }
    }
  });
});
