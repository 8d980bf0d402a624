/**
 * Which planned changes can change who may do what, and how: one classifier per resource type, each
 * reporting the exact difference. Everything here reads plan JSON only (no AWS, no configuration files),
 * so it works on any plan, of this stack or another.
 */
import { ENV } from "../../lambda/contract";
import { asList, isUnknown, type Action, type Json, type PlanContext, type ResourceChange } from "./plan-json";
import { comparePolicies, lineDiff, parsePolicy, PolicyParseError, type Direction, type Statement } from "./policy-compare";

export type { Direction } from "./policy-compare";

export interface AccessChange {
  readonly address: string;
  readonly type: string;
  readonly action: Action;
  /** What the change is about, e.g. "inline policy `least-privilege` of role `x`". */
  readonly subject: string;
  /**
   * "widens": something may now do more; "narrows": less; "unverifiable": part of it is known only after
   * apply and could widen; "changes": neither.
   */
  readonly direction: Direction;
  /** One line per changed fact. */
  readonly facts: string[];
  /** Why a reviewer should look twice (rendered with ⚠️). */
  readonly warnings: string[];
  /** For policy documents: a line diff of the pretty-printed JSON. */
  readonly policyDiff?: string;
}

type Doc = { raw: Json; statements: Statement[] };

const str = (v: unknown) => (v === undefined || v === null ? "null" : isUnknown(v) ? String(v) : JSON.stringify(v));
const pretty = (doc: Doc | undefined) => (doc ? JSON.stringify(doc.raw, null, 2) : "");
const minus = <T>(a: readonly T[], b: readonly T[]) => a.filter((x) => !b.includes(x));
const removes = (action: Action) => action === "delete";

/** IAM JSON from the planned values of an aws_iam_policy_document data source. */
function documentFromDataSource(values: Json): Json {
  const cap = (s: unknown) => (typeof s === "string" && s ? s[0].toUpperCase() + s.slice(1).toLowerCase() : "Allow");
  const one = (list: Json) => (Array.isArray(list) && list.length === 1 ? list[0] : list);
  const principals = (blocks: Json) => {
    const out: Record<string, string[]> = {};
    for (const p of asList<Json>(blocks)) out[p.type] = [...(out[p.type] ?? []), ...asList<string>(p.identifiers)];
    if (out["*"]) return "*";
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, one(v)]));
  };
  return {
    Version: values.version ?? "2012-10-17",
    Statement: asList<Json>(values.statement).map((st) => {
      const s: Json = {};
      if (st.sid) s.Sid = st.sid;
      s.Effect = cap(st.effect);
      if (asList(st.principals).length > 0) s.Principal = principals(st.principals);
      if (asList(st.not_principals).length > 0) s.NotPrincipal = principals(st.not_principals);
      if (st.actions && asList(st.actions).length > 0) s.Action = one(st.actions);
      if (st.not_actions && asList(st.not_actions).length > 0) s.NotAction = one(st.not_actions);
      if (st.resources && asList(st.resources).length > 0) s.Resource = one(st.resources);
      if (st.not_resources && asList(st.not_resources).length > 0) s.NotResource = one(st.not_resources);
      if (asList(st.condition).length > 0) {
        s.Condition = {};
        for (const c of asList<Json>(st.condition)) s.Condition[c.test] = { ...(s.Condition[c.test] ?? {}), [c.variable]: one(c.values) };
      }
      return s;
    }),
  };
}

interface Side {
  doc?: Doc;
  /** Set when the document cannot be read: why. */
  problem?: string;
  /** A note on how the document is shown (e.g. rebuilt from its data source). */
  note?: string;
}

function parseSide(text: unknown, what: string): Side {
  if (text === undefined || text === null || text === "") return {};
  try {
    return { doc: parsePolicy(text) };
  } catch (error) {
    if (error instanceof PolicyParseError) return { problem: `${what} is not readable: ${error.message}` };
    throw error;
  }
}

