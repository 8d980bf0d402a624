/**
 * Reading `terraform show -json` of a plan: its types, a check that a file really is one, and the values a
 * plan leaves unknown until apply, shown with their known parts instead of hidden.
 *
 * An unknown value is rendered as text between ⟨ ⟩: the configuration's own expression when Terraform
 * reports it (`⟨aws_cloudwatch_log_group.logs.arn⟩:log-stream:*`), else the references it depends on
 * (`⟨known after apply: aws_sqs_queue.q.arn⟩`), else `⟨known after apply⟩`.
 */

// Plan JSON is a large, loosely typed document: its values are accessed field by field and checked.
export type Json = any;

export interface ResourceChange {
  readonly address: string;
  readonly module_address?: string;
  readonly type: string;
  readonly name: string;
  readonly mode: "managed" | "data";
  readonly change: { actions: string[]; before: Json; after: Json; after_unknown?: Json; replace_paths?: Json };
  readonly action_reason?: string;
}

export interface PlanJson {
  readonly format_version: string;
  readonly resource_changes?: ResourceChange[];
  readonly configuration?: Json;
  readonly prior_state?: Json;
  readonly errored?: boolean;
}

/** The input is not `terraform show -json` output of a saved plan. */
export class PlanFormatError extends Error {
  override readonly name = "PlanFormatError";
}

/** Parses and checks `terraform show -json <planfile>` output. `source` names it in errors. */
export function parsePlanJson(text: string, source = "the input"): PlanJson {
  let plan: Json;
  try {
    plan = JSON.parse(text);
  } catch (error) {
    throw new PlanFormatError(`${source} is not JSON (${(error as Error).message}): expected the output of \`terraform show -json <planfile>\``);
  }
  if (plan === null || typeof plan !== "object" || Array.isArray(plan) || typeof plan.format_version !== "string") {
    throw new PlanFormatError(`${source} has no format_version: expected the output of \`terraform show -json <planfile>\``);
  }
  if (!("resource_changes" in plan) && !("planned_values" in plan)) {
    const what = "values" in plan ? "a state (terraform show -json without a plan file)" : "not a plan";
    throw new PlanFormatError(`${source} is ${what}: run \`terraform plan -out=plan.bin\`, then \`terraform show -json plan.bin\``);
  }
  if (plan.resource_changes !== undefined && !Array.isArray(plan.resource_changes)) {
    throw new PlanFormatError(`${source}: resource_changes is not a list`);
  }
  return plan as PlanJson;
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

export function asList<T>(value: T | T[] | undefined | null): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

export const UNKNOWN_OPEN = "⟨";
export const UNKNOWN_CLOSE = "⟩";
/** True for a value (or a string containing a part) that is known only after apply. */
export const isUnknown = (value: unknown): boolean => typeof value === "string" && value.includes(UNKNOWN_OPEN);

/** The configuration address of a resource instance: module path kept, instance keys dropped. */
const configAddress = (address: string) => address.replace(/\[[^\]]*\]/g, "");

type PathPart = string | number;

/**
 * What a plan knows about its resources besides their changes: the configuration's expressions (for the
 * known parts of unknown values) and the data sources read at apply.
 */
export class PlanContext {
  private readonly configs = new Map<string, Json>();
  private readonly changes = new Map<string, ResourceChange>();

  constructor(readonly plan: PlanJson) {
    const walk = (module: Json, prefix: string) => {
      for (const r of asList<Json>(module?.resources)) this.configs.set(`${prefix}${r.address}`, r);
      for (const [name, call] of Object.entries<Json>(module?.module_calls ?? {})) walk(call.module, `${prefix}module.${name}.`);
    };
    walk(plan.configuration?.root_module, "");
    for (const rc of plan.resource_changes ?? []) this.changes.set(rc.address, rc);
  }

  get resourceChanges(): readonly ResourceChange[] {
    return this.plan.resource_changes ?? [];
  }

  change(address: string): ResourceChange | undefined {
    return this.changes.get(address);
  }

  /** The configuration expression at a path of a resource's attributes and nested blocks. */
  expression(address: string, path: readonly PathPart[]): Json | undefined {
    let node: Json = this.configs.get(configAddress(address))?.expressions;
    for (const part of path) {
      if (node === undefined || node === null) return undefined;
      node = Array.isArray(node) && typeof part === "string" ? node[0]?.[part] : node[part];
    }
    return node;
  }

  /**
   * Text for a value unknown until apply. `element` picks one element of a list attribute whose
   * expression is a list of templates (cdktf writes `["${aws_x.y.arn}:suffix"]`).
   */
  describeUnknown(address: string, path: readonly PathPart[], element?: number): string {
    const expr = this.expression(address, path);
    let template: unknown = expr?.constant_value;
    if (Array.isArray(template) && element !== undefined) template = template[element];
    if (typeof template === "string" && template.includes("${")) {
      return template.replace(/\$\{([^}]+)\}/g, (_m, ref: string) => `${UNKNOWN_OPEN}${ref.trim()}${UNKNOWN_CLOSE}`);
    }
    const refs = asList<string>(expr?.references);
    // Terraform lists both `a.b.attr` and `a.b`; the longer says more.
    const precise = refs.filter((r) => !refs.some((o) => o !== r && o.startsWith(`${r}.`)));
    return precise.length > 0
      ? `${UNKNOWN_OPEN}known after apply: ${precise.join(", ")}${UNKNOWN_CLOSE}`
      : `${UNKNOWN_OPEN}known after apply${UNKNOWN_CLOSE}`;
  }

  /**
   * A resource's planned values with every unknown part replaced by its description (see above): the
   * known parts stay as they are.
   */
  afterWithUnknowns(rc: ResourceChange): Json {
    const fill = (value: Json, unknown: Json, path: PathPart[]): Json => {
      if (unknown === true) {
        // A list attribute of unknown elements in one template: describe element by element.
        return this.describeUnknown(rc.address, path.filter((p, i) => !(typeof p === "number" && i === path.length - 1)), numberAtEnd(path));
      }
      if (Array.isArray(unknown)) {
        const list = Array.isArray(value) ? value : [];
        const length = Math.max(list.length, unknown.length);
        return Array.from({ length }, (_, i) => fill(list[i], unknown[i], [...path, i]));
      }
      if (unknown && typeof unknown === "object") {
        const out: Json = value && typeof value === "object" ? { ...value } : {};
        for (const key of Object.keys(unknown)) out[key] = fill(out[key], unknown[key], [...path, key]);
        return out;
      }
      return value;
    };
    return fill(rc.change.after, rc.change.after_unknown ?? {}, []);
  }

  /** The data source an expression takes its value from (`data.type.name.attr`), if it is read in this plan. */
  dataSourceOf(rc: ResourceChange, path: readonly PathPart[], type: string): ResourceChange | undefined {
    const prefix = rc.module_address ? `${rc.module_address}.` : "";
    for (const ref of asList<string>(this.expression(rc.address, path)?.references)) {
      const m = new RegExp(`^data\\.${type}\\.([^.]+)\\.[a-z_]+$`).exec(ref);
      const found = m ? this.changes.get(`${prefix}data.${type}.${m[1]}`) : undefined;
      if (found) return found;
    }
    return undefined;
  }
}

function numberAtEnd(path: readonly PathPart[]): number | undefined {
  const last = path[path.length - 1];
  return typeof last === "number" ? last : undefined;
}
