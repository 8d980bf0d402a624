/**
 * The synthesized Terraform, proven by Terraform itself: init from the local provider mirror, validate,
 * and plan offline with fake credentials (the stack needs no AWS call to plan).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { planStack } from "../../tools/plan";
import { assertMirrorHasAws, terraformRunner } from "../../tools/terraform";
import { synthAppToDisk } from "../support/synth";
import { tempDir } from "../support/temp";

describe.each(["dev", "prod"])("terraform on the %s stack", (stackName) => {
  let stackDir: string;
  let workDir: string;
  let plan: any;

  beforeAll(() => {
    // Says exactly what is missing (terraform, or the AWS provider in the mirror) before anything runs.
    assertMirrorHasAws();
    stackDir = path.join(synthAppToDisk({ namePrefix: "cix-tftest", accountId: "111122223333" }), "stacks", stackName);
    // The same init, offline plan and `terraform show -json` as `npm run plan -- --offline`.
    const planned = planStack(stackName, stackDir, { offline: true, outDir: tempDir("cix-tf-") });
    plan = JSON.parse(readFileSync(planned.files.json, "utf8"));
    workDir = planned.workDir;
  });

  it("validates", () => {
    const tf = terraformRunner(tempDir("cix-tf-"));
    const result = JSON.parse(tf.ok(["validate", "-json", "-no-color"], workDir));
    expect(result.diagnostics).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("plans to create every resource and to change or destroy nothing", () => {
    const managed = plan.resource_changes.filter((rc: any) => rc.mode === "managed");
    expect(new Set(managed.map((rc: any) => rc.change.actions.join(",")))).toEqual(new Set(["create"]));
    // Policy documents are rendered locally, during plan: nothing is left to read at apply.
    expect(plan.resource_changes.filter((rc: any) => rc.mode === "data")).toEqual([]);
    const types = managed.map((rc: any) => rc.type).sort();
    const perBucket = [
      "aws_s3_bucket",
      "aws_s3_bucket_lifecycle_configuration",
      "aws_s3_bucket_ownership_controls",
      "aws_s3_bucket_policy",
      "aws_s3_bucket_public_access_block",
      "aws_s3_bucket_server_side_encryption_configuration",
      // Versioning is a resource only while it is on (prod).
      ...(stackName === "prod" ? ["aws_s3_bucket_versioning"] : []),
    ];
    expect(types).toEqual(
      [
        "aws_cloudwatch_log_group",
        "aws_cloudwatch_metric_alarm",
        "aws_cloudwatch_metric_alarm",
        "aws_cloudwatch_metric_alarm",
        "aws_cloudwatch_metric_alarm",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_lambda_alias",
        "aws_lambda_function",
        "aws_lambda_function_event_invoke_config",
        "aws_lambda_permission",
        "aws_s3_bucket_notification",
        "aws_sqs_queue",
        ...perBucket,
        ...perBucket,
      ].sort(),
    );
  });

  it("shows the notification, the permission and the function as they will be created", () => {
    const after = (type: string) => plan.resource_changes.find((rc: any) => rc.type === type).change.after;
    expect(after("aws_s3_bucket_notification").lambda_function[0]).toMatchObject({
      events: ["s3:LifecycleExpiration:*", "s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
      filter_prefix: "incoming/",
    });
    expect(after("aws_lambda_permission")).toMatchObject({
      principal: "s3.amazonaws.com",
      source_arn: `arn:aws:s3:::cix-tftest-${stackName}-source`,
      qualifier: "live",
      action: "lambda:InvokeFunction",
    });
    expect(after("aws_lambda_function")).toMatchObject({ runtime: "nodejs22.x", publish: true, handler: "handler.handler" });
  });

  it("shows the role's whole policy in the plan when the account is given", () => {
    const policy = plan.resource_changes.find((rc: any) => rc.type === "aws_iam_role_policy").change.after.policy;
    const resources = JSON.parse(policy).Statement.map((st: any) => st.Resource);
    expect(resources).toEqual([
      `arn:aws:s3:::cix-tftest-${stackName}-source/incoming/*`,
      `arn:aws:s3:::cix-tftest-${stackName}-index/index/*`,
      `arn:aws:s3:::cix-tftest-${stackName}-index`,
      `arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/cix-tftest-${stackName}-indexer:log-stream:*`,
      `arn:aws:sqs:us-east-1:111122223333:cix-tftest-${stackName}-indexer-failures`,
      `arn:aws:lambda:us-east-1:111122223333:function:cix-tftest-${stackName}-indexer:live`,
    ]);
    for (const rc of plan.resource_changes.filter((r: any) => r.type === "aws_s3_bucket_policy")) {
      expect(JSON.parse(rc.change.after.policy).Statement[0].Condition).toEqual({ Bool: { "aws:SecureTransport": "false" } });
    }
  });
});
