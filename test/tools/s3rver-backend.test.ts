/** The s3rver store local mode runs: an upload is answered only once its file holds every byte. */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { flushed } from "../../tools/local/s3rver-backend";
import { tempDir } from "../support/temp";

describe("an upload's file, flushed before the answer", () => {
  it("waits until the file holds the bytes written, however late they land", async () => {
    const file = path.join(tempDir("cix-flushed-"), "object");
    writeFileSync(file, "");
    setTimeout(() => writeFileSync(file, "0123456789"), 60);
    const started = Date.now();
    await flushed(file, 10);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });

  it("gives up at its time limit rather than wait forever", async () => {
    const file = path.join(tempDir("cix-flushed-"), "object");
    writeFileSync(file, "short");
    const started = Date.now();
    await flushed(file, 10, 100);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
