/**
 * Backfill on S3 Batch Operations (`npm run index -- backfill --batch s3://bucket/prefix`): one job per
 * trigger rule that the prefix reaches, each listing exactly the keys that rule selects (a manifest
 * generator with the rule's prefix and suffix, or an S3 Inventory manifest you give), invoking the stack's
 * alias with every key (schema 2.0), and writing a completion report beside the index.
 *
 * The requests are built by pure functions from the stack's resolved pipeline; the job's progress is read
 * through a small interface so that the waiting and the summary are tested without AWS.
 */
import { randomUUID } from "node:crypto";
import type { CreateJobCommandInput, JobDescriptor } from "@aws-sdk/client-s3-control";
import type { Pipeline, ResolvedBatchOperations } from "../../stacks/pipeline";
import { UsageError, type S3Location } from "./index-tools";

/** A part of the backfill: the trigger rule and the keys of the requested prefix that it selects. */
export interface BatchScope {
  readonly ruleId: string;
  /** Keys start with this: the longer of the requested prefix and the rule's. */
  readonly prefix: string;
  /** Keys end with this: the rule's suffix ("" for every key). */
  readonly suffix: string;
}

/**
 * What of `s3://bucket/prefix` the stack's trigger rules select, one scope per rule that reaches it. A
 * prefix no rule reaches selects nothing, and says why: the function may read only watched keys.
 */
export function batchScopes(pipeline: Pipeline, location: S3Location): BatchScope[] {
  if (location.bucket !== pipeline.source.name) {
    throw new UsageError(`s3://${location.bucket}/ is not the source bucket of stack ${pipeline.stack} (s3://${pipeline.source.name}/)`);
  }
  const scopes = pipeline.rules.flatMap((rule) => {
    if (!rule.events.some((e) => e.startsWith("s3:ObjectCreated:"))) return [];
    if (rule.prefix.startsWith(location.key)) return [{ ruleId: rule.id, prefix: rule.prefix, suffix: rule.suffix }];
    if (location.key.startsWith(rule.prefix)) return [{ ruleId: rule.id, prefix: location.key, suffix: rule.suffix }];
    return [];
  });
  if (scopes.length === 0) {
    const watched = pipeline.rules.map((r) => `${r.prefix}*${r.suffix}`).join(", ");
    throw new UsageError(`no trigger rule of stack ${pipeline.stack} watches s3://${location.bucket}/${location.key}* (it watches ${watched}): nothing there would ever be indexed`);
  }
  return scopes;
}

export interface BatchJobOptions {
  /** The account of the stack (S3 Control needs it). */
  readonly accountId: string;
  /** An S3 Inventory manifest to use instead of generating one: its ARN and ETag. */
  readonly manifest?: { readonly objectArn: string; readonly eTag: string };
  /** Priority of the jobs. @default 10 */
  readonly priority?: number;
  /** Idempotency token per job. @default a new UUID */
  readonly token?: () => string;
}

/** The ARNs the jobs name, from the pipeline: the alias they invoke and the role they assume. */
export function batchArns(pipeline: Pipeline, accountId: string): { aliasArn: string; roleArn: string } {
  const batch = requireBatch(pipeline);
  const { partition, region } = pipeline;
  return {
    aliasArn: `arn:${partition}:lambda:${region}:${accountId}:function:${pipeline.function.name}:${pipeline.function.aliasName}`,
    roleArn: `arn:${partition}:iam::${accountId}:role/${batch.roleName}`,
  };
}

function requireBatch(pipeline: Pipeline): ResolvedBatchOperations {
  if (!pipeline.batchOperations) {
    throw new UsageError(`stack ${pipeline.stack} has no Batch Operations role: set batchOperations: {} in its props (stacks/app.ts), deploy, then run this again`);
  }
  return pipeline.batchOperations;
}

