/**
 * Synthesizes the Terraform of every stack into cdktf.out/ (what `npx cdktf synth|diff|deploy` run).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { App } from "cdktf";
import { defineStacks, settingsFromEnvironment } from "./stacks/app";

const app = new App();
const stacks = defineStacks(app, settingsFromEnvironment());
app.synth();

// The cdktf CLI prints annotations itself; `npm start` runs this file directly, so print them here too.
if (!process.env.CDKTF_CONTEXT_JSON) {
  const manifest = JSON.parse(readFileSync(path.join(app.outdir, "manifest.json"), "utf8"));
  for (const stack of Object.values<any>(manifest.stacks)) {
    for (const a of stack.annotations ?? []) console.warn(`[${a.level}] ${stack.name}: ${a.message}`);
    console.log(`Stack ${stack.name}: ${path.relative(process.cwd(), path.join(app.outdir, stack.synthesizedStackPath))}`);
  }
  console.log(`Synthesized ${stacks.length} stacks. Deploy one with: npx cdktf deploy ${stacks[0].node.id}`);
}
