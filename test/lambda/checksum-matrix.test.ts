/**
 * The checksum matrix: every checksum S3 stores × single-part / multipart × bytes read intact / corrupted,
 * through the function's S3 reader and the real SDK client, against S3's documented response shapes
 * (test/support/s3-stub-server.ts). S3's stored values come from the reference model of S3
 * (test/support/s3-checksums.ts), not from the code under test. Every intact read is "match", naming the
 * algorithm that verified it; every corrupted read is "mismatch" (never thrown by the SDK, never hidden).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareS3Checksum, type DigestAlgorithm } from "../../lambda/checksums";
import type { S3Client } from "@aws-sdk/client-s3";
import { DeadlineError, ObjectReplacedError } from "../../lambda/errors";
import { isSuspended } from "../../lambda/ports";
import { MAX_PART_HEADS, S3ObjectReader } from "../../lambda/s3-store";
import { compositeChecksum, flipped, fullObjectChecksum, partsOf, s3ETag } from "../support/s3-checksums";
import { startS3Stub, type S3Stub, type StubObject } from "../support/s3-stub-server";

const PART = 64 * 1024;
const body = Buffer.alloc(3 * PART - 1000); // three parts, the last one shorter
for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) & 0xff;
const parts = partsOf(body, PART);
/** Where the corrupted read flips a bit: in the second part. */
const FLIP_AT = PART + 123;

type Upload = "single-part" | "multipart FULL_OBJECT" | "multipart COMPOSITE" | "multipart, no checksum";

interface Row {
  readonly name: string;
  readonly algorithm: DigestAlgorithm;
  readonly upload: Upload;
}

const ROWS: Row[] = [
  ...(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const).map((algorithm) => ({ name: `${algorithm} single-part`, algorithm, upload: "single-part" as const })),
  // S3 stores full-object multipart checksums for the CRCs only, and CRC64NVME only as full-object.
  ...(["CRC32", "CRC32C", "CRC64NVME"] as const).map((algorithm) => ({ name: `${algorithm} multipart FULL_OBJECT`, algorithm, upload: "multipart FULL_OBJECT" as const })),
  ...(["CRC32", "CRC32C", "SHA1", "SHA256"] as const).map((algorithm) => ({ name: `${algorithm} multipart COMPOSITE`, algorithm, upload: "multipart COMPOSITE" as const })),
  // No checksum (s3cmd, rclone, old uploads): the ETag.
  { name: "MD5 ETag single-part", algorithm: "MD5", upload: "single-part" },
  { name: "MD5 ETag multipart", algorithm: "MD5", upload: "multipart, no checksum" },
];

/** What S3 stores for `row`, serving `served` bytes. */
async function stored(row: Row, served: Buffer): Promise<StubObject> {
  const { algorithm, upload } = row;
  const header = algorithm.toLowerCase();
  const member = `Checksum${algorithm}`;
  if (algorithm === "MD5") {
    // GetObjectAttributes lists no parts for an upload without checksums; HEAD ?partNumber=n tells their sizes.
    const eTag = await s3ETag(body, upload === "single-part" ? undefined : parts);
    return { body: served, eTag, ...(upload === "single-part" ? {} : { uploadParts: parts.map((p) => p.length) }) };
  }
  if (upload === "single-part") {
    return { body: served, eTag: await s3ETag(body), checksum: { [header]: await fullObjectChecksum(algorithm, body) }, checksumType: "FULL_OBJECT" };
  }
  const composite = await compositeChecksum(algorithm, parts);
  const partList = parts.map((p, i) => ({ size: p.length, checksum: { [member]: composite.parts[i] } }));
  if (upload === "multipart FULL_OBJECT") {
    return { body: served, eTag: await s3ETag(body, parts), checksum: { [header]: await fullObjectChecksum(algorithm, body) }, checksumType: "FULL_OBJECT", parts: partList };
  }
  // Two parts per GetObjectAttributes page, so that the reader must follow the pages.
  return { body: served, eTag: await s3ETag(body, parts), checksum: { [header]: composite.value }, checksumType: "COMPOSITE", parts: partList, maxParts: 2 };
}

let stub: S3Stub;
let reader: S3ObjectReader;
beforeAll(async () => {
  stub = await startS3Stub();
  reader = new S3ObjectReader(stub.client);
});
afterAll(() => stub?.close());

