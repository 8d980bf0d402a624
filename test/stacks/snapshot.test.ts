/**
 * The whole synthesized configuration of main.ts's stacks. A change here is a change to what gets
 * deployed: review it next to the plan. The function appears by its zip's hash, never its bytes.
 * Update deliberately with `npm run test:update`.
 */
import { expect, it } from "vitest";
import { synthAppStacks } from "../support/synth";

for (const { stack, config } of synthAppStacks({ namePrefix: "checksum-index", accountId: "111122223333" })) {
  it(`the ${stack.node.id} stack synthesizes to the reviewed configuration`, async () => {
    // A plain JSON file per stack, so that a pull request shows the diff of the configuration itself.
    await expect(JSON.stringify(config, null, 2) + "\n").toMatchFileSnapshot(`__snapshots__/${stack.node.id}.cdk.tf.json`);
  });
}
