import { describe, expect, it } from "vitest";
import { compareSequencers } from "../../lambda/sequencer";

describe("sequencer order, as S3 documents it", () => {
  it("a greater hexadecimal value happened later", () => {
    expect(compareSequencers("0055AED6DCD90281E6", "0055AED6DCD90281E5")).toBeGreaterThan(0);
    expect(compareSequencers("0055AED6DCD90281E5", "0055AED6DCD90281E6")).toBeLessThan(0);
  });

  it("the shorter value is left-padded with zeros before comparing", () => {
    expect(compareSequencers("FF", "0100")).toBeLessThan(0);
    expect(compareSequencers("0100", "FF")).toBeGreaterThan(0);
    expect(compareSequencers("00FF", "FF")).toBe(0);
  });

  it("letter case does not matter", () => {
    expect(compareSequencers("00ab", "00AB")).toBe(0);
  });

  it("refuses what is not a sequencer", () => {
    expect(() => compareSequencers("xyz", "00")).toThrow(/not an S3 sequencer/);
  });
});