async function verify(key: string, object: StubObject) {
  stub.objects.set(`src/${key}`, object);
  const read = await reader.read({ bucket: "src", key, ifMatch: object.eTag, expectedSize: body.length });
  return compareS3Checksum(read.stored, read.computed);
}

describe("checksum matrix", () => {
  describe.each(ROWS)("$name", (row) => {
    it("verifies intact bytes and names the algorithm", async () => {
      const check = await verify(`intact/${row.name}`, await stored(row, body));
      expect(check).toMatchObject({ algorithm: row.algorithm, verification: "match", verifiedBy: row.algorithm });
      expect(check.type).toBe(row.upload === "single-part" || row.upload === "multipart FULL_OBJECT" ? "FULL_OBJECT" : "COMPOSITE");
    });

    it("reports one flipped bit as a mismatch", async () => {
      const check = await verify(`corrupted/${row.name}`, await stored(row, flipped(body, FLIP_AT)));
      expect(check).toMatchObject({ algorithm: row.algorithm, verification: "mismatch" });
      expect(check.computed).not.toBe(check.value);
      // Part checksums S3 lists locate the damage.
      if (row.upload === "multipart COMPOSITE") expect(check.mismatchedParts).toEqual([2]);
    });
  });
});

describe("how the reader learns what S3 stored", () => {
  it("asks the GET itself for the stored checksum, and needs no other request for a single-part object", async () => {
    stub.requests.length = 0;
    await verify("requests/single", await stored({ name: "", algorithm: "CRC64NVME", upload: "single-part" }, body));
    expect(stub.requests.map((r) => [r.method, r.query.has("attributes"), r.headers["x-amz-checksum-mode"]])).toEqual([["GET", false, "ENABLED"]]);
  });

  it("reads a composite object's parts from every GetObjectAttributes page before the body is hashed", async () => {
    stub.requests.length = 0;
    await verify("requests/composite", await stored({ name: "", algorithm: "SHA256", upload: "multipart COMPOSITE" }, body));
    const attributes = stub.requests.filter((r) => r.query.has("attributes"));
    expect(attributes.map((r) => r.headers["x-amz-part-number-marker"])).toEqual([undefined, "2"]);
    expect(attributes[0].headers["x-amz-object-attributes"]).toContain("ObjectParts");
  });

  it("does not check a multipart ETag whose part sizes S3 does not tell, and says why", async () => {
    const object = await stored({ name: "", algorithm: "MD5", upload: "multipart, no checksum" }, body);
    const check = await verify("unlisted-parts", { ...object, uploadParts: undefined });
    expect(check).toMatchObject({ algorithm: "MD5", verification: "not-comparable", reason: expect.stringContaining("parts count") });
  });

  it("treats an object replaced between the GET and GetObjectAttributes as replaced", async () => {
    const object = await stored({ name: "", algorithm: "CRC32", upload: "multipart COMPOSITE" }, body);
    stub.objects.set("src/replaced", { ...object, attributesETag: "0123456789abcdef0123456789abcdef-2" });
    await expect(reader.read({ bucket: "src", key: "replaced", ifMatch: object.eTag })).rejects.toThrow(ObjectReplacedError);
  });

  it("does not take a KMS-encrypted object's ETag for an MD5", async () => {
    const check = await verify("kms", { body, eTag: "d41d8cd98f00b204e9800998ecf8427e", serverSideEncryption: "aws:kms" });
    expect(check).toMatchObject({ verification: "absent" });
  });
});

/** Part HEADs that take `ms` each, as S3's round trips do. */
function slowPartHeads(client: S3Client, ms: number): S3Client {
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { method?: string; query?: Record<string, unknown> };
      if (request.method === "HEAD" && request.query?.partNumber !== undefined) await new Promise((r) => setTimeout(r, ms));
      return next(args);
    },
    { step: "finalizeRequest", name: "slowPartHeads" },
  );
  return client;
}

/** A body cut into parts of the given sizes, filled deterministically. */
function partsOfSizes(sizes: readonly number[]): { body: Buffer; parts: Buffer[] } {
  const whole = Buffer.alloc(sizes.reduce((a, b) => a + b, 0));
  for (let i = 0; i < whole.length; i++) whole[i] = (i * 7 + (i >> 9)) & 0xff;
  let at = 0;
  return { body: whole, parts: sizes.map((size) => whole.subarray(at, (at += size))) };
}

