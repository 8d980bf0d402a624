/**
 * What the tools (local mode, the index CLI) know of a stack: its resolved pipeline (stacks/pipeline.ts),
 * read from the app's own stack definitions with the same environment settings as main.ts. Nothing is
 * synthesized or bundled, and no Terraform JSON is parsed.
 */
import { settingsFromEnvironment, stackPipeline } from "../stacks/app";
import type { Pipeline } from "../stacks/pipeline";

export type { Pipeline } from "../stacks/pipeline";

/** The pipeline of one of the app's stacks ("dev", "prod"), as `npm run synth` would build it. */
export function appPipeline(stack: string, env: NodeJS.ProcessEnv = process.env): Pipeline {
  return stackPipeline(stack, settingsFromEnvironment(env));
}
