/**
 * Pure checks of the stack's configuration. Each one throws a `ConfigurationError` that names the
 * property and says what to change, so a bad configuration fails at synth rather than at apply.
 *
 * Values that are Terraform tokens (unknown until apply) are not checked here: there is nothing to check.
 */
import { Token } from "cdktf";
import { bucketNameProblems, indexPrefixProblem, INDEXED_EVENT_TYPES } from "../lambda/contract";

/** A stack configuration that would fail at apply or be unsafe; the message says what to change. */
export class ConfigurationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

function fail(message: string): never {
  throw new ConfigurationError(message);
}

const isToken = (value: unknown): boolean => typeof value === "string" && Token.isUnresolved(value);

/** Bucket naming rules of general purpose buckets, as S3 documents them (one rule: lambda/contract.ts). */
export function validateBucketName(property: string, name: string): void {
  if (isToken(name)) return;
  if (name === undefined || name === null || name.trim() === "") {
    fail(`${property} is empty: give a bucket name of 3 to 63 characters.`);
  }
  const problems = bucketNameProblems(name);
  if (problems.length > 0) fail(`${property} "${name}" is not a valid S3 bucket name: ${problems.join("; ")}.`);
}

/** The index prefix the function accepts at cold start (one rule: lambda/contract.ts). */
export function validateIndexPrefix(property: string, prefix: string): void {
  const problem = indexPrefixProblem(prefix);
  if (problem) fail(`${property} "${prefix}" ${problem} (the function refuses it at cold start): use for example "index/".`);
}

export function validateNonEmpty(property: string, value: string | undefined): void {
  if (isToken(value)) return;
  if (value === undefined || value.trim() === "") fail(`${property} is empty: give it a value.`);
}

/** Names of Lambda functions, IAM roles, queues and log groups built from the name prefix. */
export function validateNamePrefix(property: string, value: string): void {
  validateNonEmpty(property, value);
  if (!/^[a-zA-Z0-9-]{1,40}$/.test(value)) {
    fail(
      `${property} "${value}" must be 1 to 40 letters, digits or hyphens: it names the function, role, ` +
        `queue and log group, whose names allow no other characters.`,
    );
  }
}

export function validateIntegerRange(property: string, value: number, min: number, max: number, unit = ""): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const u = unit ? ` ${unit}` : "";
    fail(`${property} is ${value}${u}: give a whole number from ${min} to ${max}${u}.`);
  }
}

/** The only retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export function validateLogRetention(property: string, days: number): void {
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
    fail(`${property} is ${days} days, which CloudWatch Logs does not accept: use one of ${LOG_RETENTION_DAYS.join(", ")}.`);
  }
}

export function validateAliasName(property: string, name: string): void {
  validateNonEmpty(property, name);
  if (name === "$LATEST") fail(`${property} is "$LATEST": S3 must invoke a published alias, give a name such as "live".`);
  if (!/^[a-zA-Z0-9_-]{1,128}$/.test(name) || /^\d+$/.test(name)) {
    fail(`${property} "${name}" is not a valid alias name: use 1 to 128 letters, digits, "-" or "_", not only digits.`);
  }
}

export function validateKmsKeyArn(property: string, arn: string | undefined): void {
  if (arn === undefined || isToken(arn)) return;
  if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[a-zA-Z0-9-]+$/.test(arn)) {
    fail(`${property} "${arn}" is not a KMS key ARN: give one like arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (an alias ARN cannot be used in IAM policies).`);
  }
}

export function validateAccountId(property: string, id: string | undefined): void {
  if (id === undefined || isToken(id)) return;
  if (!/^\d{12}$/.test(id)) fail(`${property} "${id}" is not an AWS account id: give its 12 digits.`);
}

export function validateRegion(property: string, region: string): void {
  validateNonEmpty(property, region);
  if (isToken(region)) return;
  if (!/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/.test(region)) {
    fail(`${property} "${region}" is not an AWS region name: give one such as "eu-west-1".`);
  }
}

/** One notification rule: the events it sends for the keys that match both filters. */
export interface TriggerRule {
  readonly prefix: string;
  readonly suffix: string;
  readonly events: readonly string[];
}