/** A multipart upload without checksums (older rclone, s3cmd, SDKs): an MD5-of-MD5s ETag, parts only by HEAD. */
async function uploadWithoutChecksums(sizes: readonly number[], corruptAt?: number): Promise<StubObject> {
  const { body: whole, parts: uploaded } = partsOfSizes(sizes);
  return { body: corruptAt === undefined ? whole : flipped(whole, corruptAt), eTag: await s3ETag(whole, uploaded), uploadParts: sizes };
}

async function verifyUpload(key: string, object: StubObject) {
  stub.objects.set(`src/${key}`, object);
  stub.requests.length = 0;
  const read = await reader.read({ bucket: "src", key, ifMatch: object.eTag, expectedSize: object.body.length });
  const partHeads = stub.requests.filter((r) => r.method === "HEAD").map((r) => Number(r.query.get("partNumber")));
  const gets = stub.requests.filter((r) => r.method === "GET" && !r.query.has("attributes")).length;
  return { check: compareS3Checksum(read.stored, read.computed), partHeads, gets };
}

describe("a multipart ETag without checksums: part sizes from HEAD ?partNumber=n", () => {
  const K = 1000;

  it("verifies parts of one size but the last from two HEADs: the first part and the last", async () => {
    const { check, partHeads, gets } = await verifyUpload("mpu/uniform", await uploadWithoutChecksums([5 * K, 5 * K, 5 * K, 5 * K, 2 * K]));
    expect(check).toMatchObject({ algorithm: "MD5", source: "etag", verification: "match", verifiedBy: "MD5", parts: 5 });
    expect(partHeads).toEqual([1, 5]);
    expect(gets).toBe(1);
  });

  it("reports corrupted bytes as a mismatch only after every part's size confirmed the inferred ones", async () => {
    const { check, partHeads, gets } = await verifyUpload("mpu/uniform-corrupted", await uploadWithoutChecksums([5 * K, 5 * K, 5 * K, 2 * K], 7 * K));
    expect(check).toMatchObject({ algorithm: "MD5", verification: "mismatch" });
    expect(partHeads).toEqual([1, 4, 1, 2, 3, 4]);
    expect(gets).toBe(1);
  });

  it("reads again with the true sizes when parts of differing sizes add up like uniform ones, and verifies", async () => {
    // 3 × 5 + 3 = 18 = 5 + 6 + 4 + 3: the first and last part cannot tell these from uniform parts.
    const { check, partHeads, gets } = await verifyUpload("mpu/ambiguous", await uploadWithoutChecksums([5 * K, 6 * K, 4 * K, 3 * K]));
    expect(check).toMatchObject({ algorithm: "MD5", verification: "match", verifiedBy: "MD5" });
    expect(partHeads).toEqual([1, 4, 1, 2, 3, 4]);
    expect(gets).toBe(2);
  });

  it("reports corruption of parts of differing sizes that add up like uniform ones as a mismatch", async () => {
    const { check, gets } = await verifyUpload("mpu/ambiguous-corrupted", await uploadWithoutChecksums([5 * K, 6 * K, 4 * K, 3 * K], 12 * K));
    expect(check).toMatchObject({ algorithm: "MD5", verification: "mismatch" });
    expect(gets).toBe(2);
  });

  it("asks every part when the first and last do not add up to the object, and verifies", async () => {
    const { check, partHeads } = await verifyUpload("mpu/differing", await uploadWithoutChecksums([4 * K, 9 * K, 1 * K, 3 * K]));
    expect(check).toMatchObject({ verification: "match", verifiedBy: "MD5" });
    expect(partHeads).toEqual([1, 4, 1, 2, 3, 4]);
  });

  it("knows two parts exactly from their two HEADs: a mismatch needs no confirmation", async () => {
    const { check, partHeads } = await verifyUpload("mpu/two", await uploadWithoutChecksums([5 * K, 1 * K], 10));
    expect(check).toMatchObject({ verification: "mismatch" });
    expect(partHeads).toEqual([1, 2]);
  });

  it("leaves the ETag unchecked, saying why, when part HEADs answer as moto does (the part's own ETag)", async () => {
    const object = await uploadWithoutChecksums([5 * K, 5 * K, 2 * K]);
    const { check } = await verifyUpload("mpu/moto", { ...object, partHeads: "moto" });
    expect(check).toMatchObject({ algorithm: "MD5", verification: "not-comparable", reason: expect.stringMatching(/HEAD \?partNumber=1 (failed|answered ETag)/) });
  });

  it("confirms a disagreement under inferred sizes with every part, however many (S3 allows 10,000)", async () => {
    const sizes = [...Array<number>(MAX_PART_HEADS + 1).fill(3), 1];
    const { check, partHeads } = await verifyUpload("mpu/many-corrupted", await uploadWithoutChecksums(sizes, 100));
    expect(check).toMatchObject({ verification: "mismatch", parts: sizes.length });
    expect(partHeads).toHaveLength(2 + sizes.length);
  });

  it("asks the sizes of parts of differing sizes without a GET left waiting, then reads them in a new pinned GET", async () => {
    const object = await uploadWithoutChecksums([4 * K, 9 * K, 1 * K, 3 * K]);
    stub.objects.set("src/mpu/order", object);
    stub.requests.length = 0;
    await reader.read({ bucket: "src", key: "mpu/order", ifMatch: object.eTag, expectedSize: object.body.length });
    const order = stub.requests.filter((r) => !r.query.has("attributes")).map((r) => (r.method === "HEAD" ? `HEAD ${r.query.get("partNumber")}` : `GET ${r.headers["if-match"]}`));
    expect(order).toEqual([`GET "${object.eTag}"`, "HEAD 1", "HEAD 4", "HEAD 1", "HEAD 2", "HEAD 3", "HEAD 4", `GET "${object.eTag}"`]);
  });

  it("fails, recording nothing, when a disagreement under inferred sizes cannot be confirmed before the deadline", async () => {
    const sizes = [...Array<number>(300).fill(3), 1];
    stub.objects.set("src/mpu/deadline", await uploadWithoutChecksums(sizes, 100));
    const slow = new S3ObjectReader(slowPartHeads(stub.client, 5), undefined, { partSize: 64 * 1024, concurrency: 2 });
    stub.requests.length = 0;
    const stopAt = Date.now() + 150;
    await expect(slow.readUntil({ bucket: "src", key: "mpu/deadline", expectedSize: 901, stopAt })).rejects.toThrow(DeadlineError);
    const heads = stub.requests.filter((r) => r.method === "HEAD").length;
    expect(heads).toBeLessThan(2 + sizes.length);
    stub.client.middlewareStack.remove("slowPartHeads");
  });

  it("reads a continued read again with the true sizes: corruption of parts of differing sizes is a mismatch, intact bytes a match", async () => {
    const ranged = new S3ObjectReader(stub.client, undefined, { partSize: 2 * K, concurrency: 1 });
    for (const [name, corruptAt, verification] of [["corrupted", 12 * K, "mismatch"], ["intact", undefined, "match"]] as const) {
      stub.objects.set(`src/mpu/continued-${name}`, await uploadWithoutChecksums([5 * K, 6 * K, 4 * K, 3 * K], corruptAt));
      const first = await ranged.readUntil({ bucket: "src", key: `mpu/continued-${name}`, expectedSize: 18 * K, stopAt: Date.now() - 1 });
      if (!isSuspended(first)) throw new Error("the first invocation's read did not stop");
      expect(first.checkpoint.stored.partSizesInferred).toBe(true);
      const rest = await ranged.readUntil({ bucket: "src", key: `mpu/continued-${name}`, expectedSize: 18 * K, resume: JSON.parse(JSON.stringify(first.checkpoint)) });
      if (isSuspended(rest)) throw new Error("the continued read stopped");
      expect(compareS3Checksum(rest.stored, rest.computed), name).toMatchObject({ verification });
    }
  });

  it("does not ask more than MAX_PART_HEADS parts of differing sizes one by one before the read", async () => {
    const sizes = [3, ...Array<number>(MAX_PART_HEADS).fill(2), 1];
    const { check, partHeads } = await verifyUpload("mpu/too-many", await uploadWithoutChecksums(sizes));
    expect(check).toMatchObject({ verification: "not-comparable", reason: expect.stringContaining(`more than the ${MAX_PART_HEADS}`) });
    expect(partHeads).toEqual([1, sizes.length]);
  });
});
