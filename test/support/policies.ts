/**
 * The policies of a synthesized stack as AWS evaluates them: every identity policy of the execution role
 * (inline, attached, managed, from any construct), each bucket's resource policy, and the function's
 * resource policy made from the aws_lambda_permission.
 */
type Json = any;

/** Resolves "${type.id.attr}" to the literal it names in the configuration (recursively), else undefined. */
export function resolve(config: Json, value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const ref = /^\$\{([a-z0-9_]+)\.([^.]+)\.([a-z_]+)\}$/.exec(value);
  if (!ref) return value.includes("${") ? undefined : value;
  const [, type, id, attr] = ref;
  const block = type.startsWith("data.") ? undefined : config.resource?.[type]?.[id];
  return resolve(config, block?.[attr]);
}

function blockOf(config: Json, reference: string): { kind: "data" | "resource"; type: string; id: string; block: Json } {
  const ref = /^\$\{(data\.)?([a-z0-9_]+)\.([^.]+)\.[a-z_]+\}$/.exec(reference);
  if (!ref) throw new Error(`${reference} is not a reference`);
  const kind = ref[1] ? "data" : "resource";
  const block = config[kind]?.[ref[2]]?.[ref[3]];
  if (!block) throw new Error(`${reference} names nothing in the configuration`);
  return { kind, type: ref[2], id: ref[3], block };
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const one = (values: string[]) => (values.length === 1 ? values[0] : values);

/** IAM JSON from an aws_iam_policy_document block, as the data source renders it. */
export function documentToPolicy(doc: Json): Json {
  return {
    Version: "2012-10-17",
    Statement: (doc.statement ?? []).map((st: Json) => {
      const out: Json = { Effect: cap(st.effect ?? "allow") };
      if (st.sid) out.Sid = st.sid;
      if (st.principals) {
        const principals: Record<string, string[]> = {};
        for (const p of st.principals) principals[p.type] = [...(principals[p.type] ?? []), ...p.identifiers];
        out.Principal = principals["*"] ? "*" : Object.fromEntries(Object.entries(principals).map(([k, v]) => [k, one(v)]));
      }
      if (st.actions) out.Action = one(st.actions);
      if (st.resources) out.Resource = one(st.resources);
      if (st.condition) {
        out.Condition = {};
        for (const c of st.condition) out.Condition[c.test] = { ...(out.Condition[c.test] ?? {}), [c.variable]: c.values };
      }
      return out;
    }),
  };
}

/** The policy a `policy` or `assume_role_policy` attribute holds: a policy document reference or JSON. */
export function policyOf(config: Json, attribute: string): Json {
  if (attribute.startsWith("${data.aws_iam_policy_document.")) return documentToPolicy(blockOf(config, attribute).block);
  return JSON.parse(attribute);
}

/** One policy that reaches the execution role, whatever construct added it and in whichever form. */
export interface RolePolicy {
  /** How it reaches the role, e.g. `aws_iam_role_policy_attachment.extra_1234 (arn:aws:iam::aws:policy/AdministratorAccess)`. */
  readonly name: string;
  readonly kind: "inline" | "attachment" | "managed_policy_arns" | "inline_policy" | "policy_attachment" | "exclusive_attachment";
  /** The document, when the configuration holds it (not for AWS managed policies). */
  readonly document?: Json;
  /** The attached policy's ARN, for attachments. */
  readonly arn?: string;
}

/** The policies this project designs for the role: its one inline least-privilege policy. */
export const DESIGNED_ROLE_POLICIES = [{ kind: "inline", policyName: "least-privilege" }] as const;

/**
 * Documents of AWS managed policies the tests can simulate (others cannot be, and fail the simulation by
 * name): enough to show what an attached AdministratorAccess would let the function do.
 */
const AWS_MANAGED_DOCUMENTS: Record<string, Json> = {
  "arn:aws:iam::aws:policy/AdministratorAccess": { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] },
};

const entries = (config: Json, type: string): Array<[string, Json]> => Object.entries(config.resource?.[type] ?? {});

/** The role the function runs as: the only role any aws_lambda_function uses. */
function functionRole(config: Json): { id: string; block: Json } {
  const ids = new Set(
    entries(config, "aws_lambda_function").map(([, fn]) => /^\$\{aws_iam_role\.([^.]+)\.arn\}$/.exec(String(fn.role))?.[1] ?? `literal ${fn.role}`),
  );
  if (ids.size !== 1) throw new Error(`expected every function to use one role defined in the stack, found ${[...ids].join(", ") || "none"}`);
  const [id] = [...ids];
  const block = config.resource?.aws_iam_role?.[id];
  if (!block) throw new Error(`the function's role ${id} is not defined in the stack`);
  return { id, block };
}

/**
 * Every policy that reaches the function's role: inline policies (aws_iam_role_policy, inline_policy
 * blocks), attachments (aws_iam_role_policy_attachment, aws_iam_policy_attachment, the exclusive
 * resources, managed_policy_arns), whichever construct added them; by reference or by the role's name.
 */
