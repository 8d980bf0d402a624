/**
 * The user's deploy path, run by the tests: `npx cdktf deploy` / `destroy` from the project root against a
 * running AWS API (moto), with the synthesized output and the local state in a folder of the test's own, and
 * `terraform plan` again afterwards to prove that the deployed resources match the configuration.
 */
import { spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { terraformRunner, writeCliConfig, providerMirrorPath, assertMirrorHasAws } from "../../tools/terraform";
import { isolatedAwsEnv, type MotoServer } from "./moto-server";
import { unexpectedDifferences, type Difference } from "./moto-differences";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** A cdktf command exited non-zero; the message carries the end of its output. */
export class CdktfCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`npx cdktf ${args.join(" ")} exited with ${exitCode}:\n${output.slice(-6000)}`);
    this.name = "CdktfCommandError";
  }
}

/** A re-plan showed differences that are neither wanted nor listed in MOTO_DIFFERENCES. */
export class UnexpectedPlanError extends Error {
  constructor(
    readonly differences: readonly Difference[],
    planText: string,
  ) {
    super(
      `the plan is not empty: ${differences.map((d) => `${d.address} ${d.actions.join("+")} ${d.attribute}${d.unknown ? " (known after apply)" : ""}`).join("; ")}\n${planText.slice(-6000)}`,
    );
    this.name = "UnexpectedPlanError";
  }
}

export interface DeployWorkspace {
  /** Where `cdktf` writes its output (`--output`); the local state files land in its parent folder. */
  readonly outdir: string;
  readonly env: NodeJS.ProcessEnv;
  stackDir(stack: string): string;
}

/**
 * A folder for one deploy: `<root>/cdktf.out` as cdktf's output, so that the stacks' local state
 * (`../../../terraform.<stack>.tfstate` from the stack folder) lands in `<root>`, not in the project.
 */
export function deployWorkspace(root: string, moto: MotoServer, extraEnv: Record<string, string> = {}): DeployWorkspace {
  assertMirrorHasAws();
  const outdir = path.join(root, "cdktf.out");
  const cliConfig = writeCliConfig(path.join(root, "terraform-cli.tfrc"), providerMirrorPath());
  const env: NodeJS.ProcessEnv = {
    ...isolatedAwsEnv(moto),
    TF_CLI_CONFIG_FILE: cliConfig,
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    TF_PLUGIN_CACHE_DIR: "",
    // Plain output, no spinner redraws.
    CI: "true",
    FORCE_COLOR: "0",
    NO_COLOR: "1",
    CHECKSUM_INDEX_NAME_PREFIX: "",
    CHECKSUM_INDEX_REGION: "",
    CHECKSUM_INDEX_ACCOUNT_ID: "",
    ...extraEnv,
  };
  return { outdir, env, stackDir: (stack) => path.join(outdir, "stacks", stack) };
}

let commandCount = 0;

/** Runs `npx cdktf <args>` in the project root, as a user does, and returns its output. */
export function cdktf(args: string[], workspace: DeployWorkspace, extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["cdktf", ...args], {
      cwd: PROJECT_ROOT,
      env: { ...workspace.env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c) => (output += c));
    child.stderr.on("data", (c) => (output += c));
    // The whole output, kept beside the state: what to read when a deploy hangs or fails.
    const logFile = path.join(path.dirname(workspace.outdir), `cdktf-${args[0]}-${++commandCount}.log`);
    child.stdout.on("data", (c) => appendFileSync(logFile, c));
    child.stderr.on("data", (c) => appendFileSync(logFile, c));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new CdktfCommandError(args, code, output));
    });
  });
}

/** `npx cdktf deploy <stack>`: synth, plan and apply without asking. */
export function cdktfDeploy(stack: string, workspace: DeployWorkspace, options: { app?: string; env?: NodeJS.ProcessEnv } = {}) {
  const args = ["deploy", stack, "--auto-approve", "--skip-provider-lock", "--output", workspace.outdir];
  if (options.app) args.push("--app", options.app);
  return cdktf(args, workspace, options.env);
}

export function cdktfDestroy(stack: string, workspace: DeployWorkspace, options: { app?: string; env?: NodeJS.ProcessEnv } = {}) {
  const args = ["destroy", stack, "--auto-approve", "--skip-provider-lock", "--output", workspace.outdir];
  if (options.app) args.push("--app", options.app);
  return cdktf(args, workspace, options.env);
}

/** `terraform plan` of a deployed stack folder (initialized by the deploy) and `terraform show -json` of it. */
export function replan(workspace: DeployWorkspace, stack: string): { json: any; text: string } {
  const dir = workspace.stackDir(stack);
  const tf = terraformRunner(path.join(dir, ".."), workspace.env);
  const binary = path.join(dir, "replan.bin");
  const text = tf.ok(["plan", "-input=false", "-no-color", "-lock=false", `-out=${binary}`], dir);
  return { json: JSON.parse(tf.ok(["show", "-json", binary], dir)), text };
}

/** Plans the deployed stack again and throws unless the only differences are moto's known ones. */
export function expectNoChanges(workspace: DeployWorkspace, stack: string): void {
  const { json, text } = replan(workspace, stack);
  const unexpected = unexpectedDifferences(json);
  if (unexpected.length > 0) throw new UnexpectedPlanError(unexpected, text);
}

/** Outputs of a deployed stack, from its local state file. */
export function stackOutputs(stateFile: string): Record<string, string> {
  const state = JSON.parse(readFileSync(stateFile, "utf8"));
  return Object.fromEntries(Object.entries<any>(state.outputs ?? {}).map(([k, v]) => [k, v.value]));
}

/** Props with changes merged in: objects key by key, anything else (arrays included) replaced. */
export function mergeProps<T>(base: T, changes: unknown): T {
  if (changes === null || typeof changes !== "object" || Array.isArray(changes)) return changes as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(changes)) out[key] = mergeProps(out[key], value);
  return out as T;
}
