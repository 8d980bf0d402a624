/** Synthesizing stacks in-process, as the tests need them. */
import * as path from "node:path";
import { Testing } from "cdktf";
import { ChecksumIndexStack, type ChecksumIndexStackProps } from "../../stacks/checksum-index-stack";
import { defineStacks, synthesizeApp, type AppSettings } from "../../stacks/app";
import { tempDir } from "./temp";

/** Resource blocks of one type, keyed by logical id. */
export type Blocks = Record<string, any>;

export interface SynthesizedStack {
  readonly stack: ChecksumIndexStack;
  readonly json: string;
  readonly config: any;
  /** The blocks of one resource type. */
  resources(type: string): Blocks;
  /** The only block of a resource type (fails when there are none or several). */
  only(type: string): any;
  data(type: string): Blocks;
}

export const TEST_PROPS: ChecksumIndexStackProps = { namePrefix: "cix-test", region: "eu-west-1" };

/** `extend` adds constructs to the stack before synthesis, as another part of an app could. */
export function synthStack(props: Partial<ChecksumIndexStackProps> = {}, extend?: (stack: ChecksumIndexStack) => void): SynthesizedStack {
  const app = Testing.app();
  const stack = new ChecksumIndexStack(app, "test", { ...TEST_PROPS, ...props });
  extend?.(stack);
  return wrap(stack, Testing.synth(stack));
}

export function synthAppStacks(settings: AppSettings = {}): SynthesizedStack[] {
  return defineStacks(Testing.app(), settings).map((stack) => wrap(stack, Testing.synth(stack)));
}

function wrap(stack: ChecksumIndexStack, json: string): SynthesizedStack {
  const config = JSON.parse(json);
  return {
    stack,
    json,
    config,
    resources: (type) => config.resource?.[type] ?? {},
    data: (type) => config.data?.[type] ?? {},
    only(type) {
      const blocks = Object.values(config.resource?.[type] ?? {});
      if (blocks.length !== 1) throw new Error(`expected exactly one ${type}, found ${blocks.length}`);
      return blocks[0];
    },
  };
}

/** Synthesizes the project's app (main.ts's stacks) with every file, assets included, into a new folder. */
export function synthAppToDisk(settings: AppSettings = {}): string {
  return synthesizeApp(settings, path.join(tempDir("cix-synth-"), "cdktf.out")).outdir;
}