/** The planned document of a policy attribute, with its unknown parts marked instead of hidden. */
function afterSide(ctx: PlanContext, rc: ResourceChange, field: string, after: Json): Side {
  if (rc.change.after_unknown?.[field] !== true) return parseSide(after?.[field], field);
  const source = ctx.dataSourceOf(rc, [field], "aws_iam_policy_document");
  if (source) {
    const values = ctx.afterWithUnknowns(source);
    const merged = ["source_policy_documents", "override_policy_documents", "source_json", "override_json"].filter(
      (k) => asList(values[k]).length > 0,
    );
    const note =
      `${field}: known after apply; shown from ${source.address}, unknown parts marked ⟨…⟩` +
      (merged.length > 0 ? ` (it also merges ${merged.join(", ")}, not shown)` : "");
    return { doc: parsePolicy(documentFromDataSource(values)), note };
  }
  return { problem: `${field}: ${ctx.describeUnknown(rc.address, [field])}` };
}

/** The comparison of one policy attribute of a resource. */
function policyAttribute(ctx: PlanContext, rc: ResourceChange, action: Action, field: string, subject: string, after: Json): AccessChange | undefined {
  const before = parseSide(rc.change.before?.[field], field);
  const next = removes(action) ? {} : afterSide(ctx, rc, field, after);
  const facts: string[] = [];
  if (next.note) facts.push(next.note);
  if (before.problem) facts.push(`before: ${before.problem}`);
  if (next.problem) facts.push(next.problem);
  if (next.problem || before.problem) {
    // What cannot be read is never passed, nor compared as if it were empty: unverifiable, with the reason.
    return { address: rc.address, type: rc.type, action, subject, direction: "unverifiable", facts, warnings: [] };
  }
  const comparison = comparePolicies(before.doc?.statements, next.doc?.statements, { updated: action === "update" || action === "replace" });
  if (!comparison.direction) return undefined;
  return {
    address: rc.address, type: rc.type, action, subject,
    direction: comparison.direction,
    facts: [...facts, ...comparison.facts],
    warnings: comparison.warnings,
    policyDiff: lineDiff(pretty(before.doc), pretty(next.doc)),
  };
}

/** Field-by-field changes, `field: before → after` (unknown values described). */
function fieldFacts(rc: ResourceChange, after: Json, fields: readonly string[]): string[] {
  const facts: string[] = [];
  for (const field of fields) {
    const b = rc.change.before?.[field] ?? null;
    const a = after?.[field] ?? null;
    if (JSON.stringify(b) !== JSON.stringify(a)) facts.push(`${field}: ${str(b)} → ${str(a)}`);
  }
  return facts;
}

const name = (rc: ResourceChange, after: Json, ...fields: string[]) => {
  for (const f of fields) {
    const v = after?.[f] ?? rc.change.before?.[f];
    if (v !== undefined && v !== null && v !== "") return String(v);
  }
  return "(not set)";
};

const RISKY_MANAGED = /^arn:aws[\w-]*:iam::aws:policy\/(?:.*\/)?(AdministratorAccess|PowerUserAccess|IAMFullAccess|[\w-]*FullAccess[\w-]*)$/;

function managedPolicyWarnings(arns: readonly string[]): string[] {
  return arns.flatMap((arn) => {
    const m = RISKY_MANAGED.exec(arn);
    return m ? [`${arn} is an AWS managed policy granting ${m[1] === "AdministratorAccess" ? "every action on every resource" : `broad access (${m[1]})`}`] : [];
  });
}

