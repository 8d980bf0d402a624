/** The generated reference tables of docs/ are true: each equals what the code and the tests' data say now. */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { currentSection, GENERATED, replaceSection, ROOT } from "./support/generated-docs";

const update = process.env.UPDATE_DOCS === "1";

describe("generated reference tables", () => {
  it.each(GENERATED.map((g) => [`${g.file} ${g.name}`, g] as const))("%s is up to date (npm run docs rewrites it)", (_name, section) => {
    const file = path.join(ROOT, section.file);
    const text = readFileSync(file, "utf8");
    const expected = section.render();
    if (update) {
      writeFileSync(file, replaceSection(text, section.name, expected));
      return;
    }
    expect(currentSection(text, section.name), `markers <!-- BEGIN/END ${section.name} --> in ${section.file}`).toBeDefined();
    expect(currentSection(text, section.name)).toBe(expected);
  });
});

describe("links between the docs", () => {
  const files = ["README.md", "ARCHITECTURE.md", ...readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`)];
  it.each([...new Set(files)])("every relative link of %s points to a file that exists", (file) => {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      expect(() => readFileSync(path.join(ROOT, path.dirname(file), target)), `${file} links ${target}`).not.toThrow();
    }
  });
});
