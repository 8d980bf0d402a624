/**
 * The pull-request summary, generated from real plans: `npm run plan`'s own code runs terraform offline on
 * synthesized stacks. The first plan is a full create; the others are planned against a state built from
 * it "as if applied", after a change of configuration.
 */
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { App } from "cdktf";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { beforeAll, describe, expect, it } from "vitest";
import { ChecksumIndexStack, type ChecksumIndexStackProps } from "../../stacks/checksum-index-stack";
import { renderMarkdown, summarizePlan, type PlanSummary } from "../../tools/plan/plan-summary";
import { planStack } from "../../tools/plan";
import { OFFLINE_STATE_FILE, offlineWorkDir, terraformRunner } from "../../tools/terraform";
import { stateFromCreatePlan } from "../support/terraform-state";
import { change as fixture, planOf } from "../support/plan-fixtures";
import { tempDir } from "../support/temp";

const BASE: ChecksumIndexStackProps = { namePrefix: "cix-review", region: "eu-west-1", accountId: "111122223333" };
const work = tempDir("cix-plan-");
const outdir = path.join(work, "cdktf.out");
const stackDir = path.join(outdir, "stacks", "review");

/** Synthesizes the stack with these props into the same folder (the state stays) and plans it offline. */
function plan(
  props: Partial<ChecksumIndexStackProps>,
  name: string,
  extend?: (stack: ChecksumIndexStack) => void,
): { json: any; markdown: string; summary: PlanSummary } {
  const app = new App({ outdir });
  const stack = new ChecksumIndexStack(app, "review", { ...BASE, ...props });
  extend?.(stack);
  app.synth();
  const result = planStack("review", stackDir, { offline: true, outDir: path.join(work, name), reuseInit: true });
  const json = JSON.parse(readFileSync(result.files.json, "utf8"));
  return { json, markdown: result.markdown, summary: summarizePlan(json) };
}

let create: ReturnType<typeof plan>;

beforeAll(() => {
  create = plan({}, "create");
  const tf = terraformRunner(work);
  const schema = JSON.parse(tf.ok(["providers", "schema", "-json"], offlineWorkDir(stackDir)));
  writeFileSync(path.join(stackDir, OFFLINE_STATE_FILE), JSON.stringify(stateFromCreatePlan(create.json, schema)));
  copyFileSync(path.join(stackDir, OFFLINE_STATE_FILE), path.join(work, "applied.tfstate"));
}, 120_000);

/** Back to the "applied" state before each changed plan. */
function fromApplied(props: Partial<ChecksumIndexStackProps>, name: string, extend?: (stack: ChecksumIndexStack) => void) {
  copyFileSync(path.join(work, "applied.tfstate"), path.join(stackDir, OFFLINE_STATE_FILE));
  return plan(props, name, extend);
}

/** The execution role, found as any construct would find it. */
const roleOf = (stack: ChecksumIndexStack) => stack.node.findAll().find((c): c is IamRole => c instanceof IamRole)!;

