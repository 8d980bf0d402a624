/** backfill --batch: the jobs the CLI asks S3 Batch Operations for, and how it follows them. */
import type { CreateJobCommandInput, JobDescriptor } from "@aws-sdk/client-s3-control";
import { describe, expect, it } from "vitest";
import { resolvePipeline } from "../../stacks/pipeline";
import { batchJobRequests, batchScopes, runBatchBackfill, type BatchJobs } from "../../tools/index/batch-backfill";
import { runCli } from "../../tools/index-cli";
import { TEST_PROPS } from "../support/synth";

const ACCOUNT = "111122223333";
const pipeline = resolvePipeline("test", {
  ...TEST_PROPS,
  accountId: ACCOUNT,
  batchOperations: {},
  triggers: [{ prefix: "incoming/" }, { prefix: "csv/", suffix: ".csv", events: ["s3:ObjectCreated:*"] }, { prefix: "gone/", events: ["s3:ObjectRemoved:*"] }],
});

describe("what a batch backfill selects", () => {
  it("exactly what the trigger rules select: the rule's prefix, or the longer requested one, and its suffix", () => {
    expect(batchScopes(pipeline, { bucket: "cix-test-source", key: "" })).toEqual([
      { ruleId: "checksum-index-0", prefix: "incoming/", suffix: "" },
      { ruleId: "checksum-index-1", prefix: "csv/", suffix: ".csv" },
    ]);
    expect(batchScopes(pipeline, { bucket: "cix-test-source", key: "incoming/2026/" })).toEqual([{ ruleId: "checksum-index-0", prefix: "incoming/2026/", suffix: "" }]);
  });

  it("refuses a prefix no rule watches (incoming without its slash reaches incomingX/ too), and another bucket", () => {
    expect(() => batchScopes(pipeline, { bucket: "cix-test-source", key: "other/" })).toThrow(/no trigger rule of stack test watches s3:\/\/cix-test-source\/other\/\*/);
    expect(batchScopes(pipeline, { bucket: "cix-test-source", key: "incoming" })).toEqual([{ ruleId: "checksum-index-0", prefix: "incoming/", suffix: "" }]);
    expect(() => batchScopes(pipeline, { bucket: "elsewhere", key: "" })).toThrow(/is not the source bucket of stack test/);
  });
});

describe("the jobs it creates", () => {
  const [job] = batchJobRequests(pipeline, [{ ruleId: "checksum-index-1", prefix: "csv/", suffix: ".csv" }], { accountId: ACCOUNT, token: () => "token-1" });

  it("invoke the stack's alias with schema 2.0, as the stack's Batch Operations role", () => {
    expect(job).toMatchObject({
      AccountId: ACCOUNT,
      ConfirmationRequired: false,
      ClientRequestToken: "token-1",
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/cix-test-batch`,
      Operation: { LambdaInvoke: { FunctionArn: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:cix-test-indexer:live`, InvocationSchemaVersion: "2.0" } },
    });
  });

  it("list the rule's keys with a manifest generator, and report every task under the role's report prefix", () => {
    expect(job.ManifestGenerator?.S3JobManifestGenerator).toEqual({
      SourceBucket: "arn:aws:s3:::cix-test-source",
      EnableManifestOutput: true,
      ManifestOutputLocation: { Bucket: "arn:aws:s3:::cix-test-index", ManifestPrefix: "batch-operations/manifests", ManifestFormat: "S3InventoryReport_CSV_20211130" },
      Filter: { KeyNameConstraint: { MatchAnyPrefix: ["csv/"], MatchAnySuffix: [".csv"] } },
    });
    expect(job.Report).toEqual({ Enabled: true, Bucket: "arn:aws:s3:::cix-test-index", Prefix: "batch-operations", Format: "Report_CSV_20180820", ReportScope: "AllTasks" });
  });

  it("use an inventory manifest instead when given one", () => {
    const [withManifest] = batchJobRequests(pipeline, [{ ruleId: "r", prefix: "csv/", suffix: ".csv" }], {
      accountId: ACCOUNT,
      manifest: { objectArn: "arn:aws:s3:::inventory/source/manifest.json", eTag: "abc" },
    });
    expect(withManifest.ManifestGenerator).toBeUndefined();
    expect(withManifest.Manifest).toEqual({ Spec: { Format: "S3InventoryReport_CSV_20161130" }, Location: { ObjectArn: "arn:aws:s3:::inventory/source/manifest.json", ETag: "abc" } });
  });

  it("list every key, with no filter at all, for a rule that watches every key", () => {
    const everything = resolvePipeline("all", { ...TEST_PROPS, accountId: ACCOUNT, batchOperations: {}, triggers: [{ prefix: "" }] });
    const [job] = batchJobRequests(everything, batchScopes(everything, { bucket: "cix-test-source", key: "" }), { accountId: ACCOUNT });
    expect(job.ManifestGenerator?.S3JobManifestGenerator?.Filter).toBeUndefined();
  });

  it("need the stack's Batch Operations role", () => {
    const without = resolvePipeline("plain", { ...TEST_PROPS });
    expect(() => batchJobRequests(without, [{ ruleId: "r", prefix: "incoming/", suffix: "" }], { accountId: ACCOUNT })).toThrow(/has no Batch Operations role: set batchOperations: \{\}/);
  });
});

