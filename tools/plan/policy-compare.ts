/**
 * Statement-aware comparison of two IAM policy documents: does the new one let anyone do something the old
 * one did not?
 *
 * A statement is Effect + Action|NotAction + Resource|NotResource + Principal|NotPrincipal + Condition. The
 * new policy *widens* access when one of its Allow statements is not covered by the old Allow statements,
 * or one of the old Deny statements is not covered by the new Deny statements; it *narrows* access in the
 * mirror cases. "Covered" is checked per (action, resource, principal) of the statement, so splitting or
 * merging statements is not mistaken for a widening, and wildcards are compared as patterns (`s3:*` covers
 * `s3:Get*`). A statement with fewer conditions covers one with more. Values known only after apply make a
 * check "unverifiable" instead of passing it.
 */
import { asList, isUnknown, type Json } from "./plan-json";

export type Tri = true | false | "unknown";

const and = (values: Iterable<Tri>): Tri => {
  let result: Tri = true;
  for (const v of values) {
    if (v === false) return false;
    if (v === "unknown") result = "unknown";
  }
  return result;
};
const or = (values: Iterable<Tri>): Tri => {
  let result: Tri = false;
  for (const v of values) {
    if (v === true) return true;
    if (v === "unknown") result = "unknown";
  }
  return result;
};
const not = (v: Tri): Tri => (v === "unknown" ? v : !v);

interface Spec {
  /** NotAction / NotResource / NotPrincipal: everything except the values. */
  readonly not: boolean;
  readonly values: readonly string[];
}

export interface Condition {
  readonly operator: string;
  readonly key: string;
  readonly values: readonly string[];
}

export interface Statement {
  readonly sid?: string;
  readonly effect: string;
  readonly action: Spec;
  readonly resource: Spec;
  /** Undefined in identity policies, which have no principal. */
  readonly principal?: Spec;
  readonly conditions: readonly Condition[];
  readonly raw: Json;
}

/** A policy document that is not IAM JSON. */
export class PolicyParseError extends Error {
  override readonly name = "PolicyParseError";
}

const capitalized = (s: unknown) => (typeof s === "string" && s.length > 0 ? s[0].toUpperCase() + s.slice(1).toLowerCase() : "Allow");

function principalValues(p: Json): string[] {
  if (p === "*") return ["*"];
  if (typeof p === "string") return [p];
  if (!p || typeof p !== "object") return [];
  return Object.entries<Json>(p).flatMap(([kind, ids]) =>
    asList<string>(ids).map((id) => {
      if (kind === "AWS" && id === "*") return "*";
      if (kind === "AWS" && /^\d{12}$/.test(String(id))) return `AWS:arn:aws:iam::${id}:root`;
      return `${kind}:${id}`;
    }),
  );
}

export function normalizeStatement(raw: Json): Statement {
  const spec = (positive: string, negative: string, missing?: string[]): Spec | undefined => {
    if (raw[negative] !== undefined) return { not: true, values: asList<Json>(raw[negative]).map(String) };
    if (raw[positive] !== undefined) return { not: false, values: asList<Json>(raw[positive]).map(String) };
    return missing ? { not: false, values: missing } : undefined;
  };
  const principal =
    raw.NotPrincipal !== undefined
      ? { not: true, values: principalValues(raw.NotPrincipal) }
      : raw.Principal !== undefined
        ? { not: false, values: principalValues(raw.Principal) }
        : undefined;
  const conditions: Condition[] = [];
  for (const [operator, entries] of Object.entries<Json>(raw.Condition ?? {})) {
    for (const [key, values] of Object.entries<Json>(entries ?? {})) conditions.push({ operator, key, values: asList<Json>(values).map(String) });
  }
  return {
    sid: typeof raw.Sid === "string" && raw.Sid !== "" ? raw.Sid : undefined,
    effect: capitalized(raw.Effect),
    action: spec("Action", "NotAction", [])!,
    // Trust policies have no Resource: the role itself.
    resource: spec("Resource", "NotResource", ["*"])!,
    principal,
    conditions,
    raw,
  };
}

/** Parses a policy (JSON text or an object) into statements. */
export function parsePolicy(document: unknown): { raw: Json; statements: Statement[] } {
  let raw: Json = document;
  if (typeof document === "string") {
    try {
      raw = JSON.parse(document);
    } catch (error) {
      throw new PolicyParseError(`not a JSON policy document (${(error as Error).message})`);
    }
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new PolicyParseError("a policy document must be a JSON object");
  const statements = asList<Json>(raw.Statement);
  if (statements.some((s) => !s || typeof s !== "object")) throw new PolicyParseError("every Statement must be an object");
  return { raw, statements: statements.map(normalizeStatement) };
}

/** A regular expression for an IAM pattern (`*` any run, `?` one character). */
function globRegex(pattern: string, caseInsensitive: boolean): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[\\s\\S]*").replace(/\?/g, "[\\s\\S]");
  return new RegExp(`^${body}$`, caseInsensitive ? "i" : "");
}

