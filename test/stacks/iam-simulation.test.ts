/**
 * Least privilege, measured: the synthesized policies (execution role, bucket policies, the function's
 * resource policy) evaluated by an IAM policy simulator against a matrix of requests.
 *
 * The matrix is data (test/support/iam-matrix.ts): adding a case is one line.
 */
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { describe, expect, it } from "vitest";
import { ACCOUNT, KEY, MATRIX, REGION, appliesTo, type Case, type Expect } from "../support/iam-matrix";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import type { ChecksumIndexStack } from "../../stacks/checksum-index-stack";
import { bucketPolicies, executionRole, functionPolicy, rolePolicies, undesignedRolePolicies, withRolePolicyChanged } from "../support/policies";
import { synthStack } from "../support/synth";

const VARIANTS = {
  plain: {},
  kms: { sourceBucket: { versioned: true, kmsKeyArn: KEY }, index: { kmsKeyArn: KEY } },
  eventbridge: { delivery: "eventbridge", batchOperations: {} },
} as const;

interface Policies {
  config: any;
  names: Record<string, string>;
}

function policiesOf(variant: keyof typeof VARIANTS, extend?: (stack: ChecksumIndexStack) => void): Policies {
  const { config } = synthStack({ accountId: ACCOUNT, region: REGION, ...VARIANTS[variant] }, extend);
  return { config, names: { SRC: "cix-test-source", IDX: "cix-test-index", ACCOUNT, REGION, FN: "cix-test-indexer" } };
}

const fill = (text: string, names: Record<string, string>) => text.replace(/\b(SRC|IDX|ACCOUNT|REGION|FN)\b/g, (m) => names[m]);

/**
 * A KMS key is reachable through IAM only if its key policy delegates to the account, as the default key
 * policy does; that is the setting the stack documents for customer managed keys.
 */
const defaultKeyPolicy = (account: string) => ({
  Version: "2012-10-17",
  Statement: [{ Sid: "Enable IAM User Permissions", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: "kms:*", Resource: "*" }],
});

