/**
 * The policies of a synthesized stack as AWS evaluates them: the execution role's identity policy, each
 * bucket's resource policy, and the function's resource policy made from the aws_lambda_permission.
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

export function executionRole(config: Json): { arn: string; identity: Json; trust: Json } {
  const roles = Object.values(config.resource.aws_iam_role) as Json[];
  const policies = Object.values(config.resource.aws_iam_role_policy) as Json[];
  if (roles.length !== 1 || policies.length !== 1) throw new Error("expected one role with one inline policy");
  return {
    arn: `arn:aws:iam::ACCOUNT:role/${roles[0].name}`,
    identity: policyOf(config, policies[0].policy),
    trust: policyOf(config, roles[0].assume_role_policy),
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

/** The function's resource-based policy, as Lambda builds it from each aws_lambda_permission. */
export function functionPolicy(config: Json, region: string, account: string): Json {
  return {
    Version: "2012-10-17",
    Statement: (Object.values(config.resource.aws_lambda_permission ?? {}) as Json[]).map((p) => {
      const fn = resolve(config, p.function_name);
      const qualifier = resolve(config, p.qualifier);
      if (!fn) throw new Error(`cannot resolve ${p.function_name}`);
      const condition: Json = {};
      if (p.source_arn) condition.ArnLike = { "AWS:SourceArn": resolve(config, p.source_arn) };
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
  const role = Object.values(copy.resource.aws_iam_role_policy)[0] as Json;
  mutate(blockOf(copy, role.policy).block.statement);
  return copy;
}
