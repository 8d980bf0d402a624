/** The client set-ups of docs/local-mode.md, marked `<!-- tested: name -->`, so that tests run them as written. */
import { readFileSync } from "node:fs";
import * as path from "node:path";

const DOC = path.resolve(__dirname, "..", "..", "docs", "local-mode.md");

/** The code block that follows `<!-- tested: name -->`, with the documented endpoint replaced by `url`. */
export function docSnippet(name: string, url: string): string {
  const text = readFileSync(DOC, "utf8");
  const match = new RegExp(`<!-- tested: ${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\`\\n`).exec(text);
  if (!match) throw new Error(`docs/local-mode.md has no block marked <!-- tested: ${name} -->`);
  const hostPort = new URL(url).host;
  return match[1].replaceAll("http://127.0.0.1:4569", url).replaceAll("127.0.0.1:4569", hostPort);
}
