/**
 * A pull-request comment from `terraform show -json` of a plan: what changes, and above all what changes
 * who may do what. Pure: plan JSON in, Markdown out. Works on any plan (this stack or another); the rules
 * per resource type are in access.ts, the policy comparison in policy-compare.ts.
 */
import { accessChanges, dangerOf, homeAccounts, type AccessChange } from "./access";
import { actionOf, PlanContext, type Action, type PlanJson, type ResourceChange } from "./plan-json";

export { actionOf, parsePlanJson, PlanFormatError, type Action, type ResourceChange } from "./plan-json";
export { comparePolicies, lineDiff, parsePolicy } from "./policy-compare";
export type { AccessChange, Direction } from "./access";

export interface PlanSummary {
  readonly counts: { add: number; change: number; replace: number; destroy: number };
  readonly changes: Array<{ address: string; type: string; action: Action; reason?: string }>;
  /** Widening first, then unverifiable, changes, narrowing; plan order within each. */
  readonly access: AccessChange[];
  readonly dangers: string[];
  /** Terraform reported the plan as errored (incomplete): the summary may miss changes. */
  readonly errored: boolean;
}

const SYMBOL: Record<Action, string> = { create: "+", update: "~", replace: "-/+", delete: "-", "no-op": " ", read: "<=" };
const ORDER = { widens: 0, unverifiable: 1, changes: 2, narrows: 3 } as const;

export function summarizePlan(plan: PlanJson): PlanSummary {
  const ctx = new PlanContext(plan);
  const home = homeAccounts(ctx);
  const changes: PlanSummary["changes"] = [];
  const access: AccessChange[] = [];
  const dangers: string[] = [];
  const counts = { add: 0, change: 0, replace: 0, destroy: 0 };
  for (const rc of ctx.resourceChanges as ResourceChange[]) {
    if (rc.mode !== "managed") continue;
    const action = actionOf(rc.change.actions);
    if (action === "no-op" || action === "read") continue;
    if (action === "create") counts.add++;
    if (action === "update") counts.change++;
    if (action === "replace") counts.replace++;
    if (action === "delete") counts.destroy++;
    changes.push({ address: rc.address, type: rc.type, action, reason: rc.action_reason });
    access.push(...accessChanges(ctx, rc, action, home));
    const danger = dangerOf(ctx, rc, action);
    if (danger) dangers.push(danger);
  }
  const sorted = access.map((a, i) => [a, i] as const).sort(([a, i], [b, j]) => ORDER[a.direction] - ORDER[b.direction] || i - j).map(([a]) => a);
  return { counts, changes, access: sorted, dangers, errored: plan.errored === true };
}

/** Text from a plan inside Markdown: no HTML (a value must not open or close a block of the comment). */
const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const code = (text: string) => `\`${text.replace(/`/g, "'")}\``;

const MARK = {
  widens: "⚠️ **widens access**",
  unverifiable: "❔ **unverifiable until apply**",
  changes: "changes",
  narrows: "narrows access",
} as const;

export function renderMarkdown(stack: string, summary: PlanSummary): string {
  const { counts } = summary;
  const lines: string[] = [];
  lines.push(`### Terraform plan: ${code(stack)}`);
  lines.push("");
  lines.push(`**${counts.add} to add, ${counts.change} to change, ${counts.replace} to replace, ${counts.destroy} to destroy.**`);
  lines.push("");
  if (summary.errored) lines.push("> [!WARNING]", "> Terraform reported this plan as errored: it is incomplete, and so may be this summary.", "");
  const widening = summary.access.filter((a) => a.direction === "widens").length;
  const unverifiable = summary.access.filter((a) => a.direction === "unverifiable").length;
  if (widening + unverifiable > 0) {
    const parts = [widening > 0 ? `**${widening} ${widening === 1 ? "change widens" : "changes widen"} access**` : "", unverifiable > 0 ? `**${unverifiable} cannot be verified until apply**` : ""];
    lines.push("> [!WARNING]", `> ${parts.filter(Boolean).join("; ")}: review each below before approving.`, "");
  }
  for (const danger of summary.dangers) lines.push("> [!CAUTION]", `> ${escape(danger)}`, "");
  if (summary.changes.length === 0) {
    lines.push("No changes: the infrastructure matches the configuration.");
    return lines.join("\n") + "\n";
  }
  lines.push(`#### Access changes (${summary.access.length})`);
  lines.push("");
  if (summary.access.length === 0) {
    lines.push("None: no change to IAM or resource policies, attachments, permissions, public access, ownership, ACLs, encryption, versioning or event destinations.");
  }
  for (const a of summary.access) {
    lines.push(`- ${code(SYMBOL[a.action])} ${code(a.address)}: ${MARK[a.direction]}: ${escape(a.subject)}`);
    for (const warning of a.warnings) lines.push(`  - ⚠️ ${escape(warning)}`);
    for (const fact of a.facts) lines.push(`  - ${escape(fact)}`);
    if (a.policyDiff && a.action !== "create" && a.policyDiff.trim() !== "") {
      lines.push("", "  <details><summary>policy document diff</summary>", "", "  ```diff");
      for (const l of a.policyDiff.split("\n")) lines.push(`  ${l.replace(/`/g, "'")}`);
      lines.push("  ```", "", "  </details>", "");
    }
  }
  lines.push("");
  lines.push(`#### Changed resources (${summary.changes.length})`);
  lines.push("");
  lines.push("| | action | resource | type |");
  lines.push("| --- | --- | --- | --- |");
  for (const c of summary.changes) {
    lines.push(`| ${code(SYMBOL[c.action])} | ${c.action}${c.reason ? ` (${escape(c.reason)})` : ""} | ${code(c.address)} | ${escape(c.type)} |`);
  }
  return lines.join("\n") + "\n";
}