/** Does pattern p match everything q can stand for? (q's own wildcards are read as literal text.) */
function patternCovers(p: string, q: string, caseInsensitive: boolean): Tri {
  if (p === "*") return true;
  if (p === q) return true;
  if (isUnknown(p) || isUnknown(q)) return "unknown";
  return globRegex(p, caseInsensitive).test(q);
}

/** Could patterns a and b match a common value? */
function patternsOverlap(a: string, b: string, caseInsensitive: boolean): Tri {
  if (a === b || a === "*" || b === "*") return true;
  if (isUnknown(a) || isUnknown(b)) return "unknown";
  return globRegex(a, caseInsensitive).test(b) || globRegex(b, caseInsensitive).test(a);
}

type Covers = (p: string, q: string) => Tri;
type Overlaps = (a: string, b: string) => Tri;

/** Does spec b allow (or deny) at least everything spec a does? */
function specCovers(b: Spec, a: Spec, covers: Covers, overlaps: Overlaps): Tri {
  if (!b.not && !a.not) return and(a.values.map((q) => or(b.values.map((p) => covers(p, q)))));
  if (b.not && !a.not) return and(a.values.map((q) => not(or(b.values.map((n) => overlaps(n, q))))));
  if (!b.not && a.not) return or(b.values.map((p) => covers(p, "*")));
  return and(b.values.map((nb) => or(a.values.map((na) => covers(na, nb)))));
}

const actionCovers: Covers = (p, q) => patternCovers(p, q, true);
const actionOverlaps: Overlaps = (a, b) => patternsOverlap(a, b, true);
const resourceCovers: Covers = (p, q) => patternCovers(p, q, false);
const resourceOverlaps: Overlaps = (a, b) => patternsOverlap(a, b, false);
const principalCovers: Covers = (p, q) => {
  if (p === "*" || p === q) return true;
  if (isUnknown(p) || isUnknown(q)) return "unknown";
  // An account's root principal stands for every principal of the account.
  const root = /^AWS:arn:aws:iam::(\d{12}):root$/.exec(p);
  return root !== null && q.startsWith(`AWS:arn:aws:iam::${root[1]}:`);
};
const principalOverlaps: Overlaps = (a, b) => or([principalCovers(a, b), principalCovers(b, a)]);

function principalSpecCovers(b: Statement, a: Statement): Tri {
  if (!b.principal) return true;
  return specCovers(b.principal, a.principal ?? { not: false, values: ["*"] }, principalCovers, principalOverlaps);
}

/** Does b apply whenever a does? Each of b's conditions must be one of a's, with a's values among b's. */
function conditionsCover(b: readonly Condition[], a: readonly Condition[]): Tri {
  return and(
    b.map((cb) =>
      or(
        a
          .filter((ca) => ca.operator.toLowerCase() === cb.operator.toLowerCase() && ca.key.toLowerCase() === cb.key.toLowerCase())
          .map((ca) => and(ca.values.map((v): Tri => (cb.values.includes(v) ? true : isUnknown(v) || cb.values.some(isUnknown) ? "unknown" : false)))),
      ),
    ),
  );
}

const MAX_ATOMS = 5000;

/** The statement split into one statement per action, resource and principal (Not* forms stay whole). */
function atoms(s: Statement): Statement[] {
  const split = (spec: Spec | undefined): Array<Spec | undefined> =>
    spec && !spec.not && spec.values.length > 1 ? spec.values.map((v) => ({ not: false, values: [v] })) : [spec];
  const actions = split(s.action);
  const resources = split(s.resource);
  const principals = split(s.principal);
  if (actions.length * resources.length * principals.length > MAX_ATOMS) return [s];
  return actions.flatMap((action) => resources.flatMap((resource) => principals.map((principal) => ({ ...s, action: action!, resource: resource!, principal }))));
}

/** Is everything statement a grants (or denies) also granted (denied) by one of `by`? */
export function statementCovered(a: Statement, by: readonly Statement[]): Tri {
  if (a.action.values.length === 0 && !a.action.not) return true;
  return and(
    atoms(a).map((atom) =>
      or(
        by.map((b) =>
          and([
            specCovers(b.action, atom.action, actionCovers, actionOverlaps),
            specCovers(b.resource, atom.resource, resourceCovers, resourceOverlaps),
            principalSpecCovers(b, atom),
            conditionsCover(b.conditions, atom.conditions),
          ]),
        ),
      ),
    ),
  );
}

export type Direction = "widens" | "narrows" | "changes" | "unverifiable";