const INDEXED = new Set<string>(INDEXED_EVENT_TYPES);

/** Whether two event types can match the same event, as S3 sees it (`s3:ObjectCreated:*` covers `:Put`). */
export function eventsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const [familyA, typeA] = a.split(":").slice(1);
  const [familyB, typeB] = b.split(":").slice(1);
  return familyA === familyB && (typeA === "*" || typeB === "*" || typeA === undefined || typeB === undefined);
}

/** Whether two key filters can match the same key: prefixes where one starts the other, suffixes alike. */
export function filtersOverlap(a: { prefix: string; suffix: string }, b: { prefix: string; suffix: string }): boolean {
  const prefixes = a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
  const suffixes = a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix);
  return prefixes && suffixes;
}

export function validateTriggerRules(property: string, rules: readonly TriggerRule[]): void {
  if (rules.length === 0) fail(`${property} is empty: give at least one rule, for example { prefix: "incoming/" }.`);
  rules.forEach((rule, i) => {
    if (rule.events.length === 0) fail(`${property}[${i}].events is empty: give at least one event such as "s3:ObjectCreated:*".`);
    for (const event of rule.events) {
      if (!INDEXED.has(event)) {
        fail(`${property}[${i}].events has "${event}", which is not an S3 event type the function processes: use one of ${INDEXED_EVENT_TYPES.join(", ")}.`);
      }
    }
    if (Buffer.byteLength(rule.prefix) > 1024 || Buffer.byteLength(rule.suffix) > 1024) {
      fail(`${property}[${i}] has a prefix or suffix longer than 1024 bytes, which no S3 key can match.`);
    }
  });
  // S3 rejects, at apply time and with only "Unable to validate the following destination configurations",
  // two rules whose filters overlap for an overlapping event type. Say which ones here instead.
  for (let i = 0; i < rules.length; i++) {
    for (let j = i + 1; j < rules.length; j++) {
      const a = rules[i];
      const b = rules[j];
      const sharedEvents = a.events.filter((ea) => b.events.some((eb) => eventsOverlap(ea, eb)));
      if (sharedEvents.length > 0 && filtersOverlap(a, b)) {
        fail(
          `${property}[${i}] (prefix "${a.prefix}", suffix "${a.suffix}") and ${property}[${j}] (prefix "${b.prefix}", ` +
            `suffix "${b.suffix}") overlap for ${sharedEvents.join(", ")}: S3 would reject the notification at apply ` +
            `with "Unable to validate the following destination configurations". Make the prefixes disjoint ` +
            `(neither may start the other), the suffixes disjoint, or the events different.`,
        );
      }
    }
  }
}

/**
 * Refuses an index location the notification would watch: each index write would invoke the function
 * again, forever (the recursive loop AWS warns about).
 */
export function validateNoSelfTrigger(
  sourceBucket: string,
  indexBucket: string,
  indexPrefix: string,
  indexSuffix: string,
  rules: readonly TriggerRule[],
): void {
  if (isToken(sourceBucket) || isToken(indexBucket)) return;
  if (sourceBucket !== indexBucket) return;
  rules.forEach((rule, i) => {
    const watchesWrites = rule.events.some((e) => eventsOverlap(e, "s3:ObjectCreated:Put") || eventsOverlap(e, "s3:ObjectRemoved:Delete"));
    if (watchesWrites && filtersOverlap(rule, { prefix: indexPrefix, suffix: indexSuffix })) {
      fail(
        `The index (bucket "${indexBucket}", prefix "${indexPrefix}") is inside what triggers[${i}] watches ` +
          `(prefix "${rule.prefix}", suffix "${rule.suffix}") in the same bucket: every index write would invoke ` +
          `the function again. Use a separate index bucket (recommended) or an index prefix that no trigger's prefix starts.`,
      );
    }
  });
}