export function rolePolicies(config: Json): RolePolicy[] {
  const { id, block } = functionRole(config);
  const isRole = (value: unknown) =>
    typeof value === "string" && (new RegExp(`^\\$\\{aws_iam_role\\.${id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(id|name|arn)\\}$`).test(value) || value === block.name);
  const documentOf = (arn: string): Json | undefined => {
    const ref = /^\$\{aws_iam_policy\.([^.]+)\.arn\}$/.exec(arn);
    if (ref) {
      const policy = config.resource?.aws_iam_policy?.[ref[1]];
      return policy ? policyOf(config, policy.policy) : undefined;
    }
    return AWS_MANAGED_DOCUMENTS[arn];
  };
  const attachment = (name: string, kind: RolePolicy["kind"], arn: string): RolePolicy => ({ name: `${name} (${arn})`, kind, arn, document: documentOf(arn) });
  const out: RolePolicy[] = [];
  for (const [key, p] of entries(config, "aws_iam_role_policy")) {
    if (isRole(p.role)) out.push({ name: `aws_iam_role_policy.${key} (${p.name})`, kind: "inline", document: policyOf(config, p.policy) });
  }
  for (const [key, p] of entries(config, "aws_iam_role_policy_attachment")) {
    if (isRole(p.role)) out.push(attachment(`aws_iam_role_policy_attachment.${key}`, "attachment", p.policy_arn));
  }
  for (const [key, p] of entries(config, "aws_iam_policy_attachment")) {
    if ((p.roles ?? []).some(isRole)) out.push(attachment(`aws_iam_policy_attachment.${key}`, "policy_attachment", p.policy_arn));
  }
  for (const [key, p] of entries(config, "aws_iam_role_policy_attachments_exclusive")) {
    if (isRole(p.role_name)) for (const arn of p.policy_arns ?? []) out.push(attachment(`aws_iam_role_policy_attachments_exclusive.${key}`, "exclusive_attachment", arn));
  }
  for (const arn of block.managed_policy_arns ?? []) out.push(attachment(`aws_iam_role.${id}.managed_policy_arns`, "managed_policy_arns", arn));
  for (const inline of [block.inline_policy ?? []].flat()) {
    if (inline?.policy) out.push({ name: `aws_iam_role.${id}.inline_policy (${inline.name})`, kind: "inline_policy", document: policyOf(config, inline.policy) });
  }
  return out;
}

/** The policies reaching the role that are not part of the design, by name (empty when all are). */
export function undesignedRolePolicies(config: Json): string[] {
  return rolePolicies(config)
    .filter((p) => !DESIGNED_ROLE_POLICIES.some((d) => d.kind === p.kind && p.name.endsWith(`(${d.policyName})`)))
    .map((p) => p.name);
}

/**
 * The execution role as IAM evaluates it: its ARN, trust policy, and every identity policy that reaches it
 * (see rolePolicies). `identity` holds all their statements in one document; `identities` keeps them apart
 * for a simulator. A policy whose document the tests do not have makes this throw, naming it.
 */
export function executionRole(config: Json): { arn: string; identity: Json; identities: Array<{ name: string; policy: Json }>; trust: Json } {
  const { block } = functionRole(config);
  const policies = rolePolicies(config);
  const unknown = policies.filter((p) => !p.document).map((p) => p.name);
  if (unknown.length > 0) throw new Error(`cannot evaluate the role: no document for ${unknown.join(", ")}`);
  const identities = policies.map((p) => ({ name: p.name, policy: p.document }));
  return {
    arn: `arn:aws:iam::ACCOUNT:role/${block.name}`,
    identity: { Version: "2012-10-17", Statement: identities.flatMap((p) => [p.policy.Statement ?? []].flat()) },
    identities,
    trust: policyOf(config, block.assume_role_policy),
  };
}

/** Each bucket's resource policy, by bucket name. */
export function bucketPolicies(config: Json): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const p of Object.values(config.resource.aws_s3_bucket_policy ?? {}) as Json[]) {
    const bucket = resolve(config, p.bucket.replace(/\.id\}$/, ".bucket}"));
    if (!bucket) throw new Error(`cannot resolve the bucket of ${p.bucket}`);
    out[bucket] = policyOf(config, p.policy);
  }
  return out;
}

/** An EventBridge rule's ARN, as AWS builds it from the rule's name (the reference is known only after apply). */
function eventRuleArn(config: Json, reference: string, region: string, account: string): string | undefined {
  const ref = /^\$\{aws_cloudwatch_event_rule\.([^.]+)\.arn\}$/.exec(reference);
  const name = ref ? config.resource?.aws_cloudwatch_event_rule?.[ref[1]]?.name : undefined;
  return name ? `arn:aws:events:${region}:${account}:rule/${name}` : undefined;
}

/** The function's resource-based policy, as Lambda builds it from each aws_lambda_permission. */
export function functionPolicy(config: Json, region: string, account: string): Json {
  return {
    Version: "2012-10-17",
    Statement: (Object.values(config.resource.aws_lambda_permission ?? {}) as Json[]).map((p) => {
      const fn = resolve(config, p.function_name);
      const qualifier = resolve(config, p.qualifier);
      if (!fn) throw new Error(`cannot resolve ${p.function_name}`);
      const condition: Json = {};
      if (p.source_arn) condition.ArnLike = { "AWS:SourceArn": resolve(config, p.source_arn) ?? eventRuleArn(config, p.source_arn, region, account) };
      if (p.source_account) condition.StringEquals = { "AWS:SourceAccount": resolve(config, p.source_account) };
      return {
        Sid: p.statement_id,
        Effect: "Allow",
        Principal: p.principal.endsWith(".amazonaws.com") ? { Service: p.principal } : { AWS: p.principal },
        Action: p.action,
        Resource: `arn:aws:lambda:${region}:${account}:function:${fn}${qualifier ? `:${qualifier}` : ""}`,
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      };
    }),
  };
}

/**
 * A copy of a synthesized configuration whose execution-role policy document is changed by `mutate`
 * (its aws_iam_policy_document statements): for proving that a widened policy is caught.
 */
export function withRolePolicyChanged(config: Json, mutate: (statements: Json[]) => void): Json {
  const copy = structuredClone(config);
  const role = (Object.values(copy.resource.aws_iam_role_policy) as Json[]).find((p) => p.name === DESIGNED_ROLE_POLICIES[0].policyName);
  mutate(blockOf(copy, role.policy).block.statement);
  return copy;
}