/** A set of policy ARNs attached to something: added ones widen, removed ones narrow. */
function attachmentSet(rc: ResourceChange, action: Action, subject: string, before: readonly string[], after: readonly string[]): AccessChange | undefined {
  const added = minus(after, before);
  const removed = minus(before, after);
  if (added.length === 0 && removed.length === 0) return undefined;
  return {
    address: rc.address, type: rc.type, action, subject,
    direction: added.length > 0 ? "widens" : "narrows",
    facts: [...added.map((a) => `+ attaches ${a}`), ...removed.map((r) => `- detaches ${r}`)],
    warnings: [
      ...managedPolicyWarnings(added),
      ...added.filter(isUnknown).map((a) => `the attached policy ${a} is known only after apply: review its document where it is defined`),
    ],
  };
}

/** The statement Lambda adds to a function's resource policy for an aws_lambda_permission. */
function permissionStatement(values: Json): Json | undefined {
  if (!values) return undefined;
  const principal = String(values.principal ?? "");
  const condition: Json = {};
  if (values.source_arn) condition.ArnLike = { "AWS:SourceArn": values.source_arn };
  if (values.source_account) condition.StringEquals = { ...(condition.StringEquals ?? {}), "AWS:SourceAccount": values.source_account };
  if (values.principal_org_id) condition.StringEquals = { ...(condition.StringEquals ?? {}), "aws:PrincipalOrgID": values.principal_org_id };
  if (values.event_source_token) condition.StringEquals = { ...(condition.StringEquals ?? {}), "lambda:EventSourceToken": values.event_source_token };
  if (values.function_url_auth_type) condition.StringEquals = { ...(condition.StringEquals ?? {}), "lambda:FunctionUrlAuthType": values.function_url_auth_type };
  const fn = String(values.function_name ?? "");
  const qualified = values.qualifier ? `${fn}:${values.qualifier}` : fn;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: values.statement_id ?? "permission",
        Effect: "Allow",
        Principal: principal === "*" ? "*" : principal.endsWith(".amazonaws.com") || isUnknown(principal) ? { Service: principal } : { AWS: principal },
        Action: values.action,
        Resource: fn.startsWith("arn:") ? qualified : `function:${qualified}`,
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      },
    ],
  };
}

const PUBLIC_ACLS = ["public-read", "public-read-write", "authenticated-read"];
const PUBLIC_GRANTEES = /acs\.amazonaws\.com\/groups\/global\/(AllUsers|AuthenticatedUsers)/;

function aclGrants(values: Json): string[] {
  const grants = asList<Json>(values?.access_control_policy).flatMap((p) => asList<Json>(p.grant));
  return grants.flatMap((g) => asList<Json>(g.grantee).map((e) => `${e.uri ?? e.id ?? e.email_address ?? e.type}:${g.permission}`));
}

function sseOf(values: Json): { algorithm?: string; key?: string } {
  const rule = asList<Json>(values?.rule)[0];
  const def = asList<Json>(rule?.apply_server_side_encryption_by_default)[0];
  return { algorithm: def?.sse_algorithm, key: def?.kms_master_key_id || undefined };
}

interface Destination {
  readonly kind: "lambda" | "queue" | "topic" | "eventbridge";
  readonly target: string;
  readonly rule: string;
}

function destinations(values: Json): Destination[] {
  if (!values) return [];
  const rules = (list: Json, kind: Destination["kind"], arnField: string) =>
    asList<Json>(list).map((r) => ({
      kind,
      target: String(r[arnField] ?? "⟨known after apply⟩"),
      rule: `${asList(r.events).join(",")} prefix=${JSON.stringify(r.filter_prefix ?? "")} suffix=${JSON.stringify(r.filter_suffix ?? "")}`,
    }));
  return [
    ...rules(values.lambda_function, "lambda", "lambda_function_arn"),
    ...rules(values.queue, "queue", "queue_arn"),
    ...rules(values.topic, "topic", "topic_arn"),
    ...(values.eventbridge === true ? [{ kind: "eventbridge" as const, target: "the default event bus", rule: "every event of the bucket" }] : []),
  ];
}

const accountOf = (arn: string) => /^arn:aws[\w-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):/.exec(arn)?.[1];

