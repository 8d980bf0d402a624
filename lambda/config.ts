/**
 * The function's configuration, read once at cold start. A missing or invalid value fails the cold start
 * with a message that names the variable: better than failing every record later.
 */
import { bucketNameProblems, ENV, indexPrefixProblem } from "./contract";
import { ConfigError } from "./errors";

export interface IndexerConfig {
  readonly indexBucket: string;
  readonly indexPrefix: string;
  readonly forcePathStyle: boolean;
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
  return { indexBucket, indexPrefix, forcePathStyle: style === "true" };
}
