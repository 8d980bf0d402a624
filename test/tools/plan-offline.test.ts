/**
 * `npm run plan -- --offline` must leave the synthesized stack folder as it found it: `cdktf diff` and
 * `cdktf deploy` run in that folder, and an offline override left there would make them plan against the
 * offline state with fake credentials instead of the configured backend.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { planStack } from "../../tools/plan";
import { OFFLINE_OVERRIDE_FILE, OFFLINE_STATE_FILE, offlineWorkDir, writeOfflineOverride } from "../../tools/terraform";
import { synthAppToDisk } from "../support/synth";
import { tempDir } from "../support/temp";

describe("an offline plan", () => {
  let stackDir: string;
  let before: string[];
  let planned: ReturnType<typeof planStack>;

  beforeAll(() => {
    stackDir = path.join(synthAppToDisk({ namePrefix: "cix-offline", stateBucket: "cix-offline-state" }), "stacks", "dev");
    // As left by an earlier version of the tool, which wrote the override into the stack folder.
    writeOfflineOverride(stackDir);
    before = readdirSync(stackDir).filter((f) => f !== OFFLINE_OVERRIDE_FILE).sort();
    planned = planStack("dev", stackDir, { offline: true, outDir: tempDir("cix-offline-plan-") });
  });

  it("plans the full create", () => {
    const plan = JSON.parse(readFileSync(planned.files.json, "utf8"));
    const actions = new Set(plan.resource_changes.filter((rc: any) => rc.mode === "managed").map((rc: any) => rc.change.actions.join()));
    expect(actions).toEqual(new Set(["create"]));
  });

  it("leaves no override, no offline state and no init in the stack folder, where cdktf deploy runs", () => {
    expect(existsSync(path.join(stackDir, OFFLINE_OVERRIDE_FILE))).toBe(false);
    expect(existsSync(path.join(stackDir, OFFLINE_STATE_FILE))).toBe(false);
    expect(existsSync(path.join(stackDir, ".terraform"))).toBe(false);
    expect(readdirSync(stackDir).sort()).toEqual(before);
    // The stack still has the backend it was synthesized with.
    expect(JSON.parse(readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8")).terraform.backend).toEqual({
      s3: expect.objectContaining({ bucket: "cix-offline-state", key: "dev/terraform.tfstate", use_lockfile: true }),
    });
  });

  it("runs in a folder of its own beside the stacks", () => {
    expect(planned.workDir).toBe(offlineWorkDir(stackDir));
    expect(planned.workDir).toBe(path.join(path.dirname(path.dirname(stackDir)), "offline", "dev"));
    expect(existsSync(path.join(planned.workDir, OFFLINE_OVERRIDE_FILE))).toBe(true);
  });
});