function destinationWarnings(d: Destination, homeAccounts: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const account = accountOf(d.target);
  if (account && homeAccounts.size > 0 && !homeAccounts.has(account)) out.push(`${d.kind} ${d.target} is in another account (${account}): the bucket's events leave the account`);
  if (d.kind === "lambda") {
    const parts = d.target.split(":");
    const unqualifiedRef = /⟨(?:known after apply: )?(?:[\w.-]+\.)?aws_lambda_function\.[^.⟩]+\.arn⟩$/.test(d.target);
    if ((d.target.startsWith("arn:") && (parts.length === 7 || parts[7] === "$LATEST")) || unqualifiedRef) {
      out.push(`S3 would invoke the unqualified function ${d.target}, i.e. its $LATEST code, not a published alias or version`);
    }
  }
  if (d.kind === "eventbridge") out.push("every event of the bucket is sent to EventBridge, where any rule of the account can route it");
  return out;
}

/** Accounts the plan's own resources live in (from their ARNs), to tell another account apart. */
export function homeAccounts(ctx: PlanContext): Set<string> {
  const accounts = new Set<string>();
  for (const rc of ctx.resourceChanges) {
    if (rc.type === "aws_s3_bucket_notification") continue;
    for (const values of [rc.change.before, rc.change.after]) {
      for (const key of ["arn", "role", "source_account"]) {
        const v = values?.[key];
        if (typeof v !== "string") continue;
        const account = /^\d{12}$/.test(v) ? v : accountOf(v);
        if (account) accounts.add(account);
      }
    }
  }
  return accounts;
}

