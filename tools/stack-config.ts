/**
 * What a synthesized stack says about the pipeline, read from its cdk.tf.json: the tools (local mode,
 * the index CLI) take names, filters and retries from there rather than repeating them by hand.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { settingsFromEnvironment, synthesizeApp } from "../stacks/app";
import type { TriggerRule } from "../stacks/validation";

export interface PipelineConfig {
  readonly stack: string;
  readonly region: string;
  readonly sourceBucket: string;
  /** The notification's rules, with "" for an absent prefix or suffix. */
  readonly rules: readonly (TriggerRule & { id: string })[];
  readonly indexBucket: string;
  readonly indexPrefix: string;
  /** Retries of a failed asynchronous invocation (the event invoke config). */
  readonly maxRetryAttempts: number;
  /** Every bucket the stack creates. */
  readonly buckets: readonly string[];
}

/** Resolves "${aws_s3_bucket.<id>.bucket}" (or a literal) to a bucket name. */
function bucketName(config: any, value: string): string {
  const ref = /^\$\{aws_s3_bucket\.([^.]+)\.(bucket|id)\}$/.exec(value);
  if (!ref) return value;
  const bucket = config.resource?.aws_s3_bucket?.[ref[1]]?.bucket;
  if (typeof bucket !== "string") throw new Error(`cannot resolve ${value} in the synthesized configuration`);
  return bucket;
}

const only = (blocks: Record<string, any> | undefined, what: string): any => {
  const values = Object.values(blocks ?? {});
  if (values.length !== 1) throw new Error(`the synthesized stack has ${values.length} ${what}, expected one`);
  return values[0];
};

export function pipelineFromSynthesized(stack: string, config: any): PipelineConfig {
  const notification = only(config.resource?.aws_s3_bucket_notification, "aws_s3_bucket_notification");
  const fn = only(config.resource?.aws_lambda_function, "aws_lambda_function");
  const invoke = only(config.resource?.aws_lambda_function_event_invoke_config, "aws_lambda_function_event_invoke_config");
  const provider = Array.isArray(config.provider?.aws) ? config.provider.aws[0] : config.provider?.aws;
  const variables = fn.environment?.variables ?? {};
  return {
    stack,
    region: provider?.region ?? "us-east-1",
    sourceBucket: bucketName(config, notification.bucket),
    rules: notification.lambda_function.map((rule: any) => ({
      id: rule.id,
      events: rule.events,
      prefix: rule.filter_prefix ?? "",
      suffix: rule.filter_suffix ?? "",
    })),
    indexBucket: bucketName(config, variables.INDEX_BUCKET),
    indexPrefix: variables.INDEX_PREFIX ?? "",
    maxRetryAttempts: invoke.maximum_retry_attempts ?? 2,
    buckets: Object.values(config.resource?.aws_s3_bucket ?? {}).map((b: any) => b.bucket),
  };
}

/** Synthesizes the app (as main.ts does, same environment settings) and reads one stack. */
export function synthesizedPipeline(stack: string, env: NodeJS.ProcessEnv = process.env): PipelineConfig {
  const outdir = mkdtempSync(path.join(tmpdir(), "cix-pipeline-"));
  try {
    const { stacks } = synthesizeApp(settingsFromEnvironment(env), outdir);
    const chosen = stacks.find((s) => s.name === stack);
    if (!chosen) throw new Error(`there is no stack "${stack}": choose one of ${stacks.map((s) => s.name).join(", ")}`);
    const config = JSON.parse(readFileSync(path.join(chosen.dir, "cdk.tf.json"), "utf8"));
    return pipelineFromSynthesized(stack, config);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