export interface PolicyComparison {
  /** undefined when the two documents grant and deny exactly the same. */
  readonly direction?: Direction;
  /** One line per statement that changed: `Allow Sid X: + action s3:PutObject, - condition …`. */
  readonly facts: string[];
  /** What makes a widening dangerous: wildcards, Not* forms, principal `*`, a Deny that no longer applies. */
  readonly warnings: string[];
}

const label = (s: Statement, index: number) => (s.sid ? `Sid ${s.sid}` : `statement ${index + 1}`);
const minus = (a: readonly string[], b: readonly string[]) => a.filter((x) => !b.includes(x));
const conditionText = (c: Condition) => `${c.operator} ${c.key}=${c.values.join("|")}`;

function specParts(name: string, b: Spec | undefined, a: Spec | undefined): string[] {
  const kind = (s: Spec | undefined) => (s ? (s.not ? `Not${name}` : name) : undefined);
  const word = name.toLowerCase();
  const parts: string[] = [];
  if (b && a && b.not !== a.not) parts.push(`${kind(b)} → ${kind(a)}`);
  const before = b?.values ?? [];
  const after = a?.values ?? [];
  const prefix = (s: Spec | undefined) => (s?.not ? `not-${word}` : word);
  parts.push(...minus(after, before).map((v) => `+ ${prefix(a)} ${v}`), ...minus(before, after).map((v) => `- ${prefix(b)} ${v}`));
  return parts;
}

/** What changed between two versions of one statement (either may be missing). */
function statementParts(b: Statement | undefined, a: Statement | undefined): string[] {
  const parts: string[] = [];
  if (b && a && b.effect !== a.effect) parts.push(`effect ${b.effect} → ${a.effect}`);
  parts.push(...specParts("Action", b?.action, a?.action));
  // A missing Resource is "*" for parsing; do not list it as if it were written.
  const res = (s: Statement | undefined) => (s && (s.raw.Resource !== undefined || s.raw.NotResource !== undefined) ? s.resource : undefined);
  parts.push(...specParts("Resource", res(b), res(a)));
  parts.push(...specParts("Principal", b?.principal, a?.principal));
  const cb = (b?.conditions ?? []).map(conditionText);
  const ca = (a?.conditions ?? []).map(conditionText);
  parts.push(...minus(ca, cb).map((c) => `+ condition ${c}`), ...minus(cb, ca).map((c) => `- condition ${c}`));
  return parts;
}

/** Pairs the statements of two versions: by Sid, then identical ones, then in order. */
function pairStatements(before: readonly Statement[], after: readonly Statement[]): Array<[Statement | undefined, Statement | undefined, string]> {
  const pairs: Array<[Statement | undefined, Statement | undefined, string]> = [];
  const usedB = new Set<number>();
  const usedA = new Set<number>();
  after.forEach((a, i) => {
    if (!a.sid) return;
    const j = before.findIndex((b, k) => !usedB.has(k) && b.sid === a.sid);
    if (j >= 0) {
      usedB.add(j);
      usedA.add(i);
      pairs.push([before[j], a, label(a, i)]);
    }
  });
  after.forEach((a, i) => {
    if (usedA.has(i)) return;
    const j = before.findIndex((b, k) => !usedB.has(k) && JSON.stringify(b.raw) === JSON.stringify(a.raw));
    if (j >= 0) {
      usedB.add(j);
      usedA.add(i);
    }
  });
  const restB = before.map((b, k) => [b, k] as const).filter(([, k]) => !usedB.has(k));
  const restA = after.map((a, i) => [a, i] as const).filter(([, i]) => !usedA.has(i));
  // Unnamed leftovers pair in order; a leftover with a Sid is a statement added or removed.
  const unnamedB = restB.filter(([b]) => !b.sid);
  const unnamedA = restA.filter(([a]) => !a.sid);
  for (let n = 0; n < Math.max(unnamedB.length, unnamedA.length); n++) {
    const [b, k] = unnamedB[n] ?? [undefined, -1];
    const [a, i] = unnamedA[n] ?? [undefined, -1];
    pairs.push([b, a, a ? label(a, i) : label(b!, k)]);
  }
  for (const [b, k] of restB.filter(([s]) => s.sid)) pairs.push([b, undefined, label(b, k)]);
  for (const [a, i] of restA.filter(([s]) => s.sid)) pairs.push([undefined, a, label(a, i)]);
  return pairs;
}