describe("the summary of real plans", () => {
  it("an initial create: counts, every resource, and the access it grants", () => {
    expect(create.summary.counts).toEqual({ add: 25, change: 0, replace: 0, destroy: 0 });
    expect(create.summary.dangers).toEqual([]);
    const permission = create.summary.access.find((a) => a.type === "aws_lambda_permission")!;
    expect(permission.facts).toEqual([
      'action: null → "lambda:InvokeFunction"',
      'principal: null → "s3.amazonaws.com"',
      'source_arn: null → "arn:aws:s3:::cix-review-source"',
      'source_account: null → "111122223333"',
      'qualifier: null → "live"',
      'function_name: null → "cix-review-indexer"',
    ]);
    const role = create.summary.access.find((a) => a.type === "aws_iam_role_policy")!;
    expect(role.direction).toBe("widens");
    expect(role.facts).toContain("Allow Sid ReadSourceObjects0: + action s3:GetObjectAttributes, + action s3:GetObject, + resource arn:aws:s3:::cix-review-source/incoming/*");
    // Creating the TLS-only bucket policies and public access blocks only takes access away.
    expect(create.summary.access.filter((a) => a.type === "aws_s3_bucket_policy").map((a) => a.direction)).toEqual(["narrows", "narrows"]);
    expect(create.markdown).toContain("**25 to add, 0 to change, 0 to replace, 0 to destroy.**");
    expect(create.markdown).toMatch(/\| `\+` \| create \| `aws_s3_bucket_notification\.trigger_notification_[0-9A-F]+` \| aws_s3_bucket_notification \|/);
  });

  it("an added IAM action and a managed policy attached by another construct both widen access, by name", () => {
    const versioned = fromApplied({ sourceBucket: { versioned: true } }, "iam", (stack) => {
      new IamRolePolicyAttachment(stack, "extra-admin", { role: roleOf(stack).name, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" });
    });
    // Only what the change touches: the "applied" state matches the rest of the configuration exactly.
    expect(versioned.summary.changes.map((c) => [c.type, c.action])).toEqual([
      ["aws_iam_role_policy", "update"],
      ["aws_iam_role_policy_attachment", "create"],
      // Versioning is a resource only while it is on.
      ["aws_s3_bucket_versioning", "create"],
    ]);
    expect(versioned.summary.access.find((a) => a.type === "aws_iam_role_policy_attachment")).toMatchObject({
      direction: "widens",
      subject: "policies attached to role `cix-review-indexer`",
      facts: ["+ attaches arn:aws:iam::aws:policy/AdministratorAccess"],
      warnings: ["arn:aws:iam::aws:policy/AdministratorAccess is an AWS managed policy granting every action on every resource"],
    });
    expect(versioned.markdown).toContain("**2 changes widen access**");
    const role = versioned.summary.access.find((a) => a.type === "aws_iam_role_policy")!;
    expect(role).toMatchObject({ action: "update", direction: "widens", facts: ["Allow Sid ReadSourceObjects0: + action s3:GetObjectVersionAttributes, + action s3:GetObjectVersion"] });
    expect(role.policyDiff).toMatch(/^\+\s+"s3:GetObjectVersion"/m);
    expect(versioned.markdown).toContain("⚠️ **widens access**");
    expect(versioned.markdown).toContain("```diff");
    expect(versioned.summary.dangers).toEqual([]);
  });

  it("a change of notification prefix shows the old and new rule and the narrowed read", () => {
    const moved = fromApplied({ triggers: [{ prefix: "uploads/" }] }, "prefix");
    const notification = moved.summary.access.find((a) => a.type === "aws_s3_bucket_notification")!;
    expect(notification.facts).toEqual([
      '- lambda arn:aws:lambda:eu-west-1:111122223333:function:cix-review-indexer:live: s3:LifecycleExpiration:*,s3:ObjectCreated:*,s3:ObjectRemoved:* prefix="incoming/" suffix=""',
      '+ lambda arn:aws:lambda:eu-west-1:111122223333:function:cix-review-indexer:live: s3:LifecycleExpiration:*,s3:ObjectCreated:*,s3:ObjectRemoved:* prefix="uploads/" suffix=""',
    ]);
    expect(notification.direction).toBe("changes");
    const role = moved.summary.access.find((a) => a.type === "aws_iam_role_policy")!;
    expect(role.facts).toEqual([
      "Allow Sid ReadSourceObjects0: + resource arn:aws:s3:::cix-review-source/uploads/*, - resource arn:aws:s3:::cix-review-source/incoming/*",
    ]);
    expect(role.direction).toBe("widens");
  });

  it("without an account id, a create shows the role policy's literal statements and marks only the unknown ARNs", () => {
    rmSync(path.join(stackDir, OFFLINE_STATE_FILE), { force: true });
    const fresh = plan({ accountId: undefined }, "unknown");
    const role = fresh.summary.access.find((a) => a.type === "aws_iam_role_policy")!;
    expect(role.direction).toBe("widens");
    expect(role.facts[0]).toMatch(/^policy: known after apply; shown from data\.aws_iam_policy_document\.indexer_permissions_[0-9A-F]+, unknown parts marked/);
    expect(role.facts).toContain("Allow Sid ReadSourceObjects0: + action s3:GetObject, + action s3:GetObjectAttributes, + resource arn:aws:s3:::cix-review-source/incoming/*");
    expect(role.facts).toContainEqual(expect.stringMatching(/^Allow Sid WriteOwnLogs: \+ action logs:CreateLogStream, \+ action logs:PutLogEvents, \+ resource ⟨aws_cloudwatch_log_group\.indexer_logs_[0-9A-F]+\.arn⟩:log-stream:\*$/));
    expect(role.facts).toContainEqual(expect.stringMatching(/^Allow Sid SendFailedEvents: \+ action sqs:SendMessage, \+ resource ⟨aws_sqs_queue\.indexer_failures_[0-9A-F]+\.arn⟩$/));
    expect(fresh.markdown).not.toMatch(/policy: \(known after apply\)/);
  });

  it("a bucket replace gets a loud warning", () => {
    const renamed = fromApplied({ index: { name: "cix-review-index-v2" } }, "replace");
    expect(renamed.summary.counts.replace).toBeGreaterThan(0);
    expect(renamed.summary.dangers).toEqual([
      expect.stringMatching(/^REPLACES the bucket `cix-review-index` \(aws_s3_bucket\.index_bucket_[0-9A-F]+\), because of a change to bucket: its objects, the index itself, would be lost/),
    ]);
    expect(renamed.markdown).toContain("> [!CAUTION]");
    const iam = renamed.summary.access.find((a) => a.type === "aws_iam_role_policy")!;
    expect(iam.facts.join("\n")).toContain("+ resource arn:aws:s3:::cix-review-index-v2/index/*");
  });
});

describe("summary rules on hand-made changes", () => {
  const change = (type: string, actions: string[], before: any, after: any) => planOf([fixture(type, actions, before, after)]);

  it("opening a public access block widens access", () => {
    const flags = { block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true };
    const s = summarizePlan(change("aws_s3_bucket_public_access_block", ["update"], flags, { ...flags, block_public_policy: false }));
    expect(s.access[0]).toMatchObject({ direction: "widens", facts: ["block_public_policy: true → false"] });
    const closed = summarizePlan(change("aws_s3_bucket_public_access_block", ["update"], { ...flags, block_public_policy: false }, flags));
    expect(closed.access[0].direction).toBe("narrows");
  });

  it("a permission whose principal becomes anyone is shown field by field", () => {
    const s = summarizePlan(
      change(
        "aws_lambda_permission",
        ["delete", "create"],
        { action: "lambda:InvokeFunction", function_name: "f", principal: "s3.amazonaws.com", source_arn: "arn:aws:s3:::a" },
        { action: "lambda:InvokeFunction", function_name: "f", principal: "*", source_arn: null },
      ),
    );
    expect(s.access[0].facts).toEqual(['principal: "s3.amazonaws.com" → "*"', 'source_arn: "arn:aws:s3:::a" → null']);
    expect(s.access[0].direction).toBe("widens");
    expect(renderMarkdown("t", s)).toContain("`-/+` `aws_lambda_permission.x`");
  });

  it("a removed statement of a Deny policy widens access", () => {
    const doc = (statements: any[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });
    const deny = { Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: ["arn:aws:s3:::b"] };
    const s = summarizePlan(change("aws_s3_bucket_policy", ["update"], { policy: doc([deny]) }, { policy: doc([]) }));
    expect(s.access[0].direction).toBe("widens");
  });

  it("a destroyed bucket is a danger", () => {
    const s = summarizePlan(change("aws_s3_bucket", ["delete"], { bucket: "uploads" }, null));
    expect(s.dangers[0]).toMatch(/^DESTROYS the bucket `uploads`/);
    expect(s.counts.destroy).toBe(1);
  });
});

describe("the policy diff", () => {
  it("shows removals before additions, with three lines of context and … between hunks", async () => {
    const { lineDiff } = await import("../../tools/plan/plan-summary");
    const before = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"].join("\n");
    const after = ["a", "B", "c", "d", "e", "f", "g", "h", "i", "j", "K"].join("\n");
    expect(lineDiff(before, after).split("\n")).toEqual(["  a", "- b", "+ B", "  c", "  d", "  e", "…", "  h", "  i", "  j", "- k", "+ K"]);
  });
});