/** Every access change of one planned resource change (none for most types). */
export function accessChanges(ctx: PlanContext, rc: ResourceChange, action: Action, home: ReadonlySet<string>): AccessChange[] {
  const after = removes(action) ? null : ctx.afterWithUnknowns(rc);
  const policy = (field: string, subject: string) => {
    const c = policyAttribute(ctx, rc, action, field, subject, after);
    return c ? [c] : [];
  };
  const base = { address: rc.address, type: rc.type, action };
  switch (rc.type) {
    case "aws_iam_role_policy":
      return policy("policy", `inline policy \`${name(rc, after, "name")}\` of role \`${name(rc, after, "role")}\``);
    case "aws_iam_policy":
      return policy("policy", `managed policy \`${name(rc, after, "name", "arn")}\` (every role it is attached to)`);
    case "aws_iam_role_policy_attachment": {
      const role = name(rc, after, "role");
      const c = attachmentSet(rc, action, `policies attached to role \`${role}\``, asList(rc.change.before?.policy_arn), asList(after?.policy_arn));
      return c ? [c] : [];
    }
    case "aws_iam_policy_attachment": {
      const arn = name(rc, after, "policy_arn");
      const out: AccessChange[] = [];
      for (const kind of ["roles", "users", "groups"]) {
        const b = asList<string>(rc.change.before?.[kind]);
        const a = asList<string>(after?.[kind]);
        const added = minus(a, b);
        const removed = minus(b, a);
        if (added.length + removed.length === 0) continue;
        out.push({
          ...base, subject: `${kind} that have ${arn} attached`,
          direction: added.length > 0 ? "widens" : "narrows",
          facts: [...added.map((x) => `+ ${kind.slice(0, -1)} ${x}`), ...removed.map((x) => `- ${kind.slice(0, -1)} ${x}`)],
          warnings: added.length > 0 ? managedPolicyWarnings([arn]) : [],
        });
      }
      return out;
    }
    case "aws_iam_role_policy_attachments_exclusive": {
      const c = attachmentSet(rc, action, `policies attached to role \`${name(rc, after, "role_name")}\` (exclusive)`, asList(rc.change.before?.policy_arns), asList(after?.policy_arns));
      return c ? [c] : [];
    }
    case "aws_iam_role": {
      const role = name(rc, after, "name");
      const out: AccessChange[] = policy("assume_role_policy", `trust policy of role \`${role}\` (who may assume it)`);
      // Computed when not configured: compare only what the plan knows on both sides.
      const configured = (field: string) => ctx.expression(rc.address, [field]) !== undefined;
      if (configured("managed_policy_arns") || (rc.change.before && removes(action) === false && Array.isArray(after?.managed_policy_arns) && Array.isArray(rc.change.before.managed_policy_arns))) {
        const b = asList<string>(rc.change.before?.managed_policy_arns);
        const a = Array.isArray(after?.managed_policy_arns) ? after.managed_policy_arns : isUnknown(after?.managed_policy_arns) ? [after.managed_policy_arns] : [];
        const c = attachmentSet(rc, action, `managed policies of role \`${role}\` (managed_policy_arns)`, b, a);
        if (c) out.push(c);
      }
      const inline = (values: Json) => new Map<string, Json>(asList<Json>(Array.isArray(values?.inline_policy) ? values.inline_policy : []).filter((p) => p?.name).map((p) => [p.name, p.policy]));
      const ib = inline(rc.change.before);
      const ia = removes(action) ? new Map<string, Json>() : inline(after);
      for (const policyName of new Set([...ib.keys(), ...ia.keys()])) {
        const b = parseSide(ib.get(policyName), "inline_policy");
        const a = parseSide(isUnknown(ia.get(policyName)) ? undefined : ia.get(policyName), "inline_policy");
        const comparison = comparePolicies(b.doc?.statements, a.doc?.statements, { updated: ib.has(policyName) && ia.has(policyName) });
        const unknown = isUnknown(ia.get(policyName));
        if (!comparison.direction && !unknown) continue;
        out.push({
          ...base, subject: `inline_policy \`${policyName}\` of role \`${role}\``,
          direction: comparison.direction === "widens" ? "widens" : unknown ? "unverifiable" : comparison.direction!,
          facts: [...(unknown ? [`policy: ${ia.get(policyName)}`] : []), ...comparison.facts],
          warnings: comparison.warnings,
          policyDiff: lineDiff(pretty(b.doc), pretty(a.doc)),
        });
      }
      const pb = rc.change.before?.permissions_boundary ?? null;
      const pa = removes(action) ? pb : (after?.permissions_boundary ?? null);
      if (rc.change.before && pb !== pa) {
        out.push({
          ...base, subject: `permissions boundary of role \`${role}\``,
          direction: pa === null ? "widens" : pb === null ? "narrows" : "unverifiable",
          facts: [`permissions_boundary: ${str(pb)} → ${str(pa)}`],
          warnings: pa === null ? ["the role's permissions boundary is removed: only its own policies limit it now"] : [],
        });
      }
      return out;
    }
    case "aws_s3_bucket_policy":
      return policy("policy", `bucket policy of \`${name(rc, after, "bucket")}\``);
    case "aws_sqs_queue_policy":
      return policy("policy", `queue policy of \`${name(rc, after, "queue_url")}\``);
    case "aws_sns_topic_policy":
      return policy("policy", `topic policy of \`${name(rc, after, "arn")}\``);
    case "aws_kms_key_policy":
      return policy("policy", `key policy of \`${name(rc, after, "key_id")}\``);
    case "aws_kms_key":
    case "aws_s3_bucket":
    case "aws_sqs_queue":
    case "aws_sns_topic": {
      // The inline policy attribute, compared only when the plan knows it (it is computed when not set).
      if (rc.change.after_unknown?.policy === true && ctx.expression(rc.address, ["policy"]) === undefined) return [];
      if (!rc.change.before?.policy && !after?.policy) return [];
      const what = { aws_s3_bucket: "bucket", aws_sqs_queue: "queue", aws_sns_topic: "topic", aws_kms_key: "key" }[rc.type];
      return policy("policy", `${what} policy of \`${name(rc, after, "bucket", "name", "description", "key_id")}\` (policy attribute)`);
    }
    case "aws_lambda_permission": {
      const before = permissionStatement(rc.change.before);
      const next = removes(action) ? undefined : permissionStatement(after);
      const comparison = comparePolicies(before ? parsePolicy(before).statements : undefined, next ? parsePolicy(next).statements : undefined, {
        updated: action === "update" || action === "replace",
      });
      const facts = fieldFacts(rc, after, ["action", "principal", "source_arn", "source_account", "principal_org_id", "event_source_token", "qualifier", "function_name", "function_url_auth_type"]);
      if (!comparison.direction && facts.length === 0) return [];
      const warnings = [...comparison.warnings];
      if (after && String(after.principal ?? "").endsWith(".amazonaws.com") && (!after.source_arn || !after.source_account)) {
        warnings.push(`the service ${after.principal} may invoke the function on behalf of ${!after.source_arn && !after.source_account ? "any resource of any account" : !after.source_arn ? "any resource" : "any account"}: source_arn and source_account should both be set`);
      }
      return [{ ...base, subject: `resource policy of function \`${name(rc, after, "function_name")}\``, direction: comparison.direction ?? "changes", facts, warnings, policyDiff: lineDiff(before ? JSON.stringify(before, null, 2) : "", next ? JSON.stringify(next, null, 2) : "") }];
    }
    case "aws_lambda_function_url": {
      const facts = fieldFacts(rc, after, ["authorization_type", "qualifier", "function_name"]);
      if (facts.length === 0) return [];
      const open = after?.authorization_type === "NONE";
      return [{ ...base, subject: `function URL of \`${name(rc, after, "function_name")}\``, direction: open ? "widens" : removes(action) ? "narrows" : "changes", facts, warnings: open ? ["the function URL needs no authentication: anyone on the internet may call it"] : [] }];
    }
    case "aws_s3_bucket_public_access_block": {
      const fields = ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"];
      const facts = fieldFacts(rc, after, fields);
      if (facts.length === 0) return [];
      const opened = removes(action) ? fields.filter((f) => rc.change.before?.[f] === true) : fields.filter((f) => rc.change.before?.[f] === true && after?.[f] !== true);
      return [{
        ...base, subject: `public access block of \`${name(rc, after, "bucket")}\``,
        direction: opened.length > 0 ? "widens" : "narrows",
        facts,
        warnings: opened.length > 0 ? [`public access is no longer blocked (${opened.join(", ")}): a public policy or ACL would take effect`] : [],
      }];
    }
    case "aws_s3_bucket_ownership_controls": {
      const own = (v: Json) => asList<Json>(v?.rule)[0]?.object_ownership ?? null;
      const b = own(rc.change.before);
      const a = removes(action) ? null : own(after);
      if (b === a) return [];
      const aclsOn = b === "BucketOwnerEnforced" || (b === null && removes(action));
      return [{
        ...base, subject: `object ownership of \`${name(rc, after, "bucket")}\``,
        direction: aclsOn && a !== "BucketOwnerEnforced" ? "widens" : a === "BucketOwnerEnforced" ? "narrows" : "changes",
        facts: [`object_ownership: ${str(b)} → ${removes(action) ? "(controls deleted)" : str(a)}`],
        warnings: b === "BucketOwnerEnforced" && a !== "BucketOwnerEnforced" ? ["ACLs are back on: object and bucket ACLs grant access again, and writers from other accounts own their objects"] : [],
      }];
    }
    case "aws_s3_bucket_acl": {
      const acl = (v: Json) => v?.acl ?? null;
      const gb = aclGrants(rc.change.before);
      const ga = removes(action) ? [] : aclGrants(after);
      const facts = [...(acl(rc.change.before) !== acl(after) ? [`acl: ${str(acl(rc.change.before))} → ${str(removes(action) ? null : acl(after))}`] : []), ...minus(ga, gb).map((g) => `+ grant ${g}`), ...minus(gb, ga).map((g) => `- grant ${g}`)];
      if (facts.length === 0) return [];
      const publicNow = PUBLIC_ACLS.includes(acl(after)) || minus(ga, gb).some((g) => PUBLIC_GRANTEES.test(g));
      return [{
        ...base, subject: `ACL of \`${name(rc, after, "bucket")}\``,
        direction: publicNow || minus(ga, gb).length > 0 ? "widens" : removes(action) || minus(gb, ga).length > 0 ? "narrows" : "changes",
        facts,
        warnings: publicNow ? ["the ACL grants access to everyone (AllUsers) or every AWS account (AuthenticatedUsers)"] : [],
      }];
    }
    case "aws_s3_bucket_server_side_encryption_configuration": {
      const b = sseOf(rc.change.before);
      const a = removes(action) ? {} : sseOf(after);
      if (b.algorithm === a.algorithm && b.key === a.key) return [];
      const kmsBefore = String(b.algorithm ?? "").startsWith("aws:kms");
      const kmsAfter = String(a.algorithm ?? "").startsWith("aws:kms");
      const warnings: string[] = [];
      if (rc.change.before && !a.algorithm) warnings.push("default encryption configuration removed" + (kmsBefore ? ": new objects are no longer encrypted with the KMS key, so reading them no longer needs kms:Decrypt" : " (S3 still applies SSE-S3)"));
      else if (kmsBefore && !kmsAfter) warnings.push(`encryption downgraded from ${b.algorithm} to ${a.algorithm}: reading new objects no longer needs kms:Decrypt on the key`);
      return [{
        ...base, subject: `default encryption of \`${name(rc, after, "bucket")}\``,
        direction: kmsBefore && !kmsAfter ? "widens" : !kmsBefore && kmsAfter ? "narrows" : "changes",
        facts: [`sse_algorithm: ${str(b.algorithm ?? null)} → ${str(a.algorithm ?? null)}`, ...(b.key !== a.key ? [`kms_master_key_id: ${str(b.key ?? null)} → ${str(a.key ?? null)}`] : [])],
        warnings,
      }];
    }
    case "aws_s3_bucket_versioning": {
      const status = (v: Json) => asList<Json>(v?.versioning_configuration)[0]?.status ?? null;
      const b = status(rc.change.before);
      const a = removes(action) ? null : status(after);
      if (b === a) return [];
      return [{
        ...base, subject: `versioning of \`${name(rc, after, "bucket")}\``,
        direction: "changes",
        facts: [`status: ${str(b)} → ${removes(action) ? "(configuration deleted)" : str(a)}`],
        warnings: b === "Enabled" && a !== "Enabled" ? ["versioning is turned off: overwritten and deleted objects can no longer be recovered"] : [],
      }];
    }
    case "aws_s3_bucket_notification": {
      const db = destinations(rc.change.before);
      const da = removes(action) ? [] : destinations(after);
      const text = (d: Destination) => `${d.kind} ${d.target}: ${d.rule}`;
      const tb = db.map(text);
      const ta = da.map(text);
      const facts = [...minus(tb, ta).map((t) => `- ${t}`), ...minus(ta, tb).map((t) => `+ ${t}`)];
      const bucketBefore = rc.change.before?.bucket;
      if (bucketBefore !== undefined && after && bucketBefore !== after.bucket) facts.push(`bucket: ${str(bucketBefore)} → ${str(after.bucket)}`);
      if (facts.length === 0) return [];
      const targetsBefore = db.map((d) => `${d.kind} ${d.target}`);
      const newTargets = da.filter((d) => !targetsBefore.includes(`${d.kind} ${d.target}`));
      const goneTargets = db.filter((d) => !da.some((x) => x.kind === d.kind && x.target === d.target));
      return [{
        ...base, subject: `event destinations of bucket \`${name(rc, after, "bucket")}\``,
        direction: newTargets.length > 0 ? "widens" : goneTargets.length > 0 ? "narrows" : "changes",
        facts,
        warnings: [...new Set(newTargets.flatMap((d) => destinationWarnings(d, home)))],
      }];
    }
    default:
      return [];
  }
}