/** The CreateJob request of each scope. */
export function batchJobRequests(pipeline: Pipeline, scopes: readonly BatchScope[], options: BatchJobOptions): CreateJobCommandInput[] {
  const batch = requireBatch(pipeline);
  const { aliasArn, roleArn } = batchArns(pipeline, options.accountId);
  const reportPrefix = batch.reportPrefix.replace(/\/$/, "");
  if (options.manifest && scopes.length > 1) {
    throw new UsageError(`an inventory manifest lists one set of keys, but ${scopes.length} trigger rules reach this prefix: give a prefix inside one rule`);
  }
  return scopes.map((scope) => ({
    AccountId: options.accountId,
    ConfirmationRequired: false,
    ClientRequestToken: (options.token ?? randomUUID)(),
    Priority: options.priority ?? 10,
    RoleArn: roleArn,
    Description: `checksum-index backfill of s3://${pipeline.source.name}/${scope.prefix}*${scope.suffix}`.slice(0, 256),
    Operation: { LambdaInvoke: { FunctionArn: aliasArn, InvocationSchemaVersion: "2.0", UserArguments: { mode: "backfill", rule: scope.ruleId } } },
    Report: {
      Enabled: true,
      Bucket: pipeline.index.arn,
      Prefix: reportPrefix,
      Format: "Report_CSV_20180820",
      ReportScope: "AllTasks",
    },
    ...(options.manifest
      ? { Manifest: { Spec: { Format: "S3InventoryReport_CSV_20161130" }, Location: { ObjectArn: options.manifest.objectArn, ETag: options.manifest.eTag } } }
      : {
          ManifestGenerator: {
            S3JobManifestGenerator: {
              SourceBucket: pipeline.source.arn,
              EnableManifestOutput: true,
              ManifestOutputLocation: { Bucket: pipeline.index.arn, ManifestPrefix: `${reportPrefix}/manifests`, ManifestFormat: "S3InventoryReport_CSV_20211130" },
              // A rule that watches every key lists every key: no filter at all (an empty constraint is not one).
              ...(scope.prefix || scope.suffix
                ? {
                    Filter: {
                      KeyNameConstraint: {
                        ...(scope.prefix ? { MatchAnyPrefix: [scope.prefix] } : {}),
                        ...(scope.suffix ? { MatchAnySuffix: [scope.suffix] } : {}),
                      },
                    },
                  }
                : {}),
            },
          },
        }),
  }));
}

/** What the CLI needs of S3 Control: create a job, describe it. */
export interface BatchJobs {
  create(request: CreateJobCommandInput): Promise<string>;
  describe(accountId: string, jobId: string): Promise<JobDescriptor>;
}

const FINAL = new Set(["Complete", "Failed", "Cancelled"]);

export interface JobSummary {
  readonly jobId: string;
  readonly status: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly failureReasons: readonly string[];
  /** Where the completion report is written. */
  readonly report?: string;
}

export function jobSummary(job: JobDescriptor): JobSummary {
  const progress = job.ProgressSummary ?? {};
  const report = job.Report?.Enabled && job.Report.Bucket ? `s3://${job.Report.Bucket.split(":::")[1]}/${job.Report.Prefix ? `${job.Report.Prefix}/` : ""}job-${job.JobId}/` : undefined;
  return {
    jobId: job.JobId ?? "",
    status: job.Status ?? "unknown",
    total: progress.TotalNumberOfTasks ?? 0,
    succeeded: progress.NumberOfTasksSucceeded ?? 0,
    failed: progress.NumberOfTasksFailed ?? 0,
    failureReasons: (job.FailureReasons ?? []).map((r) => `${r.FailureCode ?? ""}: ${r.FailureReason ?? ""}`.trim()),
    report,
  };
}

export interface RunOptions {
  readonly wait: boolean;
  readonly pollMs?: number;
  readonly onProgress?: (summary: JobSummary) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Stop waiting (the jobs go on in AWS). */
  readonly shouldStop?: () => boolean;
}

/** Creates the jobs, then (unless told not to) follows them until each has ended; returns their summaries. */
export async function runBatchBackfill(jobs: BatchJobs, requests: readonly CreateJobCommandInput[], options: RunOptions): Promise<JobSummary[]> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const created: Array<{ accountId: string; jobId: string }> = [];
  for (const request of requests) created.push({ accountId: request.AccountId!, jobId: await jobs.create(request) });
  const summaries = new Map<string, JobSummary>();
  for (const { accountId, jobId } of created) summaries.set(jobId, jobSummary(await jobs.describe(accountId, jobId)));
  while (options.wait && !options.shouldStop?.()) {
    const running = created.filter(({ jobId }) => !FINAL.has(summaries.get(jobId)!.status));
    if (running.length === 0) break;
    await sleep(options.pollMs ?? 10_000);
    for (const { accountId, jobId } of running) {
      const summary = jobSummary(await jobs.describe(accountId, jobId));
      summaries.set(jobId, summary);
      options.onProgress?.(summary);
    }
  }
  return created.map(({ jobId }) => summaries.get(jobId)!);
}

/** The S3 Control client behind BatchJobs. */
export async function s3ControlJobs(region: string): Promise<BatchJobs> {
  const { CreateJobCommand, DescribeJobCommand, S3ControlClient } = await import("@aws-sdk/client-s3-control");
  const client = new S3ControlClient({ region });
  return {
    async create(request) {
      const result = await client.send(new CreateJobCommand(request));
      if (!result.JobId) throw new Error("S3 Control created a job but returned no job id");
      return result.JobId;
    },
    async describe(accountId, jobId) {
      const result = await client.send(new DescribeJobCommand({ AccountId: accountId, JobId: jobId }));
      if (!result.Job) throw new Error(`S3 Control describes no job ${jobId}`);
      return result.Job;
    },
  };
}
