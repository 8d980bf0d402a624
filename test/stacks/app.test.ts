import { describe, expect, it } from "vitest";
import { settingsFromEnvironment } from "../../stacks/app";
import { synthAppStacks } from "../support/synth";

describe("the app's settings from the environment", () => {
  it("reads the name prefix, region, account and state bucket", () => {
    expect(
      settingsFromEnvironment({
        CHECKSUM_INDEX_NAME_PREFIX: "acme-cix",
        CHECKSUM_INDEX_REGION: "eu-central-1",
        CHECKSUM_INDEX_ACCOUNT_ID: "111122223333",
        CHECKSUM_INDEX_STATE_BUCKET: "acme-terraform-state",
      }),
    ).toEqual({ namePrefix: "acme-cix", region: "eu-central-1", accountId: "111122223333", stateBucket: "acme-terraform-state" });
    expect(settingsFromEnvironment({ CHECKSUM_INDEX_NAME_PREFIX: "" })).toEqual({});
  });

  it("names both stacks after the prefix and keeps their state in the state bucket", () => {
    const stacks = synthAppStacks({ namePrefix: "acme-cix", stateBucket: "acme-terraform-state" });
    expect(stacks.map((s) => [s.stack.node.id, s.stack.pipeline.source.name, s.config.terraform.backend.s3?.key])).toEqual([
      ["dev", "acme-cix-dev-source", "dev/terraform.tfstate"],
      ["prod", "acme-cix-prod-source", "prod/terraform.tfstate"],
    ]);
  });
});