/** The index bucket(s): the functions' INDEX_BUCKET. */
function indexBuckets(ctx: PlanContext): Set<string> {
  const out = new Set<string>();
  for (const rc of ctx.resourceChanges.filter((r) => r.type === "aws_lambda_function")) {
    for (const v of [rc.change.before, rc.change.after]) {
      const bucket = asList<Json>(v?.environment)[0]?.variables?.[ENV.indexBucket];
      if (typeof bucket === "string") out.add(bucket);
    }
  }
  return out;
}

/** Buckets whose events the plan's notifications deliver. */
function watchedBuckets(ctx: PlanContext): Set<string> {
  const out = new Set<string>();
  for (const rc of ctx.resourceChanges.filter((r) => r.type === "aws_s3_bucket_notification")) {
    for (const v of [rc.change.before, rc.change.after]) if (typeof v?.bucket === "string") out.add(v.bucket);
  }
  return out;
}

/** Queues that receive failed events (on-failure destinations, dead-letter queues), by ARN. */
function failureQueues(ctx: PlanContext): Set<string> {
  const out = new Set<string>();
  for (const rc of ctx.resourceChanges) {
    for (const v of [rc.change.before, rc.change.after]) {
      for (const cfg of asList<Json>(v?.destination_config)) for (const f of asList<Json>(cfg.on_failure)) if (f.destination) out.add(f.destination);
      for (const dlq of asList<Json>(v?.dead_letter_config)) if (dlq.target_arn) out.add(dlq.target_arn);
    }
  }
  return out;
}

