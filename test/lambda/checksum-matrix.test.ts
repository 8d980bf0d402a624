/**
 * The checksum matrix: every checksum S3 stores × single-part / multipart × bytes read intact / corrupted,
 * through the function's S3 reader and the real SDK client, against S3's documented response shapes
 * (test/support/s3-stub-server.ts). S3's stored values come from the reference model of S3
 * (test/support/s3-checksums.ts), not from the code under test. Every intact read is "match", naming the
 * algorithm that verified it; every corrupted read is "mismatch" (never thrown by the SDK, never hidden).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareS3Checksum, type DigestAlgorithm } from "../../lambda/checksums";
import { ObjectReplacedError } from "../../lambda/errors";
import { S3ObjectReader } from "../../lambda/s3-store";
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
    // Part checksums are not listed for an upload without checksums; the part sizes come from the parts list.
    const eTag = await s3ETag(body, upload === "single-part" ? undefined : parts);
    return { body: served, eTag, ...(upload === "single-part" ? {} : { parts: parts.map((p) => ({ size: p.length })) }) };
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

  it("does not check a multipart ETag whose part sizes S3 does not list, and says so", async () => {
    const object = await stored({ name: "", algorithm: "MD5", upload: "multipart, no checksum" }, body);
    const check = await verify("unlisted-parts", { ...object, parts: undefined });
    expect(check).toMatchObject({ algorithm: "MD5", verification: "not-comparable", reason: expect.stringContaining("sizes of the object's parts") });
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
