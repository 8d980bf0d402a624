/**
 * THE list of the ways moto 5.2 differs from AWS that show up when a deployed stack is planned again. A
 * re-plan after a deploy must show no changes except these, each by resource type and attribute; any other
 * difference fails the deploy tests. Keep it short: every entry hides a real difference from the tests.
 */
import { createHash } from "node:crypto";

export interface KnownDifference {
  /** Terraform resource type. */
  readonly type: string;
  /** Top-level attribute of the resource that the re-plan shows as changed. */
  readonly attribute: string;
  /**
   * The difference is only a value becoming "(known after apply)" as a consequence of another entry, never a
   * known new value.
   */
  readonly unknownOnly?: boolean;
  readonly why: string;
}

export const MOTO_DIFFERENCES: readonly KnownDifference[] = [
  {
    type: "aws_lambda_function",
    attribute: "logging_config",
    why:
      "moto does not keep a function's LoggingConfig (GetFunction answers without it), so every plan wants to " +
      "set log_format JSON and the log group again. In AWS the function keeps it.",
  },
  {
    type: "aws_lambda_function",
    attribute: "version",
    unknownOnly: true,
    why: "follows from logging_config: an in-place update of a function with publish = true publishes a new version",
  },
  {
    type: "aws_lambda_function",
    attribute: "qualified_arn",
    unknownOnly: true,
    why: "follows from version",
  },
  {
    type: "aws_lambda_function",
    attribute: "qualified_invoke_arn",
    unknownOnly: true,
    why: "follows from version",
  },
  {
    type: "aws_lambda_alias",
    attribute: "function_version",
    unknownOnly: true,
    why: "follows from version: the alias moves to the version published by that update",
  },
];

/**
 * Where moto's API answers differently from AWS's, and what the deploy tests do about it. Not plan
 * differences: these change how the tests read or use the deployed resources, never what they require.
 */
export const MOTO_API_DIFFERENCES = {
  bucketPolicyConditions:
    "moto evaluates a bucket policy's conditions without any request context and counts a condition that is " +
    "not met as a deny, so the TLS-only policy (Deny s3:* when aws:SecureTransport is false) denies EVERY " +
    "object request, over TLS or not. In AWS it denies only plain-HTTP requests. The tests run the deployed " +
    "code with the bucket policies lifted, and put the very same documents back before planning again.",
  filterRuleNames:
    "GetBucketNotificationConfiguration answers filter rule names in lower case (prefix, suffix); AWS answers " +
    "Prefix and Suffix. The tests compare the names case-insensitively.",
  codeLocation:
    "GetFunction's Code.Location points at AWS and cannot be fetched: the tests compare CodeSha256 with the " +
    "SHA-256 of the zip the deploy uploaded, then run that zip.",
  invoke: "moto creates functions but cannot invoke them: the tests load the deployed zip's handler in-process.",
  eventBridgeConfiguration:
    "PutBucketNotificationConfiguration accepts EventBridgeConfiguration but GetBucketNotificationConfiguration " +
    "never returns it: the tests read the bucket's EventBridge setting from the applied state, and that no Lambda " +
    "destination is left, from the API.",
} as const;

export interface Difference {
  readonly address: string;
  readonly type: string;
  readonly actions: readonly string[];
  readonly attribute: string;
  /** The new value is "(known after apply)". */
  readonly unknown: boolean;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const anyUnknown = (u: unknown): boolean => u === true || (u !== null && typeof u === "object" && Object.values(u).some(anyUnknown));

/** Every changed top-level attribute of every resource a plan (`terraform show -json`) would touch. */
export function planDifferences(plan: any): Difference[] {
  const found: Difference[] = [];
  for (const rc of plan.resource_changes ?? []) {
    const actions: string[] = rc.change.actions;
    if (rc.mode !== "managed" || (actions.length === 1 && (actions[0] === "no-op" || actions[0] === "read"))) continue;
    if (!actions.includes("update")) {
      // A create, delete or replacement is never a moto difference.
      found.push({ address: rc.address, type: rc.type, actions, attribute: "*", unknown: false });
      continue;
    }
    const before = rc.change.before ?? {};
    const after = rc.change.after ?? {};
    const unknown = rc.change.after_unknown ?? {};
    for (const attribute of new Set([...Object.keys(before), ...Object.keys(after), ...Object.keys(unknown)])) {
      const isUnknown = anyUnknown(unknown[attribute]);
      if (isUnknown || !same(before[attribute], after[attribute])) {
        found.push({ address: rc.address, type: rc.type, actions, attribute, unknown: isUnknown });
      }
    }
  }
  return found;
}

/** The differences of a plan that are NOT in MOTO_DIFFERENCES: a no-changes re-plan has none. */
export function unexpectedDifferences(plan: any, known: readonly KnownDifference[] = MOTO_DIFFERENCES): Difference[] {
  return planDifferences(plan).filter(
    (d) => !known.some((k) => k.type === d.type && k.attribute === d.attribute && (!k.unknownOnly || d.unknown)),
  );
}

/** Base64 SHA-256, as Lambda reports CodeSha256. */
export const sha256Base64 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("base64");
