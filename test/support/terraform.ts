/** A synthesized stack, initialized from the provider mirror, ready to validate and plan offline. */
import { existsSync } from "node:fs";
import * as path from "node:path";
import { assertMirrorHasAws, terraformRunner, writeOfflineOverride, type TerraformRunner } from "../../tools/terraform";
import { tempDir } from "./temp";

export interface InitializedStack {
  readonly dir: string;
  readonly tf: TerraformRunner;
}

export function initStack(outdir: string, stackName: string): InitializedStack {
  const dir = path.join(outdir, "stacks", stackName);
  if (!existsSync(path.join(dir, "cdk.tf.json"))) throw new Error(`stack ${stackName} was not synthesized into ${outdir}`);
  const tf = terraformRunner(tempDir("cix-tf-"));
  assertMirrorHasAws();
  writeOfflineOverride(dir);
  tf.ok(["init", "-input=false", "-no-color"], dir);
  return { dir, tf };
}

/** Runs an offline plan and returns `terraform show -json` of it. */
export function planJson({ dir, tf }: InitializedStack): any {
  tf.ok(["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false", "-out=plan.bin"], dir);
  return JSON.parse(tf.ok(["show", "-json", "plan.bin"], dir));
}