/** Runs one request against the stack's policies; "Allowed" or "Denied", or throws on a simulator error. */
export async function evaluate(policies: Policies, [who, action, resourceTemplate, , context = {}]: Case): Promise<Expect> {
  const { config, names } = policies;
  const resource = fill(resourceTemplate, names);
  const contextVariables: Record<string, string> = { "aws:SecureTransport": "true" };
  for (const [k, v] of Object.entries(context)) contextVariables[k] = fill(v, names);
  const role = executionRole(config);
  const bucket = resource.startsWith("arn:aws:s3:::") ? resource.slice("arn:aws:s3:::".length).split("/")[0] : undefined;
  const resourcePolicy =
    who === "s3" || who === "events"
      ? functionPolicy(config, names.REGION, names.ACCOUNT)
      : bucket
        ? bucketPolicies(config)[bucket]
        : action.startsWith("kms:")
          ? defaultKeyPolicy(names.ACCOUNT)
          : undefined;
  const response = await runSimulation(
    {
      request: {
        principal: who === "s3" ? "s3.amazonaws.com" : who === "events" ? "events.amazonaws.com" : fill(role.arn, names),
        action,
        resource: { resource, accountId: names.ACCOUNT },
        contextVariables,
      },
      identityPolicies: who === "function" ? role.identities : [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy,
    },
    {},
  );
  if (response.resultType === "error") throw new Error(`simulator refused ${action} on ${resource}: ${JSON.stringify(response.errors)}`);
  return response.overallResult === "Allowed" ? "Allowed" : "Denied";
}

describe.each(Object.keys(VARIANTS) as Array<keyof typeof VARIANTS>)("the %s stack", (variant) => {
  const policies = policiesOf(variant);
  const cases = MATRIX.filter((c) => appliesTo(c, variant));
  it.each(cases.map((c) => [`${c[0]} ${c[1]} ${c[2]}${c[4] && Object.keys(c[4]).length ? ` ${JSON.stringify(c[4])}` : ""}`, c] as const))(
    "%s",
    async (_name, c) => {
      expect(await evaluate(policies, c)).toBe(c[3]);
    },
  );

  it("lets only Lambda assume the role", async () => {
    const { trust } = executionRole(policies.config);
    const run = (service: string) =>
      runSimulation(
        {
          request: { principal: service, action: "sts:AssumeRole", resource: { resource: `arn:aws:iam::${ACCOUNT}:role/cix-test-indexer`, accountId: ACCOUNT }, contextVariables: {} },
          identityPolicies: [],
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          resourcePolicy: trust,
        },
        {},
      );
    const result = async (service: string) => {
      const r = await run(service);
      if (r.resultType === "error") throw new Error(JSON.stringify(r.errors));
      return r.overallResult;
    };
    expect(await result("lambda.amazonaws.com")).toBe("Allowed");
    expect(await result("ec2.amazonaws.com")).not.toBe("Allowed");
  });
});

describe("every policy that reaches the role", () => {
  /** The function's role, found as any construct of an app would find it. */
  const roleOf = (stack: ChecksumIndexStack) => stack.node.findAll().find((c): c is IamRole => c instanceof IamRole)!;
  const s3Everything = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] });

  it.each(Object.keys(VARIANTS) as Array<keyof typeof VARIANTS>)("is part of the design in the %s stack: its one inline least-privilege policy", (variant) => {
    const { config } = policiesOf(variant);
    expect(rolePolicies(config).map((p) => [p.kind, p.name.replace(/_[0-9A-F]{8} /, " ")])).toEqual([["inline", "aws_iam_role_policy.indexer_role-policy (least-privilege)"]]);
    expect(undesignedRolePolicies(config)).toEqual([]);
  });

  const EXTRAS: Array<[string, (stack: ChecksumIndexStack) => void, RegExp]> = [
    [
      "an AWS managed policy attached by another construct",
      (stack) => new IamRolePolicyAttachment(stack, "extra-admin", { role: roleOf(stack).name, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" }),
      /^aws_iam_role_policy_attachment\.extra-admin \(arn:aws:iam::aws:policy\/AdministratorAccess\)$/,
    ],
    [
      "a customer managed policy attached by the role's name",
      (stack) => {
        const policy = new IamPolicy(stack, "extra-policy", { name: "extra", policy: s3Everything });
        new IamRolePolicyAttachment(stack, "extra-attach", { role: "cix-test-indexer", policyArn: policy.arn });
      },
      /^aws_iam_role_policy_attachment\.extra-attach \(\$\{aws_iam_policy\.extra-policy\.arn\}\)$/,
    ],
    [
      "a second inline policy",
      (stack) => new IamRolePolicy(stack, "extra-inline", { role: roleOf(stack).id, name: "debugging", policy: s3Everything }),
      /^aws_iam_role_policy\.extra-inline \(debugging\)$/,
    ],
    [
      "managed_policy_arns on the role",
      (stack) => roleOf(stack).addOverride("managed_policy_arns", ["arn:aws:iam::aws:policy/AdministratorAccess"]),
      /managed_policy_arns \(arn:aws:iam::aws:policy\/AdministratorAccess\)$/,
    ],
    [
      "an inline_policy block on the role",
      (stack) => roleOf(stack).addOverride("inline_policy", [{ name: "sneaky", policy: s3Everything }]),
      /inline_policy \(sneaky\)$/,
    ],
  ];

  it.each(EXTRAS)("fails the design check by name: %s", (_name, extend, named) => {
    const { config } = policiesOf("plain", extend);
    const extra = undesignedRolePolicies(config);
    expect(extra).toHaveLength(1);
    expect(extra[0]).toMatch(named);
  });

  it("is simulated together: an attached AdministratorAccess lets the function write the source bucket", async () => {
    const admin = policiesOf("plain", EXTRAS[0][1]);
    expect(executionRole(admin.config).identities.map((p) => p.name)).toHaveLength(2);
    expect(await evaluate(admin, ["function", "s3:PutObject", "arn:aws:s3:::SRC/incoming/report.pdf", "Denied"])).toBe("Allowed");
    expect(await evaluate(admin, ["function", "iam:CreateRole", "arn:aws:iam::ACCOUNT:role/escalate", "Denied"])).toBe("Allowed");
  });

  it("is simulated together: a customer managed policy attached by name lets the function read other buckets", async () => {
    const attached = policiesOf("plain", EXTRAS[1][1]);
    expect(await evaluate(attached, ["function", "s3:GetObject", "arn:aws:s3:::another-bucket/incoming/report.pdf", "Denied"])).toBe("Allowed");
  });

  it("refuses to simulate a role with a policy whose document it does not have, naming it", () => {
    const { config } = policiesOf("plain", (stack) => new IamRolePolicyAttachment(stack, "unknown", { role: roleOf(stack).name, policyArn: "arn:aws:iam::aws:policy/PowerUserAccess" }));
    expect(() => executionRole(config)).toThrow("cannot evaluate the role: no document for aws_iam_role_policy_attachment.unknown (arn:aws:iam::aws:policy/PowerUserAccess)");
  });
});

describe("a deliberately widened policy", () => {
  function widened(mutate: (statements: any[]) => void): Policies {
    const policies = policiesOf("plain");
    return { ...policies, config: withRolePolicyChanged(policies.config, mutate) };
  }

  async function violations(policies: Policies): Promise<string[]> {
    const wrong: string[] = [];
    for (const c of MATRIX.filter((m) => appliesTo(m, "plain"))) {
      const got = await evaluate(policies, c);
      if (got !== c[3]) wrong.push(`${c[1]} ${c[2]}: ${got}`);
    }
    return wrong;
  }

  it("the matrix holds for the real policy", async () => {
    expect(await violations(policiesOf("plain"))).toEqual([]);
  });

  it("s3:* on the source prefix is caught", async () => {
    const wrong = await violations(widened((s) => s[0].actions.push("s3:*")));
    expect(wrong).toContain("s3:PutObject arn:aws:s3:::SRC/incoming/report.pdf: Allowed");
    expect(wrong).toContain("s3:DeleteObject arn:aws:s3:::SRC/incoming/report.pdf: Allowed");
  });

  it("a * resource is caught", async () => {
    const wrong = await violations(widened((s) => s[0].resources.push("*")));
    expect(wrong).toContain("s3:GetObject arn:aws:s3:::another-bucket/incoming/report.pdf: Allowed");
    expect(wrong).toContain("s3:GetObject arn:aws:s3:::SRC/outgoing/report.pdf: Allowed");
  });
});