describe("following the jobs", () => {
  /** S3 Control as a script: each describe returns the next state of the job. */
  function scripted(states: Array<Partial<JobDescriptor>>): BatchJobs & { created: CreateJobCommandInput[] } {
    const created: CreateJobCommandInput[] = [];
    let i = 0;
    return {
      created,
      async create(request) {
        created.push(request);
        return `job-${created.length}`;
      },
      async describe(_account, jobId) {
        return { JobId: jobId, ...states[Math.min(i++, states.length - 1)] } as JobDescriptor;
      },
    };
  }

  it("waits until the job ends and summarizes it, with its report and failures", async () => {
    const jobs = scripted([
      { Status: "Preparing" },
      { Status: "Active", ProgressSummary: { TotalNumberOfTasks: 10, NumberOfTasksSucceeded: 4, NumberOfTasksFailed: 0 } },
      {
        Status: "Complete",
        ProgressSummary: { TotalNumberOfTasks: 10, NumberOfTasksSucceeded: 9, NumberOfTasksFailed: 1 },
        Report: { Enabled: true, Bucket: "arn:aws:s3:::cix-test-index", Prefix: "batch-operations", Format: "Report_CSV_20180820" },
      },
    ]);
    const progress: string[] = [];
    const [summary] = await runBatchBackfill(jobs, [{ AccountId: ACCOUNT } as CreateJobCommandInput], { wait: true, sleep: async () => {}, onProgress: (s) => progress.push(s.status) });
    expect(progress).toEqual(["Active", "Complete"]);
    expect(summary).toEqual({ jobId: "job-1", status: "Complete", total: 10, succeeded: 9, failed: 1, failureReasons: [], report: "s3://cix-test-index/batch-operations/job-job-1/" });
  });

  it("returns at once with --no-wait", async () => {
    const jobs = scripted([{ Status: "New" }, { Status: "Complete" }]);
    const [summary] = await runBatchBackfill(jobs, [{ AccountId: ACCOUNT } as CreateJobCommandInput], { wait: false, sleep: async () => { throw new Error("must not wait"); } });
    expect(summary.status).toBe("New");
  });

  it("the CLI refuses an inventory manifest the role may not read, before creating anything", async () => {
    const err: string[] = [];
    const io = { out: () => {}, err: (l: string) => err.push(l), progress: () => {} };
    const code = await runCli(
      ["backfill", "--batch", "--account-id", ACCOUNT, "--manifest", "s3://acme-inventory/source/manifest.json", "s3://checksum-index-dev-source/incoming/"],
      { AWS_REGION: "us-east-1" },
      io as any,
    );
    expect(code).toBe(2);
    expect(err.join("\n")).toMatch(/may read inventory manifests only under batchOperations.inventoryLocation/);
  });

  it("the CLI asks for the account before creating anything", async () => {
    const err: string[] = [];
    const io = { out: () => {}, err: (l: string) => err.push(l), progress: () => {} };
    const code = await runCli(["backfill", "--batch", "s3://checksum-index-dev-source/incoming/"], { AWS_REGION: "us-east-1" }, io as any);
    expect(code).toBe(2);
    expect(err.join("\n")).toMatch(/needs the stack's account: set CHECKSUM_INDEX_ACCOUNT_ID or pass --account-id/);
  });
});
