/**
 * The Node.js the tests run on: Node 20 for `npm test` (the machine's), Node 22 for `npm run test:node22`
 * (the Lambda runtime's, nodejs22.x), which says so in EXPECT_NODE_MAJOR. The function needs zlib.crc32
 * (Node 20.15+ and 22.2+) on both.
 */
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";

const major = Number(process.versions.node.split(".")[0]);

describe("the Node.js runtime", () => {
  it(`is the one the run asks for (${process.env.EXPECT_NODE_MAJOR ?? "20 or later"})`, () => {
    if (process.env.EXPECT_NODE_MAJOR) expect(major).toBe(Number(process.env.EXPECT_NODE_MAJOR));
    else expect(major).toBeGreaterThanOrEqual(20);
  });

  it("has what the function needs: zlib.crc32", () => {
    expect(typeof (zlib as unknown as { crc32?: unknown }).crc32).toBe("function");
  });
});
