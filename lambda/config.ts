/**
 * The function's configuration, read once at cold start. A missing or invalid value fails the cold start
 * with a message that names the variable: better than failing every record later.
 */
import { bucketNameProblems, DEFAULT_READ, DIGEST_WORKER_SETTINGS, ENV, indexPrefixProblem, READ_LIMITS, type DigestWorkerSetting } from "./contract";
import { ConfigError } from "./errors";

export interface IndexerConfig {
  readonly indexBucket: string;
  readonly indexPrefix: string;
  readonly forcePathStyle: boolean;
  /** Bytes of each `Range` GET; objects no larger are read with one GET. */
  readonly readPartSize: number;
  /** `Range` GETs of one object in flight at most. */
  readonly readConcurrency: number;
  /** The alias continuations invoke, when set. */
  readonly continuationAlias?: string;
  /** Whether reads hash on a worker thread: "auto" decides from the vCPUs (digest-offload.ts). */
  readonly digestWorker: DigestWorkerSetting;
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, [min, max]: readonly [number, number]): number {
  const text = env[name]?.trim();
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new ConfigError(`${name} is "${text}": set a whole number from ${min} to ${max}.`);
  return value;
}

export function readConfig(env: NodeJS.ProcessEnv): IndexerConfig {
  const indexBucket = env[ENV.indexBucket]?.trim();
  if (!indexBucket) throw new ConfigError(`${ENV.indexBucket} is not set: give the name of the bucket that holds the index records.`);
  const problems = bucketNameProblems(indexBucket);
  if (problems.length > 0) {
    throw new ConfigError(`${ENV.indexBucket} "${indexBucket}" is not a valid S3 bucket name: ${problems.join("; ")}.`);
  }
  const indexPrefix = env[ENV.indexPrefix] ?? "";
  const prefixProblem = indexPrefixProblem(indexPrefix);
  if (prefixProblem) throw new ConfigError(`${ENV.indexPrefix} "${indexPrefix}" ${prefixProblem}.`);
  const style = env[ENV.forcePathStyle];
  if (style !== undefined && style !== "" && style !== "true" && style !== "false") {
    throw new ConfigError(`${ENV.forcePathStyle} is "${style}": set it to "true" or "false".`);
  }
  const readPartSizeMiB = wholeNumber(env, ENV.readPartSizeMiB, DEFAULT_READ.partSizeMiB, READ_LIMITS.partSizeMiB);
  const readConcurrency = wholeNumber(env, ENV.readConcurrency, DEFAULT_READ.concurrency, READ_LIMITS.concurrency);
  const alias = env[ENV.continuationAlias]?.trim();
  if (alias !== undefined && alias !== "" && !/^[A-Za-z0-9_-]{1,128}$/.test(alias)) {
    throw new ConfigError(`${ENV.continuationAlias} "${alias}" is not an alias name (letters, digits, "-" and "_").`);
  }
  const digestWorker = env[ENV.digestWorker]?.trim() || "auto";
  if (!(DIGEST_WORKER_SETTINGS as readonly string[]).includes(digestWorker)) {
    throw new ConfigError(`${ENV.digestWorker} is "${digestWorker}": set ${DIGEST_WORKER_SETTINGS.map((v) => `"${v}"`).join(", ")}.`);
  }
  return {
    indexBucket,
    indexPrefix,
    forcePathStyle: style === "true",
    readPartSize: readPartSizeMiB * 1024 * 1024,
    readConcurrency,
    ...(alias ? { continuationAlias: alias } : {}),
    digestWorker: digestWorker as DigestWorkerSetting,
  };
}
