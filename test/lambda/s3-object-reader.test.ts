/**
 * The S3 reader's guarantees that a real server cannot easily be made to break: a body that ends early or
 * fails midway never yields a checksum, and S3's errors map to the indexer's outcomes.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { S3ServiceException, type S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { IntegrityError, ObjectForbiddenError, ObjectGoneError, ObjectReplacedError } from "../../lambda/errors";
import { S3ObjectReader } from "../../lambda/s3-store";

/** An S3 client whose GET answers `get()` (body, headers and S3's stored checksum); nothing else is expected. */
function stubClient(get: () => any): S3Client {
  return {
    send: async (command: any) => {
      const name = command.constructor.name;
      if (name === "GetObjectCommand") return get();
      throw new Error(`unexpected ${name}`);
    },
  } as unknown as S3Client;
}

const s3Error = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: "client", $metadata: { httpStatusCode: status }, message: name });

const request = { bucket: "src", key: "incoming/a.bin", ifMatch: "e1", expectedSize: 10 };

describe("S3ObjectReader", () => {
  it("hashes the body and reports S3's stored checksum, leaving the verdict to the indexer", async () => {
    const body = Buffer.from("0123456789");
    const reader = new S3ObjectReader(
      stubClient(() => ({
        Body: Readable.from([body.subarray(0, 4), body.subarray(4)]),
        ContentLength: 10,
        ETag: '"e1"',
        ChecksumSHA256: createHash("sha256").update(body).digest("base64"),
        ChecksumType: "FULL_OBJECT",
      })),
    );
    expect(await reader.read(request)).toMatchObject({
      computed: { sha256Hex: createHash("sha256").update(body).digest("hex") },
      size: 10,
      eTag: "e1",
      stored: { type: "FULL_OBJECT", sha256: createHash("sha256").update(body).digest("base64"), eTag: "e1", size: 10 },
    });
  });

  it("never yields a checksum for a body that ends early", async () => {
    const reader = new S3ObjectReader(stubClient(() => ({ Body: Readable.from([Buffer.from("01234")]), ContentLength: 10, ETag: '"e1"' })));
    await expect(reader.read(request)).rejects.toThrow(IntegrityError);
    await expect(reader.read(request)).rejects.toThrow(/read 5 bytes, S3 announced Content-Length 10/);
  });

  it("never yields a checksum for a body that fails midway", async () => {
    const failing = () =>
      new Readable({
        read() {
          this.push(Buffer.from("01234"));
          this.destroy(new Error("socket hang up"));
        },
      });
    const reader = new S3ObjectReader(stubClient(() => ({ Body: failing(), ContentLength: 10, ETag: '"e1"' })));
    await expect(reader.read(request)).rejects.toThrow(/reading s3:\/\/src\/incoming\/a.bin failed after it started: socket hang up/);
  });

  it("treats a different ETag as a replaced object even if the server ignored If-Match", async () => {
    const reader = new S3ObjectReader(stubClient(() => ({ Body: Readable.from([Buffer.from("x")]), ContentLength: 1, ETag: '"e2"' })));
    await expect(reader.read(request)).rejects.toThrow(ObjectReplacedError);
  });

  it.each([
    ["NoSuchKey", 404, ObjectGoneError],
    ["NoSuchVersion", 404, ObjectGoneError],
    ["PreconditionFailed", 412, ObjectReplacedError],
    ["AccessDenied", 403, ObjectForbiddenError],
  ] as const)("maps %s to %s, named after its class and keeping S3's error as the cause", async (name, status, type) => {
    const sdkError = s3Error(name, status);
    const reader = new S3ObjectReader(stubClient(() => Promise.reject(sdkError)));
    const error = await reader.read(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ name: type.name, cause: sdkError });
  });

  it("passes a missing bucket and throttling through as errors, for Lambda to retry", async () => {
    for (const [name, status] of [["NoSuchBucket", 404], ["SlowDown", 503]] as const) {
      const reader = new S3ObjectReader(stubClient(() => Promise.reject(s3Error(name, status))));
      await expect(reader.read(request)).rejects.toMatchObject({ name });
    }
  });
});
