/**
 * Synthesizes the Terraform of every stack into cdktf.out/ (what `npx cdktf synth|diff|deploy` run).
 */
import * as path from "node:path";
import { settingsFromEnvironment, synthesizeApp } from "./stacks/app";

const { stacks } = synthesizeApp(settingsFromEnvironment());

// The cdktf CLI prints annotations itself; `npm run synth` runs this file directly, so print them here too.
if (!process.env.CDKTF_CONTEXT_JSON) {
  for (const stack of stacks) {
    for (const a of stack.annotations) console.warn(`[${a.level}] ${stack.name}: ${a.message}`);
    console.log(`Stack ${stack.name}: ${path.relative(process.cwd(), path.join(stack.dir, "cdk.tf.json"))}`);
  }
  console.log(`Synthesized ${stacks.length} stacks. Deploy one with: npx cdktf deploy ${stacks[0].name}`);
}
