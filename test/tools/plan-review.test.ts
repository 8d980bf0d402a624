/**
 * The rest of the review: cautions for data that a destroy or replace loses, values unknown until apply,
 * the pull-request comment's truncation, and `npm run plan -- --summarize` on a plan made elsewhere.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { composeComment, fitMarkdown, markdownBlocks } from "../../tools/plan/comment";
import { parsePlanJson, PlanFormatError, renderMarkdown, summarizePlan } from "../../tools/plan/plan-summary";
import { ACCOUNT, change, doc, planOf } from "../support/plan-fixtures";
import { tempDir } from "../support/temp";

const QUEUE_ARN = `arn:aws:sqs:eu-west-1:${ACCOUNT}:acme-indexer-failures`;
const fn = (bucket: string) =>
  change("aws_lambda_function", ["no-op"], null, { function_name: "acme-indexer", environment: [{ variables: { INDEX_BUCKET: bucket } }] }, { name: "fn" });
const invokeConfig = change("aws_lambda_function_event_invoke_config", ["no-op"], null, { destination_config: [{ on_failure: [{ destination: QUEUE_ARN }] }] }, { name: "async" });
const notification = change("aws_s3_bucket_notification", ["no-op"], null, { bucket: "acme-source", lambda_function: [] }, { name: "trigger" });

describe("cautions for lost data", () => {
  it("replacing the source bucket names its objects, not the index", () => {
    const s = summarizePlan(
      planOf([fn("acme-index"), notification, change("aws_s3_bucket", ["delete", "create"], { bucket: "acme-source" }, { bucket: "acme-source-v2" }, { name: "source", replacePaths: [["bucket"]] })]),
    );
    expect(s.dangers).toEqual([
      "REPLACES the bucket `acme-source` (aws_s3_bucket.source), because of a change to bucket: its objects, the objects being indexed, would be lost or the apply would fail on a non-empty bucket.",
    ]);
  });

  it("destroying the index bucket says the index itself is lost, even when its name has no 'index' in it", () => {
    const s = summarizePlan(planOf([fn("acme-records"), change("aws_s3_bucket", ["delete"], { bucket: "acme-records" }, null, { name: "idx" })]));
    expect(s.dangers[0]).toMatch(/^DESTROYS the bucket `acme-records` .*: its objects, the index itself, would be lost/);
  });

  it("a bucket that is neither gets the plain caution", () => {
    const s = summarizePlan(planOf([fn("acme-index"), change("aws_s3_bucket", ["delete"], { bucket: "acme-index-logs" }, null)]));
    expect(s.dangers[0]).toMatch(/: its objects would be lost/);
  });

  it("deleting the failure queue warns that the failed events in it are lost", () => {
    const s = summarizePlan(planOf([invokeConfig, change("aws_sqs_queue", ["delete"], { name: "acme-indexer-failures", arn: QUEUE_ARN }, null, { name: "failures" })]));
    expect(s.dangers).toEqual([
      "DESTROYS the failure queue `acme-indexer-failures` (aws_sqs_queue.failures): the failed events waiting in it, the only record of what was not indexed, would be lost.",
    ]);
    expect(renderMarkdown("dev", s)).toContain("> [!CAUTION]\n> DESTROYS the failure queue");
  });

  it("replacing the log group warns that its logs are lost", () => {
    const s = summarizePlan(planOf([change("aws_cloudwatch_log_group", ["create", "delete"], { name: "/aws/lambda/acme-indexer" }, { name: "/aws/lambda/acme" }, { replacePaths: [["name"]] })]));
    expect(s.dangers[0]).toBe("REPLACES the log group `/aws/lambda/acme-indexer` (aws_cloudwatch_log_group.x), because of a change to name: its logs would be lost.");
  });

  it("updating those resources in place is no danger", () => {
    const s = summarizePlan(planOf([change("aws_sqs_queue", ["update"], { name: "q", arn: QUEUE_ARN }, { name: "q", arn: QUEUE_ARN })]));
    expect(s.dangers).toEqual([]);
  });
});

describe("values known only after apply", () => {
  it("a policy that depends on something else unknown is unverifiable, with what it depends on, never hidden", () => {
    const rc = change("aws_iam_role_policy", ["update"], { name: "p", role: "r", policy: doc({ Effect: "Allow", Action: "sqs:SendMessage", Resource: "arn:aws:sqs:eu-west-1:111122223333:q" }) }, { name: "p", role: "r" }, { afterUnknown: { policy: true } });
    const configuration = {
      root_module: { resources: [{ address: "aws_iam_role_policy.x", expressions: { policy: { references: ["aws_sqs_queue.q.arn", "aws_sqs_queue.q"] } } }] },
    };
    const s = summarizePlan(planOf([rc], { configuration }));
    expect(s.access).toEqual([expect.objectContaining({ direction: "unverifiable", facts: ["policy: ⟨known after apply: aws_sqs_queue.q.arn⟩"] })]);
    expect(renderMarkdown("dev", s)).toContain("**1 cannot be verified until apply**");
  });

  it("an unknown resource in a policy rebuilt from its data source is marked, and a known wider action still widens", () => {
    const before = doc({ Sid: "Send", Effect: "Allow", Action: "sqs:SendMessage", Resource: "arn:aws:sqs:eu-west-1:111122223333:q" });
    const policy = change("aws_iam_role_policy", ["update"], { name: "p", role: "r", policy: before }, { name: "p", role: "r" }, { afterUnknown: { policy: true } });
    const data = {
      ...change("aws_iam_policy_document", ["read"], null, { statement: [{ sid: "Send", effect: "Allow", actions: ["sqs:SendMessage", "sqs:DeleteQueue"], resources: [null], principals: [], not_principals: [], condition: [] }] }, { name: "perm", afterUnknown: { json: true, statement: [{ resources: [true] }] } }),
      address: "data.aws_iam_policy_document.perm",
      mode: "data" as const,
    };
    const configuration = {
      root_module: {
        resources: [
          { address: "aws_iam_role_policy.x", expressions: { policy: { references: ["data.aws_iam_policy_document.perm.json", "data.aws_iam_policy_document.perm"] } } },
          { address: "data.aws_iam_policy_document.perm", expressions: { statement: [{ resources: { references: ["aws_sqs_queue.q.arn", "aws_sqs_queue.q"] } }] } },
        ],
      },
    };
    const s = summarizePlan(planOf([policy, data], { configuration }));
    expect(s.access[0].direction).toBe("widens");
    expect(s.access[0].facts).toEqual([
      "policy: known after apply; shown from data.aws_iam_policy_document.perm, unknown parts marked ⟨…⟩",
      "Allow Sid Send: + action sqs:DeleteQueue, + resource ⟨known after apply: aws_sqs_queue.q.arn⟩, - resource arn:aws:sqs:eu-west-1:111122223333:q",
    ]);
  });

  it("the same action on an unknown resource is unverifiable, not passed", () => {
    const before = doc({ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::a/*" });
    const after = doc({ Effect: "Allow", Action: "s3:GetObject", Resource: "⟨aws_s3_bucket.b.arn⟩/*" });
    const s = summarizePlan(planOf([change("aws_iam_policy", ["update"], { policy: before }, { policy: after })]));
    expect(s.access[0].direction).toBe("unverifiable");
  });
});

describe("the pull-request comment", () => {
  const item = (n: number) =>
    [`- \`~\` \`aws_iam_role_policy.p${n}\`: ⚠️ **widens access**: inline policy`, "  - Allow Sid A: + action s3:PutObject", "", "  <details><summary>policy document diff</summary>", "", "  ```diff", ...Array.from({ length: 40 }, (_, i) => `  + "line ${n}.${i}"`), "  ```", "", "  </details>", ""].join("\n");
  const summary = ["### Terraform plan: `dev`", "", "**0 to add, 50 to change, 0 to replace, 0 to destroy.**", "", "#### Access changes (50)", "", ...Array.from({ length: 50 }, (_, i) => item(i))].join("\n");

  it("keeps a list item with its <details> block as one block", () => {
    const blocks = markdownBlocks(summary);
    expect(blocks.filter((b) => b.includes("<details>"))).toHaveLength(50);
    for (const b of blocks.filter((x) => x.includes("<details>"))) expect(b).toContain("</details>");
  });

  it("cuts only between blocks, never inside a <details> block, and says how much is left out", () => {
    const limit = 8_000;
    const body = composeComment([summary], limit);
    expect(summary.length).toBeGreaterThan(limit);
    expect(body.length).toBeLessThanOrEqual(limit);
    expect((body.match(/<details>/g) ?? []).length).toBe((body.match(/<\/details>/g) ?? []).length);
    expect((body.match(/```/g) ?? []).length % 2).toBe(0);
    expect(body).toMatch(/_Truncated: \d+ more lines are in the plan-summary artifact/);
    expect(summary.startsWith(body.slice(0, body.indexOf("_Truncated")).trimEnd())).toBe(true);
  });

  it("leaves a summary that fits untouched and joins stacks with a rule", () => {
    expect(composeComment(["### a\n", "### b\n"])).toBe("### a\n\n---\n\n### b\n");
    expect(fitMarkdown("short", 100, () => "cut")).toBe("short");
  });
});

describe("npm run plan -- --summarize", () => {
  const dir = tempDir("cix-summarize-");
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [path.resolve("node_modules/tsx/dist/cli.mjs"), "tools/plan.ts", ...args], { encoding: "utf8", cwd: path.resolve(__dirname, "..", "..") });

  it("summarizes a plan made elsewhere as the plan command does, and refuses a state with a typed error", () => {
    const plan = planOf([change("aws_iam_role_policy_attachment", ["create"], null, { role: "ci-deployer", policy_arn: "arn:aws:iam::aws:policy/AdministratorAccess" })]);
    const file = path.join(dir, "atlantis-plan.json");
    writeFileSync(file, JSON.stringify(plan));
    const ok = run("--summarize", file, "--stack", "prod");
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(renderMarkdown("prod", summarizePlan(plan)));
    expect(ok.stdout).toContain("AdministratorAccess is an AWS managed policy");

    const state = path.join(dir, "state.json");
    writeFileSync(state, JSON.stringify({ format_version: "1.0", values: { root_module: {} } }));
    const refused = run("--summarize", state);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`npm run plan: ${state} is a state (terraform show -json without a plan file)`);
    expect(() => parsePlanJson("{}", "x.json")).toThrow(PlanFormatError);
  });
});
