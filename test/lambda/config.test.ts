import { describe, expect, it } from "vitest";
import { readConfig } from "../../lambda/config";

describe("configuration from the environment", () => {
  it("reads the index bucket, prefix and path style", () => {
    expect(readConfig({ INDEX_BUCKET: "my-index", INDEX_PREFIX: "index/", S3_FORCE_PATH_STYLE: "true" })).toEqual({
      indexBucket: "my-index",
      indexPrefix: "index/",
      forcePathStyle: true,
      readPartSize: 16 * 1024 * 1024,
      readConcurrency: 4,
      digestWorker: "auto",
    });
    expect(readConfig({ INDEX_BUCKET: "my-index" })).toEqual({
      indexBucket: "my-index",
      indexPrefix: "",
      forcePathStyle: false,
      readPartSize: 16 * 1024 * 1024,
      readConcurrency: 4,
      digestWorker: "auto",
    });
  });

  it("reads the part size, the parts in flight and the continuation alias", () => {
    expect(readConfig({ INDEX_BUCKET: "my-index", READ_PART_SIZE_MIB: "8", READ_CONCURRENCY: "6", CONTINUATION_ALIAS: "live" })).toMatchObject({
      readPartSize: 8 * 1024 * 1024,
      readConcurrency: 6,
      continuationAlias: "live",
    });
  });

  it("reads whether to hash on a worker thread", () => {
    expect(readConfig({ INDEX_BUCKET: "my-index", DIGEST_WORKER: "off" })).toMatchObject({ digestWorker: "off" });
    expect(readConfig({ INDEX_BUCKET: "my-index", DIGEST_WORKER: "on" })).toMatchObject({ digestWorker: "on" });
  });

  it.each([
    [{}, /INDEX_BUCKET is not set/],
    [{ INDEX_BUCKET: " " }, /INDEX_BUCKET is not set/],
    [{ INDEX_BUCKET: "Bad_Bucket" }, /INDEX_BUCKET "Bad_Bucket" is not a valid S3 bucket name/],
    [{ INDEX_BUCKET: "ok-bucket", INDEX_PREFIX: "/abs" }, /INDEX_PREFIX "\/abs" must not start with "\/"/],
    [{ INDEX_BUCKET: "ok-bucket", S3_FORCE_PATH_STYLE: "yes" }, /S3_FORCE_PATH_STYLE is "yes": set it to "true" or "false"/],
    [{ INDEX_BUCKET: "ok-bucket", READ_PART_SIZE_MIB: "0" }, /READ_PART_SIZE_MIB is "0": set a whole number from 1 to 1024/],
    [{ INDEX_BUCKET: "ok-bucket", READ_PART_SIZE_MIB: "1.5" }, /READ_PART_SIZE_MIB is "1.5"/],
    [{ INDEX_BUCKET: "ok-bucket", READ_CONCURRENCY: "65" }, /READ_CONCURRENCY is "65": set a whole number from 1 to 64/],
    [{ INDEX_BUCKET: "ok-bucket", CONTINUATION_ALIAS: "a:b" }, /CONTINUATION_ALIAS "a:b" is not an alias name/],
    [{ INDEX_BUCKET: "ok-bucket", DIGEST_WORKER: "yes" }, /DIGEST_WORKER is "yes": set "auto", "on", "off"/],
  ])("fails naming the variable: %j", (env, message) => {
    expect(() => readConfig(env)).toThrow(message);
  });
});
