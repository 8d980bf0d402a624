/**
 * Reference tables of docs/ that are generated from the code and the tests' data, between
 * `<!-- BEGIN <name> -->` and `<!-- END <name> -->` markers. `test/docs.test.ts` fails when a table is
 * out of date; `npm run docs` rewrites them.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { matrixMarkdown } from "./iam-matrix";
import { rulesMarkdown } from "./policy-rules";

export const ROOT = path.resolve(__dirname, "..", "..");

export interface GeneratedSection {
  /** The docs file, relative to the project root. */
  readonly file: string;
  /** The marker name. */
  readonly name: string;
  readonly render: () => string;
}

interface PropDoc {
  readonly name: string;
  readonly type: ts.TypeNode | undefined;
  readonly description: string;
  readonly defaultValue?: string;
  readonly optional: boolean;
}

/** The documented properties of every interface of a TypeScript file, by interface name. */
function interfaceDocs(file: string): Map<string, PropDoc[]> {
  const source = ts.createSourceFile(file, readFileSync(path.join(ROOT, file), "utf8"), ts.ScriptTarget.Latest, true);
  const result = new Map<string, PropDoc[]>();
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node)) return;
    const props: PropDoc[] = [];
    for (const member of node.members) {
      if (!ts.isPropertySignature(member) || !member.name) continue;
      const jsDoc = (member as unknown as { jsDoc?: ts.JSDoc[] }).jsDoc?.at(-1);
      const comment = ts.getTextOfJSDocComment(jsDoc?.comment) ?? "";
      const defaultTag = jsDoc?.tags?.find((t) => t.tagName.text === "default");
      props.push({
        name: member.name.getText(source),
        type: member.type,
        description: comment.replace(/\s+/g, " ").trim(),
        defaultValue: defaultTag ? (ts.getTextOfJSDocComment(defaultTag.comment) ?? "").replace(/\s+/g, " ").trim() : undefined,
        optional: member.questionToken !== undefined,
      });
    }
    result.set(node.name.text, props);
  });
  return result;
}

const cell = (text: string) => text.replace(/\|/g, "\\|");

/** The name of the documented interface a property's type refers to (also through `readonly X[]`). */
function referencedInterface(type: ts.TypeNode | undefined, known: Map<string, PropDoc[]>): { name: string; array: boolean } | undefined {
  if (!type) return undefined;
  let node = type;
  let array = false;
  if (ts.isTypeOperatorNode(node)) node = node.type;
  if (ts.isArrayTypeNode(node)) {
    node = node.elementType;
    array = true;
  }
  if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName) && known.has(node.typeName.text)) return { name: node.typeName.text, array };
  return undefined;
}

/** Every property of the stack, nested ones written `parent.child` (`triggers[].prefix`), with default and meaning. */
export function stackPropsMarkdown(): string {
  // The props of pipeline.ts, and those it takes from the constructs that document their own.
  const docs = new Map([...interfaceDocs("stacks/pipeline.ts"), ...interfaceDocs("stacks/constructs/alarms.ts"), ...interfaceDocs("stacks/constructs/bucket-lifecycle.ts")]);
  const rows: string[] = [];
  const walk = (iface: string, prefix: string) => {
    for (const prop of docs.get(iface) ?? []) {
      const name = `${prefix}${prop.name}`;
      const nested = referencedInterface(prop.type, docs);
      const def = prop.defaultValue ?? (prop.optional ? "unset" : "(required)");
      rows.push(`| \`${name}\` | ${cell(def)} | ${cell(prop.description)} |`);
      if (nested) walk(nested.name, `${name}${nested.array ? "[]" : ""}.`);
    }
  };
  walk("ChecksumIndexStackProps", "");
  return ["| property | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

export const GENERATED: readonly GeneratedSection[] = [
  { file: "docs/configuration.md", name: "stack-props", render: stackPropsMarkdown },
  { file: "docs/security.md", name: "iam-matrix", render: matrixMarkdown },
  { file: "docs/security.md", name: "policy-rules", render: rulesMarkdown },
];

/** The text between a section's markers, or undefined when the markers are missing. */
export function currentSection(text: string, name: string): string | undefined {
  const match = new RegExp(`<!-- BEGIN ${name} -->\\n([\\s\\S]*?)\\n?<!-- END ${name} -->`).exec(text);
  return match?.[1];
}

export function replaceSection(text: string, name: string, content: string): string {
  if (currentSection(text, name) === undefined) throw new Error(`the markers of ${name} are missing`);
  return text.replace(new RegExp(`(<!-- BEGIN ${name} -->\\n)[\\s\\S]*?\\n?(<!-- END ${name} -->)`), (_m, a, b) => `${a}${content}\n${b}`);
}
