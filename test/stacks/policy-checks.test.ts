/**
 * The synthesized configuration against the rules Checkov, tfsec and KICS apply to these resources. Every
 * rule is met, except those listed in INTENTIONALLY_UNMET (and in docs/security.md) with their reason.
 */
import { describe, expect, it } from "vitest";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { withRolePolicyChanged } from "../support/policies";
import { INTENTIONALLY_UNMET, RULES } from "../support/policy-rules";
import { synthAppStacks, synthStack } from "../support/synth";

const stacks = synthAppStacks({ namePrefix: "checksum-index", accountId: "111122223333" });

describe.each(stacks.map((s) => [s.stack.node.id, s.config] as const))("the %s stack", (stackName, config) => {
  for (const rule of RULES) {
    const exception = INTENTIONALLY_UNMET[rule.id];
    if (exception?.stacks.includes(stackName)) {
      it(`${rule.id}: ${rule.title} (not met on purpose: ${exception.reason})`, () => {
        expect(rule.check(config).length, "the rule is met now: remove it from INTENTIONALLY_UNMET and docs/security.md").toBeGreaterThan(0);
      });
    } else {
      it(`${rule.id}: ${rule.title}`, () => {
        expect(rule.check(config)).toEqual([]);
      });
    }
  }
});

describe("every exception names a real rule", () => {
  it.each(Object.keys(INTENTIONALLY_UNMET))("%s", (id) => {
    expect(RULES.map((r) => r.id)).toContain(id);
  });
});

describe("an EventBridge-delivery stack with a Batch Operations role", () => {
  const { config } = synthStack({ accountId: "111122223333", delivery: "eventbridge", batchOperations: {} });
  const unmetInDev = new Set(Object.entries(INTENTIONALLY_UNMET).filter(([, e]) => e.stacks.includes("dev")).map(([id]) => id));
  it.each(RULES.filter((r) => !unmetInDev.has(r.id)).map((r) => [r.id, r] as const))("meets %s, as the dev stack does", (_id, rule) => {
    expect(rule.check(config)).toEqual([]);
  });
});

describe("configurable rules are met when configured", () => {
  const rule = (id: string) => RULES.find((r) => r.id.startsWith(id))!;

  it("CKV_AWS_50: tracing Active, and its X-Ray grant is the only * resource", () => {
    const { config } = synthStack({ accountId: "111122223333", function: { tracing: "Active" } });
    expect(rule("CKV_AWS_50").check(config)).toEqual([]);
    expect(rule("CKV_AWS_355").check(config)).toEqual([]);
  });

  it("CKV_AWS_115: reserved concurrency", () => {
    expect(rule("CKV_AWS_115").check(synthStack({ function: { reservedConcurrency: 5 } }).config)).toEqual([]);
  });

  it("CKV_AWS_145: SSE-KMS with a key", () => {
    const key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    expect(rule("CKV_AWS_145").check(synthStack({ sourceBucket: { kmsKeyArn: key }, index: { kmsKeyArn: key } }).config)).toEqual([]);
  });
});

describe("a deliberately widened policy is caught by the policy checks", () => {
  const widened = (mutate: (statements: any[]) => void) =>
    withRolePolicyChanged(synthStack({ accountId: "111122223333" }).config, mutate);

  it("s3:* as an action", () => {
    expect(RULES.find((r) => r.id.startsWith("CKV_AWS_62"))!.check(widened((s) => s[0].actions.push("s3:*")))).toEqual(["ReadSourceObjects0: action s3:*"]);
  });

  it("s3:* in a policy another construct attaches to the role", () => {
    const { config } = synthStack({ accountId: "111122223333" }, (stack) => {
      const role = stack.node.findAll().find((c): c is IamRole => c instanceof IamRole)!;
      const policy = new IamPolicy(stack, "extra", { name: "extra", policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "Extra", Effect: "Allow", Action: "s3:*", Resource: "*" }] }) });
      new IamRolePolicyAttachment(stack, "extra-attach", { role: role.name, policyArn: policy.arn });
    });
    expect(RULES.find((r) => r.id.startsWith("CKV_AWS_62"))!.check(config)).toEqual(["Extra: action s3:*"]);
  });

  it("* as a resource", () => {
    expect(RULES.find((r) => r.id.startsWith("CKV_AWS_355"))!.check(widened((s) => s[1].resources.push("*")))).toEqual(["ReadWriteIndexRecords: resource *"]);
  });
});


