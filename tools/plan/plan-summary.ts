/**
 * A pull-request comment from `terraform show -json` of a plan: what changes, and above all what changes
 * who may do what. Pure: plan JSON in, Markdown out.
 */

type Json = any;

export interface ResourceChange {
  readonly address: string;
  readonly type: string;
  readonly name: string;
  readonly mode: "managed" | "data";
  readonly change: { actions: string[]; before: Json; after: Json; after_unknown?: Json; replace_paths?: Json };
  readonly action_reason?: string;
}

export type Action = "create" | "update" | "replace" | "delete" | "no-op" | "read";

export function actionOf(actions: readonly string[]): Action {
  if (actions.includes("delete") && actions.includes("create")) return "replace";
  if (actions.includes("create")) return "create";
  if (actions.includes("delete")) return "delete";
  if (actions.includes("update")) return "update";
  if (actions.includes("read")) return "read";
  return "no-op";
}

const SYMBOL: Record<Action, string> = { create: "+", update: "~", replace: "-/+", delete: "-", "no-op": " ", read: "<=" };

export interface PolicyStatementChange {
  readonly sid: string;
  readonly effect: string;
  readonly addedActions: string[];
  readonly removedActions: string[];
  readonly addedResources: string[];
  readonly removedResources: string[];
  readonly addedPrincipals: string[];
  readonly removedPrincipals: string[];
  readonly conditionChanged: boolean;
}

export interface AccessChange {
  readonly address: string;
  readonly type: string;
  readonly action: Action;
  /** "widens" when something may now do more, "narrows" when less, "changes" otherwise. */
  readonly direction: "widens" | "narrows" | "changes";
  /** One line per changed fact, e.g. `principal: "s3.amazonaws.com" → "*"`. */
  readonly facts: string[];
  /** For policy documents: a line diff of the pretty-printed JSON. */
  readonly policyDiff?: string;
}

export interface PlanSummary {
  readonly counts: { add: number; change: number; replace: number; destroy: number };
  readonly changes: Array<{ address: string; type: string; action: Action; reason?: string }>;
  readonly access: AccessChange[];
  readonly dangers: string[];
}

const UNKNOWN = "(known after apply)";

function asList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function principals(p: Json): string[] {
  if (p === undefined) return [];
  if (typeof p === "string") return [p];
  return Object.entries(p).flatMap(([kind, ids]) => asList(ids as string | string[]).map((id) => `${kind}:${id}`));
}

