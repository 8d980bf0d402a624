import { describe, expect, it } from "vitest";
import { readConfig } from "../../lambda/config";

describe("configuration from the environment", () => {
  it("reads the index bucket, prefix and path style", () => {
    expect(readConfig({ INDEX_BUCKET: "my-index", INDEX_PREFIX: "index/", S3_FORCE_PATH_STYLE: "true" })).toEqual({
      indexBucket: "my-index",
      indexPrefix: "index/",
      forcePathStyle: true,
    });
    expect(readConfig({ INDEX_BUCKET: "my-index" })).toEqual({ indexBucket: "my-index", indexPrefix: "", forcePathStyle: false });
  });

  it.each([
    [{}, /INDEX_BUCKET is not set/],
    [{ INDEX_BUCKET: " " }, /INDEX_BUCKET is not set/],
    [{ INDEX_BUCKET: "Bad_Bucket" }, /INDEX_BUCKET "Bad_Bucket" is not a valid S3 bucket name/],
    [{ INDEX_BUCKET: "ok-bucket", INDEX_PREFIX: "/abs" }, /INDEX_PREFIX "\/abs" must not start with "\/"/],
    [{ INDEX_BUCKET: "ok-bucket", S3_FORCE_PATH_STYLE: "yes" }, /S3_FORCE_PATH_STYLE is "yes": set it to "true" or "false"/],
  ])("fails naming the variable: %j", (env, message) => {
    expect(() => readConfig(env)).toThrow(message);
  });
});
