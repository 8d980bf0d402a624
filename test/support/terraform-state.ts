/**
 * A Terraform state "as if applied", built from a create plan, so that an offline `terraform plan` of a
 * changed configuration shows updates and replacements instead of a full create (there is no AWS account
 * to apply to). Values unknown at plan time are filled the way apply would: a reference to another
 * resource's attribute takes that attribute's value, and computed attributes get plausible values
 * (ARNs of the right shape, version "1", …).
 */
type Json = any;

const ACCOUNT = "111122223333";

interface Planned {
  address: string;
  type: string;
  name: string;
  values: Record<string, Json>;
  unknown: Record<string, Json>;
  expressions: Record<string, Json>;
  schemaVersion: number;
}

function fakeComputed(type: string, attr: string, values: Record<string, Json>, region: string): Json {
  const name = values.bucket ?? values.function_name ?? values.name ?? values.statement_id ?? "resource";
  if (attr === "id") {
    if (type === "aws_lambda_alias") return `${values.function_name}:${values.name}`;
    return String(name);
  }
  if (attr === "version") return "1";
  if (attr === "url") return `https://sqs.${region}.amazonaws.com/${ACCOUNT}/${name}`;
  if (attr === "arn" || attr.endsWith("_arn")) {
    switch (type) {
      case "aws_s3_bucket":
        return `arn:aws:s3:::${name}`;
      case "aws_iam_role":
        return `arn:aws:iam::${ACCOUNT}:role/${name}`;
      case "aws_lambda_function":
        return attr === "qualified_arn" ? `arn:aws:lambda:${region}:${ACCOUNT}:function:${name}:1` : `arn:aws:lambda:${region}:${ACCOUNT}:function:${name}`;
      case "aws_lambda_alias":
        return `arn:aws:lambda:${region}:${ACCOUNT}:function:${values.function_name}:${values.name}`;
      case "aws_sqs_queue":
        return `arn:aws:sqs:${region}:${ACCOUNT}:${name}`;
      case "aws_cloudwatch_log_group":
        return `arn:aws:logs:${region}:${ACCOUNT}:log-group:${name}`;
      default:
        return `arn:aws:${type.split("_")[1]}:${region}:${ACCOUNT}:${name}`;
    }
  }
  return undefined;
}

/** A value of a cty type for an attribute nobody references: what a provider would typically return. */
function zeroOf(ctyType: Json, attr: string): Json {
  if (ctyType === "string") return attr.endsWith("_date") || attr === "last_modified" ? "2026-01-01T00:00:00.000+0000" : "";
  if (ctyType === "number") return 0;
  if (ctyType === "bool") return false;
  if (Array.isArray(ctyType)) {
    if (ctyType[0] === "list" || ctyType[0] === "set") return [];
    if (ctyType[0] === "map") return {};
    return null;
  }
  return null;
}

export function stateFromCreatePlan(plan: Json, schema: Json): Json {
  const region = (plan.configuration?.provider_config?.aws?.expressions?.region?.constant_value as string) ?? "us-east-1";
  const providerSchemas = Object.values(schema.provider_schemas as Record<string, Json>)[0].resource_schemas;
  const configs = new Map<string, Json>((plan.configuration.root_module.resources ?? []).map((r: Json) => [r.address, r]));
  const planned = new Map<string, Planned>();
  for (const rc of plan.resource_changes as Json[]) {
    if (rc.mode !== "managed") continue;
    planned.set(rc.address, {
      address: rc.address,
      type: rc.type,
      name: rc.name,
      values: structuredClone(rc.change.after),
      unknown: rc.change.after_unknown ?? {},
      expressions: configs.get(rc.address)?.expressions ?? {},
      schemaVersion: providerSchemas[rc.type]?.version ?? 0,
    });
  }

  const resolving = new Set<string>();
  const resolvedTop = (address: string, attr: string): Json => {
    const p = planned.get(address);
    if (!p) throw new Error(`the plan has no ${address}`);
    if (p.unknown[attr] === true) resolveAttr(p, attr);
    return p.values[attr];
  };

  /** A reference "type.name.attr" in an expression, if the expression is exactly one. */
  const referenceOf = (expression: Json): { address: string; attr: string } | undefined => {
    const refs: string[] = expression?.references ?? [];
    const full = refs.find((r) => r.split(".").length === 3);
    if (!full || typeof expression.constant_value !== "string" || !/^\$\{[^}]+\}$/.test(expression.constant_value)) return undefined;
    const [type, name, attr] = full.split(".");
    return { address: `${type}.${name}`, attr };
  };

  function fill(p: Planned, value: Json, unknown: Json, expression: Json, attr: string, ctyType: Json): Json {
    if (unknown === true) {
      const ref = referenceOf(expression);
      if (ref) {
        if (resolving.has(`${ref.address}.${ref.attr}`)) throw new Error(`reference cycle at ${ref.address}.${ref.attr}`);
        resolving.add(`${ref.address}.${ref.attr}`);
        const v = resolvedTop(ref.address, ref.attr);
        resolving.delete(`${ref.address}.${ref.attr}`);
        return v;
      }
      return fakeComputed(p.type, attr, p.values, region) ?? zeroOf(ctyType, attr);
    }
    if (Array.isArray(unknown) && Array.isArray(value)) {
      return value.map((v, i) => fill(p, v, unknown[i], Array.isArray(expression) ? expression[i] : undefined, attr, undefined));
    }
    if (unknown && typeof unknown === "object" && value && typeof value === "object") {
      const out: Json = { ...value };
      for (const k of Object.keys(unknown)) out[k] = fill(p, value[k], unknown[k], expression?.[k], k, undefined);
      return out;
    }
    return value;
  }

  function resolveAttr(p: Planned, attr: string): void {
    const blockSchema = providerSchemas[p.type]?.block ?? {};
    const ctyType = blockSchema.attributes?.[attr]?.type;
    const isBlock = blockSchema.block_types?.[attr] !== undefined;
    p.values[attr] = isBlock && p.values[attr] === undefined ? [] : fill(p, p.values[attr], true, p.expressions[attr], attr, ctyType);
    p.unknown[attr] = false;
  }

  for (const p of planned.values()) {
    const blockSchema = providerSchemas[p.type]?.block ?? {};
    for (const attr of Object.keys(p.unknown)) {
      if (p.unknown[attr] === true) resolveAttr(p, attr);
      else if (p.unknown[attr] && typeof p.unknown[attr] === "object") {
        p.values[attr] = fill(p, p.values[attr], p.unknown[attr], p.expressions[attr], attr, blockSchema.attributes?.[attr]?.type);
        p.unknown[attr] = false;
      }
    }
  }

  return {
    version: 4,
    terraform_version: plan.terraform_version,
    serial: 1,
    lineage: "00000000-0000-4000-8000-000000000000",
    outputs: {},
    resources: [...planned.values()].map((p) => ({
      mode: "managed",
      type: p.type,
      name: p.name,
      provider: 'provider["registry.terraform.io/hashicorp/aws"]',
      instances: [{ schema_version: p.schemaVersion, attributes: p.values, sensitive_attributes: [], dependencies: [] }],
    })),
  };
}