function dangerOf(s: Statement, name: string, resourcePolicy: boolean): string[] {
  const out: string[] = [];
  if (s.action.not) out.push(`${name} allows every action except ${s.action.values.join(", ") || "none"} (NotAction)`);
  else {
    if (s.action.values.includes("*")) out.push(`${name} allows every action ("*")`);
    for (const a of s.action.values.filter((v) => /^[\w-]+:\*$/.test(v))) out.push(`${name} allows every ${a.split(":")[0]} action ("${a}")`);
  }
  if (s.resource.not) out.push(`${name} applies to every resource except ${s.resource.values.join(", ")} (NotResource)`);
  else if (s.resource.values.includes("*") && (s.raw.Resource !== undefined)) out.push(`${name} applies to every resource ("*")`);
  if (s.principal?.not) out.push(`${name} allows every principal except ${s.principal.values.join(", ")} (NotPrincipal)`);
  else if (s.principal?.values.includes("*")) {
    out.push(`${name} allows any principal ("*")${s.conditions.length === 0 ? ` with no condition: ${resourcePolicy ? "public, anyone on the internet" : "anyone"}` : ""}`);
  }
  return out;
}

/**
 * Compares two policy documents (undefined: no policy). `resourcePolicy` words the warnings for policies
 * that name principals (bucket, queue, key, trust policies).
 */
export function comparePolicies(
  before: readonly Statement[] | undefined,
  after: readonly Statement[] | undefined,
  options: { updated: boolean } = { updated: true },
): PolicyComparison {
  const b = before ?? [];
  const a = after ?? [];
  const allows = (list: readonly Statement[]) => list.filter((s) => s.effect === "Allow");
  const denies = (list: readonly Statement[]) => list.filter((s) => s.effect !== "Allow");
  const widening = new Map<Statement, Tri>();
  const narrowing = new Set<Statement>();
  for (const s of allows(a)) {
    const c = statementCovered(s, allows(b));
    if (c !== true) widening.set(s, c);
  }
  for (const s of denies(b)) {
    const c = statementCovered(s, denies(a));
    if (c !== true) widening.set(s, c);
  }
  for (const s of allows(b)) if (statementCovered(s, allows(a)) === false) narrowing.add(s);
  for (const s of denies(a)) if (statementCovered(s, denies(b)) === false) narrowing.add(s);

  const facts: string[] = [];
  const warnings: string[] = [];
  const resourcePolicy = [...a, ...b].some((s) => s.principal !== undefined);
  for (const [sb, sa, name] of pairStatements(b, a)) {
    const parts = statementParts(sb, sa);
    if (parts.length === 0) continue;
    const effect = sa && sb && sa.effect !== sb.effect ? "" : `${(sa ?? sb)!.effect} `;
    const note = options.updated && !sb ? " (new statement)" : options.updated && !sa ? " (removed statement)" : "";
    facts.push(`${effect}${name}${note}: ${parts.join(", ")}`);
    if (sa && widening.get(sa) === false && sa.effect === "Allow") warnings.push(...dangerOf(sa, `Allow ${name}`, resourcePolicy));
    if (sb && sb.effect !== "Allow" && widening.get(sb) === false) {
      warnings.push(`Deny ${name} ${sa && sa.effect !== "Allow" ? "denies less than before" : "no longer denies"}: ${statementSummary(sb)}`);
    }
  }
  const values = [...widening.values()];
  const direction: Direction | undefined = values.includes(false)
    ? "widens"
    : values.includes("unknown")
      ? "unverifiable"
      : narrowing.size > 0
        ? "narrows"
        : facts.length > 0
          ? "changes"
          : undefined;
  return { direction, facts, warnings };
}

function statementSummary(s: Statement): string {
  const spec = (x: Spec) => `${x.not ? "all but " : ""}${x.values.join(", ")}`;
  const parts = [spec(s.action), `on ${spec(s.resource)}`];
  if (s.principal) parts.push(`for ${spec(s.principal)}`);
  if (s.conditions.length > 0) parts.push(`if ${s.conditions.map(conditionText).join(" and ")}`);
  return parts.join(" ");
}

/**
 * A line diff (longest common subsequence) as unified-diff lines without headers: removals before
 * additions, and only `context` unchanged lines around each change ("…" between hunks).
 */
export function lineDiff(before: string, after: string, context = 3): string {
  const x = before === "" ? [] : before.split("\n");
  const y = after === "" ? [] : after.split("\n");
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const all: Array<{ mark: " " | "+" | "-"; text: string }> = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      all.push({ mark: " ", text: x[i] });
      i++;
      j++;
    } else if (i < x.length && (j === y.length || lcs[i + 1][j] >= lcs[i][j + 1])) {
      all.push({ mark: "-", text: x[i++] });
    } else {
      all.push({ mark: "+", text: y[j++] });
    }
  }
  const keep = all.map((_line, k) => all.slice(Math.max(0, k - context), k + context + 1).some((l) => l.mark !== " "));
  const out: string[] = [];
  all.forEach((line, k) => {
    if (keep[k]) out.push(`${line.mark} ${line.text}`);
    else if (keep[k - 1]) out.push("…");
  });
  return out.join("\n");
}