/** The [!CAUTION] line of a destroyed or replaced resource that holds data, or undefined. */
export function dangerOf(ctx: PlanContext, rc: ResourceChange, action: Action): string | undefined {
  if (action !== "delete" && action !== "replace") return undefined;
  const verb = action === "delete" ? "DESTROYS" : "REPLACES";
  const forced = asList<Json>(rc.change.replace_paths).map((p) => asList(p).join(".")).join(", ");
  const because = forced ? `, because of a change to ${forced}` : "";
  const before = rc.change.before ?? {};
  switch (rc.type) {
    case "aws_s3_bucket": {
      const bucket = before.bucket ?? rc.address;
      const role = indexBuckets(ctx).has(bucket) ? ", the index itself," : watchedBuckets(ctx).has(bucket) ? ", the objects being indexed," : "";
      return `${verb} the bucket \`${bucket}\` (${rc.address})${because}: its objects${role} would be lost or the apply would fail on a non-empty bucket.`;
    }
    case "aws_sqs_queue": {
      const failures = failureQueues(ctx).has(before.arn);
      return `${verb} the ${failures ? "failure " : ""}queue \`${before.name ?? rc.address}\` (${rc.address})${because}: ${failures ? "the failed events waiting in it, the only record of what was not indexed," : "the messages in it"} would be lost.`;
    }
    case "aws_cloudwatch_log_group":
      return `${verb} the log group \`${before.name ?? rc.address}\` (${rc.address})${because}: its logs would be lost.`;
    case "aws_kms_key":
      return `${verb} the KMS key \`${before.key_id ?? rc.address}\` (${rc.address})${because}: it is scheduled for deletion, and everything encrypted with it becomes unreadable.`;
    case "aws_dynamodb_table":
      return `${verb} the table \`${before.name ?? rc.address}\` (${rc.address})${because}: its items would be lost.`;
    default:
      return undefined;
  }
}
