import { describe, expect, it } from "vitest";
import { mapLimited } from "../../lambda/map-limited";

describe("work over items, a few at a time", () => {
  it("never runs more than the limit at once and keeps the items' order in the results", async () => {
    let running = 0;
    let peak = 0;
    const results = await mapLimited([5, 1, 4, 2, 3], 2, async (n, i) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return `${i}:${n}`;
    });
    expect(results).toEqual(["0:5", "1:1", "2:4", "3:2", "4:3"]);
    expect(peak).toBe(2);
  });

  it("starts nothing more once told to stop, leaving those results undefined", async () => {
    let started = 0;
    const results = await mapLimited([1, 2, 3, 4], 1, async (n) => (started++, n), () => started < 2);
    expect(results).toEqual([1, 2, undefined, undefined]);
  });
});
