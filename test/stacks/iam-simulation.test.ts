/**
 * Least privilege, measured: the synthesized policies (execution role, bucket policies, the function's
 * resource policy) evaluated by an IAM policy simulator against a matrix of requests.
 *
 * The matrix is data (test/support/iam-matrix.ts): adding a case is one line.
 */
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { describe, expect, it } from "vitest";
import { ACCOUNT, KEY, MATRIX, REGION, type Case, type Expect } from "../support/iam-matrix";
import { bucketPolicies, executionRole, functionPolicy, withRolePolicyChanged } from "../support/policies";
import { synthStack } from "../support/synth";

const VARIANTS = {
  plain: {},
  kms: { sourceBucket: { versioned: true, kmsKeyArn: KEY }, index: { kmsKeyArn: KEY } },
} as const;

interface Policies {
  config: any;
  names: Record<string, string>;
}

function policiesOf(variant: keyof typeof VARIANTS): Policies {
  const { config } = synthStack({ accountId: ACCOUNT, region: REGION, ...VARIANTS[variant] });
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
    who === "s3"
      ? functionPolicy(config, names.REGION, names.ACCOUNT)
      : bucket
        ? bucketPolicies(config)[bucket]
        : action.startsWith("kms:")
          ? defaultKeyPolicy(names.ACCOUNT)
          : undefined;
  const response = await runSimulation(
    {
      request: {
        principal: who === "s3" ? "s3.amazonaws.com" : fill(role.arn, names),
        action,
        resource: { resource, accountId: names.ACCOUNT },
        contextVariables,
      },
      identityPolicies: who === "s3" ? [] : [{ name: "least-privilege", policy: role.identity }],
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
  const cases = MATRIX.filter((c) => c[5] === undefined || c[5] === variant);
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

describe("a deliberately widened policy", () => {
  function widened(mutate: (statements: any[]) => void): Policies {
    const policies = policiesOf("plain");
    return { ...policies, config: withRolePolicyChanged(policies.config, mutate) };
  }

  async function violations(policies: Policies): Promise<string[]> {
    const wrong: string[] = [];
    for (const c of MATRIX.filter((m) => m[5] === undefined || m[5] === "plain")) {
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