function parsePolicy(text: unknown): Json | undefined {
  if (typeof text !== "string" || text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function statementKey(st: Json, index: number): string {
  return st.Sid ? `Sid ${st.Sid}` : `statement ${index + 1}`;
}

const minus = (a: string[], b: string[]) => a.filter((x) => !b.includes(x));

/** Statement-by-statement differences between two policy documents. */
export function diffPolicies(before: Json | undefined, after: Json | undefined): PolicyStatementChange[] {
  const b = asList(before?.Statement);
  const a = asList(after?.Statement);
  const keysB = b.map(statementKey);
  const keysA = a.map(statementKey);
  const all = [...new Set([...keysB, ...keysA])];
  const changes: PolicyStatementChange[] = [];
  for (const key of all) {
    const sb = b[keysB.indexOf(key)];
    const sa = a[keysA.indexOf(key)];
    const actionsB = asList<string>(sb?.Action ?? sb?.NotAction);
    const actionsA = asList<string>(sa?.Action ?? sa?.NotAction);
    const resourcesB = asList<string>(sb?.Resource ?? sb?.NotResource);
    const resourcesA = asList<string>(sa?.Resource ?? sa?.NotResource);
    const principalsB = principals(sb?.Principal);
    const principalsA = principals(sa?.Principal);
    const change: PolicyStatementChange = {
      sid: key,
      effect: (sa ?? sb)?.Effect ?? "Allow",
      addedActions: minus(actionsA, actionsB),
      removedActions: minus(actionsB, actionsA),
      addedResources: minus(resourcesA, resourcesB),
      removedResources: minus(resourcesB, resourcesA),
      addedPrincipals: minus(principalsA, principalsB),
      removedPrincipals: minus(principalsB, principalsA),
      conditionChanged: JSON.stringify(sb?.Condition ?? null) !== JSON.stringify(sa?.Condition ?? null),
    };
    const changed =
      change.addedActions.length + change.removedActions.length + change.addedResources.length + change.removedResources.length +
        change.addedPrincipals.length + change.removedPrincipals.length >
        0 || change.conditionChanged;
    if (changed) changes.push(change);
  }
  return changes;
}

/**
 * A line diff (longest common subsequence) as unified-diff lines without headers: removals before
 * additions, and only `context` unchanged lines around each change ("…" between hunks).
 */
export function lineDiff(before: string, after: string, context = 3): string {
  const x = before === "" ? [] : before.split("\n");
  const y = after === "" ? [] : after.split("\n");
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array(y.length + 1).fill(0));
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
  const keep = all.map((line, k) => all.slice(Math.max(0, k - context), k + context + 1).some((l) => l.mark !== " "));
  const out: string[] = [];
  all.forEach((line, k) => {
    if (keep[k]) out.push(`${line.mark} ${line.text}`);
    else if (keep[k - 1]) out.push("…");
  });
  return out.join("\n");
}

const pretty = (doc: Json) => (doc === undefined ? "" : JSON.stringify(doc, null, 2));

function policyChange(rc: ResourceChange, field: string, action: Action): AccessChange | undefined {
  const unknownAfter = rc.change.after_unknown?.[field] === true;
  const before = parsePolicy(rc.change.before?.[field]);
  const after = unknownAfter ? undefined : parsePolicy(rc.change.after?.[field]);
  if (unknownAfter) {
    return { address: rc.address, type: rc.type, action, direction: "changes", facts: [`${field}: ${UNKNOWN}; set the account id so the plan can show it`] };
  }
  const statements = diffPolicies(before, after);
  if (statements.length === 0) return undefined;
  const facts: string[] = [];
  let widens = false;
  let narrows = false;
  for (const s of statements) {
    const allow = s.effect === "Allow";
    const grow = s.addedActions.length + s.addedResources.length + s.addedPrincipals.length > 0;
    const shrink = s.removedActions.length + s.removedResources.length + s.removedPrincipals.length > 0;
    // More on an Allow, or less on a Deny, lets someone do more.
    if (allow ? grow : shrink) widens = true;
    if (allow ? shrink : grow) narrows = true;
    const parts = [
      ...s.addedActions.map((a) => `+ action ${a}`),
      ...s.removedActions.map((a) => `- action ${a}`),
      ...s.addedResources.map((r) => `+ resource ${r}`),
      ...s.removedResources.map((r) => `- resource ${r}`),
      ...s.addedPrincipals.map((p) => `+ principal ${p}`),
      ...s.removedPrincipals.map((p) => `- principal ${p}`),
      ...(s.conditionChanged ? ["~ condition changed"] : []),
    ];
    facts.push(`${s.effect} ${s.sid}: ${parts.join(", ")}`);
  }
  return {
    address: rc.address,
    type: rc.type,
    action,
    direction: widens ? "widens" : narrows ? "narrows" : "changes",
    facts,
    policyDiff: lineDiff(pretty(before), pretty(after)),
  };
}

function fieldChanges(rc: ResourceChange, fields: string[]): string[] {
  const facts: string[] = [];
  for (const field of fields) {
    const before = rc.change.before?.[field];
    const unknown = rc.change.after_unknown?.[field] === true;
    const after = unknown ? UNKNOWN : rc.change.after?.[field];
    if (JSON.stringify(before) !== JSON.stringify(after)) facts.push(`${field}: ${JSON.stringify(before ?? null)} → ${unknown ? UNKNOWN : JSON.stringify(after ?? null)}`);
  }
  return facts;
}

function notificationRules(value: Json): string[] {
  return asList(value?.lambda_function).map(
    (r: Json) => `${asList(r.events).join(",")} prefix=${JSON.stringify(r.filter_prefix ?? "")} suffix=${JSON.stringify(r.filter_suffix ?? "")}`,
  );
}

function accessChange(rc: ResourceChange, action: Action): AccessChange | undefined {
  switch (rc.type) {
    case "aws_iam_role_policy":
    case "aws_iam_policy":
    case "aws_s3_bucket_policy":
    case "aws_sqs_queue_policy":
      return policyChange(rc, "policy", action);
    case "aws_iam_role":
      return policyChange(rc, "assume_role_policy", action);
    case "aws_lambda_permission": {
      const facts = fieldChanges(rc, ["action", "principal", "source_arn", "source_account", "qualifier", "function_name"]);
      if (facts.length === 0) return undefined;
      const direction = action === "delete" ? "narrows" : action === "create" ? "widens" : "changes";
      return { address: rc.address, type: rc.type, action, direction, facts };
    }
    case "aws_s3_bucket_public_access_block": {
      const fields = ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"];
      const facts = fieldChanges(rc, fields);
      if (facts.length === 0) return undefined;
      const opened = action === "delete" || fields.some((f) => rc.change.before?.[f] === true && rc.change.after?.[f] === false);
      return { address: rc.address, type: rc.type, action, direction: opened ? "widens" : "narrows", facts };
    }
    case "aws_s3_bucket_notification": {
      const before = notificationRules(rc.change.before);
      const after = notificationRules(rc.change.after);
      const facts = [...minus(before, after).map((r) => `- rule ${r}`), ...minus(after, before).map((r) => `+ rule ${r}`)];
      if (JSON.stringify(rc.change.before?.bucket) !== JSON.stringify(rc.change.after?.bucket) && rc.change.before) {
        facts.push(`bucket: ${JSON.stringify(rc.change.before?.bucket)} → ${JSON.stringify(rc.change.after?.bucket)}`);
      }
      if (facts.length === 0) return undefined;
      return { address: rc.address, type: rc.type, action, direction: "changes", facts };
    }
    default:
      return undefined;
  }
}

export function summarizePlan(plan: Json): PlanSummary {
  const changes: PlanSummary["changes"] = [];
  const access: AccessChange[] = [];
  const dangers: string[] = [];
  const counts = { add: 0, change: 0, replace: 0, destroy: 0 };
  for (const rc of (plan.resource_changes ?? []) as ResourceChange[]) {
    if (rc.mode !== "managed") continue;
    const action = actionOf(rc.change.actions);
    if (action === "no-op" || action === "read") continue;
    if (action === "create") counts.add++;
    if (action === "update") counts.change++;
    if (action === "replace") counts.replace++;
    if (action === "delete") counts.destroy++;
    changes.push({ address: rc.address, type: rc.type, action, reason: rc.action_reason });
    const a = accessChange(rc, action);
    if (a) access.push(a);
    if ((action === "delete" || action === "replace") && rc.type === "aws_s3_bucket") {
      const name = rc.change.before?.bucket ?? rc.address;
      const forced = asList(rc.change.replace_paths).map((p: Json) => asList(p).join(".")).join(", ");
      dangers.push(
        `${action === "delete" ? "DESTROYS" : "REPLACES"} the bucket \`${name}\` (${rc.address})${forced ? `, because of a change to ${forced}` : ""}: ` +
          `its objects${/index/.test(name) ? ", the index itself," : ""} would be lost or the apply would fail on a non-empty bucket.`,
      );
    }
  }
  return { counts, changes, access, dangers };
}

export function renderMarkdown(stack: string, summary: PlanSummary): string {
  const { counts } = summary;
  const lines: string[] = [];
  lines.push(`### Terraform plan: \`${stack}\``);
  lines.push("");
  lines.push(`**${counts.add} to add, ${counts.change} to change, ${counts.replace} to replace, ${counts.destroy} to destroy.**`);
  lines.push("");
  for (const danger of summary.dangers) lines.push(`> [!CAUTION]\n> ${danger}\n`);
  if (summary.changes.length === 0) {
    lines.push("No changes: the infrastructure matches the configuration.");
    return lines.join("\n") + "\n";
  }
  lines.push(`#### Access changes (${summary.access.length})`);
  lines.push("");
  if (summary.access.length === 0) lines.push("None: no IAM policy, permission, bucket policy, public access block or notification changes.");
  for (const a of summary.access) {
    const mark = a.direction === "widens" ? "⚠️ **widens access**" : a.direction === "narrows" ? "narrows access" : "changes";
    lines.push(`- \`${SYMBOL[a.action]}\` \`${a.address}\`: ${mark}`);
    for (const fact of a.facts) lines.push(`  - ${fact}`);
    if (a.policyDiff && a.action !== "create") {
      lines.push("", "  <details><summary>policy document diff</summary>", "", "  ```diff");
      for (const l of a.policyDiff.split("\n")) lines.push(`  ${l}`);
      lines.push("  ```", "  </details>", "");
    }
  }
  lines.push("");
  lines.push(`#### Changed resources (${summary.changes.length})`);
  lines.push("");
  lines.push("| | action | resource | type |");
  lines.push("| --- | --- | --- | --- |");
  for (const c of summary.changes) {
    lines.push(`| \`${SYMBOL[c.action]}\` | ${c.action}${c.reason ? ` (${c.reason})` : ""} | \`${c.address}\` | ${c.type} |`);
  }
  return lines.join("\n") + "\n";
}
