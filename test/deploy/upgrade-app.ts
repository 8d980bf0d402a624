/**
 * The app as a user has edited it for an upgrade: the project's own stack props (stacks/app.ts) with the
 * changes of one upgrade step merged in. The deploy tests run it with `npx cdktf deploy --app`, so an
 * upgrade goes through exactly the path of the first deploy, against the same state.
 *
 *   CIX_STACK    the stack to synthesize ("dev" or "prod")
 *   CIX_CHANGES  JSON merged into its props (objects merged key by key, everything else replaced)
 */
import { App } from "cdktf";
import { settingsFromEnvironment, stackProps } from "../../stacks/app";
import { ChecksumIndexStack } from "../../stacks/checksum-index-stack";
import { mergeProps } from "../support/deploy";

const stack = process.env.CIX_STACK;
if (stack !== "dev" && stack !== "prod") throw new Error(`CIX_STACK must be "dev" or "prod", not ${JSON.stringify(stack)}`);
const app = new App();
new ChecksumIndexStack(app, stack, mergeProps(stackProps(settingsFromEnvironment())[stack], JSON.parse(process.env.CIX_CHANGES ?? "{}")));
app.synth();
