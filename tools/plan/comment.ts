/**
 * The pull-request comment: every stack's summary.md in one body that fits GitHub's limit, cut only
 * between whole blocks (a `<details>` section, a code fence or a list item with its sub-items is kept
 * whole or left out whole), with a note saying how much is in the artifact instead.
 *
 *   npx tsx tools/plan/comment.ts plan-output > plan-output/comment.md
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

/** GitHub refuses comment bodies over 65536 characters; leave room for the marker and the footer. */
export const COMMENT_LIMIT = 60_000;

/**
 * Splits Markdown into blocks that must not be cut: a top-level line with every indented line after it
 * (a list item and its sub-items), and anything between `<details>` and `</details>` or inside a code fence.
 */
export function markdownBlocks(markdown: string): string[] {
  const blocks: string[][] = [];
  let depth = 0;
  let fence = false;
  for (const line of markdown.split("\n")) {
    const trimmed = line.trim();
    const topLevel = depth === 0 && !fence && line !== "" && !/^\s/.test(line);
    if (topLevel || blocks.length === 0) blocks.push([line]);
    else blocks[blocks.length - 1].push(line);
    if (trimmed.startsWith("```")) fence = !fence;
    else if (!fence) {
      depth += (trimmed.match(/<details\b/g) ?? []).length;
      depth = Math.max(0, depth - (trimmed.match(/<\/details>/g) ?? []).length);
    }
  }
  return blocks.map((b) => b.join("\n"));
}

/** The Markdown cut to at most `limit` characters at a block boundary, with a note when cut. */
export function fitMarkdown(markdown: string, limit: number, note: (omittedLines: number) => string): string {
  if (markdown.length <= limit) return markdown;
  const blocks = markdownBlocks(markdown);
  const reserve = `\n\n${note(markdown.split("\n").length)}\n`.length;
  const kept: string[] = [];
  let length = 0;
  for (const block of blocks) {
    if (length + block.length + 1 + reserve > limit) break;
    kept.push(block);
    length += block.length + 1;
  }
  const omitted = blocks.slice(kept.length).join("\n").split("\n").length;
  return `${kept.join("\n")}\n\n${note(omitted)}\n`;
}

/** The comment body (without the sticky marker, which the posting job adds) for summaries in order. */
export function composeComment(summaries: readonly string[], limit = COMMENT_LIMIT): string {
  if (summaries.length === 0) return "No stack was planned: there is no summary.\n";
  const body = summaries.map((s) => s.trimEnd()).join("\n\n---\n\n") + "\n";
  return fitMarkdown(body, limit, (n) => `_Truncated: ${n} more lines are in the plan-summary artifact (summary.md of each stack)._`);
}

/** Reads plan-output/<stack>/summary.md of every stack, sorted by stack name. */
export function readSummaries(outDir: string): string[] {
  if (!existsSync(outDir)) return [];
  return readdirSync(outDir)
    .sort()
    .map((stack) => path.join(outDir, stack, "summary.md"))
    .filter((file) => existsSync(file))
    .map((file) => readFileSync(file, "utf8"));
}

if (require.main === module) {
  process.stdout.write(composeComment(readSummaries(process.argv[2] ?? "plan-output")));
}
