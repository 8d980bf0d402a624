/**
 * `npm run plan`: synthesize, then `terraform init` and `terraform plan` for each stack, and write what a
 * reviewer needs into plan-output/<stack>/: the binary plan, `terraform show -json`, the human-readable
 * plan, and summary.md for a pull-request comment.
 *
 *   npm run plan                       every stack, against AWS with your credentials
 *   npm run plan -- --stack dev        one stack
 *   npm run plan -- --offline          no AWS account: fake credentials, skip flags, empty state (full create)
 *   npm run plan -- --summarize plan.json [--stack name]
 *                                      only the summary, of any `terraform show -json` plan made elsewhere
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { settingsFromEnvironment, synthesizeApp } from "../stacks/app";
import { parsePlanJson, renderMarkdown, summarizePlan } from "./plan/plan-summary";
import { OFFLINE_OVERRIDE_FILE, prepareOfflineWorkDir, terraformRunner } from "./terraform";

export interface PlanOptions {
  readonly stacks?: readonly string[];
  readonly offline: boolean;
  readonly outDir: string;
  readonly synthDir: string;
  readonly log?: (line: string) => void;
}

export interface StackPlan {
  readonly stack: string;
  readonly files: { binary: string; json: string; text: string; summary: string };
  /** The folder terraform ran in: the stack folder, or its offline copy (tools/terraform.ts offlineWorkDir). */
  readonly workDir: string;
  readonly markdown: string;
}

/** Plans one synthesized stack folder and writes the four files. */
export function planStack(
  stack: string,
  stackDir: string,
  options: Pick<PlanOptions, "offline" | "outDir" | "log"> & {
    /** Skip `terraform init` when the folder was initialized before (same providers and backend). @default false */
    readonly reuseInit?: boolean;
  },
): StackPlan {
  const log = options.log ?? (() => {});
  const out = path.resolve(options.outDir, stack);
  mkdirSync(out, { recursive: true });
  const tf = terraformRunner(out);
  // Offline: in a copy of the stack folder, so that no override is ever left where `cdktf deploy` runs.
  const workDir = options.offline ? prepareOfflineWorkDir(stackDir) : stackDir;
  if (!options.offline) rmSync(path.join(stackDir, OFFLINE_OVERRIDE_FILE), { force: true });
  if (!(options.reuseInit && existsSync(path.join(workDir, ".terraform", "terraform.tfstate")))) {
    log(`${stack}: terraform init`);
    tf.ok(["init", "-input=false", "-no-color", "-reconfigure"], workDir);
  }
  log(`${stack}: terraform plan${options.offline ? " (offline)" : ""}`);
  const binary = path.join(out, "plan.bin");
  // -lock=false: a plan writes nothing, so it needs only read access to the state (no lock file to write in
  // the state bucket), and it is not blocked by a deploy that holds the lock.
  const planArgs = ["plan", "-input=false", "-no-color", "-lock=false", `-out=${binary}`];
  if (options.offline) planArgs.push("-refresh=false");
  // What plan prints is the human-readable plan (one provider start less than `terraform show`).
  const text = tf.ok(planArgs, workDir);
  const json = tf.ok(["show", "-json", binary], workDir);
  const markdown = renderMarkdown(stack, summarizePlan(JSON.parse(json)));
  const files = {
    binary,
    json: path.join(out, "plan.json"),
    text: path.join(out, "plan.txt"),
    summary: path.join(out, "summary.md"),
  };
  writeFileSync(files.json, json);
  writeFileSync(files.text, text);
  writeFileSync(files.summary, markdown);
  return { stack, files, markdown, workDir };
}

/** The summary of a plan made elsewhere (Atlantis, Terraform Cloud, another pipeline): `terraform show -json` output. */
export function summarizeFile(file: string, stack = path.basename(file).replace(/\.json$/, "")): string {
  return renderMarkdown(stack, summarizePlan(parsePlanJson(readFileSync(file, "utf8"), file)));
}

export function planAll(options: PlanOptions): StackPlan[] {
  const { stacks } = synthesizeApp(settingsFromEnvironment(), options.synthDir);
  const names = stacks.map((s) => s.name);
  const chosen = options.stacks && options.stacks.length > 0 ? options.stacks : names;
  for (const name of chosen) {
    if (!names.includes(name)) throw new Error(`there is no stack "${name}": choose from ${names.join(", ")}`);
  }
  return chosen.map((name) => planStack(name, stacks.find((s) => s.name === name)!.dir, options));
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      stack: { type: "string", multiple: true },
      offline: { type: "boolean", default: false },
      out: { type: "string", default: "plan-output" },
      summarize: { type: "string" },
    },
  });
  try {
    if (values.summarize !== undefined) {
      process.stdout.write(summarizeFile(values.summarize, values.stack?.[0]));
    } else {
      const plans = planAll({
        stacks: values.stack,
        offline: values.offline!,
        outDir: values.out!,
        synthDir: "cdktf.out",
        log: (line) => console.error(line),
      });
      for (const plan of plans) {
        console.log(plan.markdown);
        console.error(`${plan.stack}: ${Object.values(plan.files).map((f) => path.relative(process.cwd(), f)).join(", ")}`);
      }
    }
  } catch (error) {
    console.error(`npm run plan: ${(error as Error).message}`);
    if (!values.offline && values.summarize === undefined && /credential|No valid credential|InvalidClientTokenId|security token/i.test((error as Error).message)) {
      console.error("No usable AWS credentials: log in (AWS_PROFILE, SSO) or run `npm run plan -- --offline`.");
    }
    process.exit(1);
  }
}
