/**
 * Hand-made `terraform show -json` plans, shaped as Terraform writes them (resource_changes with before,
 * after, after_unknown; configuration expressions with references), for the summary's rules.
 */
import type { PlanJson, ResourceChange } from "../../tools/plan/plan-json";

export const ACCOUNT = "111122223333";
export const OTHER_ACCOUNT = "444455556666";

export interface ChangeOptions {
  readonly name?: string;
  readonly afterUnknown?: Record<string, unknown>;
  readonly replacePaths?: unknown[];
}

/** One resource change; `actions` as Terraform lists them (["update"], ["delete", "create"], …). */
export function change(type: string, actions: string[], before: unknown, after: unknown, options: ChangeOptions = {}): ResourceChange {
  const name = options.name ?? "x";
  return {
    address: `${type}.${name}`,
    type,
    name,
    mode: "managed",
    change: { actions, before, after, after_unknown: options.afterUnknown ?? {}, ...(options.replacePaths ? { replace_paths: options.replacePaths } : {}) },
  };
}

export function planOf(changes: ResourceChange[], extra: Partial<PlanJson> = {}): PlanJson {
  return { format_version: "1.2", resource_changes: changes, ...extra };
}

/** A policy document as Terraform stores it: JSON text. */
export const doc = (...statements: object[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });

export const update = (type: string, before: unknown, after: unknown, options?: ChangeOptions) => planOf([change(type, ["update"], before, after, options)]);
