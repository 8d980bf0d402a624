/**
 * The deployments of this project: one place that says which stacks exist and how each is configured.
 * `main.ts` synthesizes them for users and the tests synthesize the very same app in-process.
 *
 * Bucket names are global across all AWS accounts: set CHECKSUM_INDEX_NAME_PREFIX to something of your own
 * (such as "acme-checksum-index") before the first deploy. The region comes from CHECKSUM_INDEX_REGION, the
 * account from CHECKSUM_INDEX_ACCOUNT_ID, and CHECKSUM_INDEX_STATE_BUCKET selects an S3 state backend.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { App } from "cdktf";
import { ChecksumIndexStack } from "./checksum-index-stack";
import { resolvePipeline, type ChecksumIndexStackProps, type Pipeline } from "./pipeline";

export interface AppSettings {
  /** Prefix of every name; the stacks append "-dev" and "-prod". @default "checksum-index" */
  readonly namePrefix?: string;
  /** AWS region of both stacks. @default "us-east-1" */
  readonly region?: string;
  /** The account deployed to, if known: it appears in the plan instead of being derived at apply. @default undefined */
  readonly accountId?: string;
  /**
   * Bucket of the Terraform state (S3 backend with a lock file, key "<stack>/terraform.tfstate").
   * @default undefined: local state files in the project root
   */
  readonly stateBucket?: string;
}

/** Settings from the environment, so that nobody has to edit code to choose names. */
export function settingsFromEnvironment(env: NodeJS.ProcessEnv = process.env): AppSettings {
  return {
    namePrefix: env.CHECKSUM_INDEX_NAME_PREFIX || undefined,
    region: env.CHECKSUM_INDEX_REGION || undefined,
    accountId: env.CHECKSUM_INDEX_ACCOUNT_ID || undefined,
    stateBucket: env.CHECKSUM_INDEX_STATE_BUCKET || undefined,
  };
}

/** The props of every stack of the app, by stack name: what the stacks are built from and the tools read. */
export function stackProps(settings: AppSettings = {}): Record<"dev" | "prod", ChecksumIndexStackProps> {
  const prefix = settings.namePrefix ?? "checksum-index";
  const common = {
    region: settings.region,
    accountId: settings.accountId,
    backend: settings.stateBucket ? ({ type: "s3", bucket: settings.stateBucket } as const) : undefined,
  };
  const dev: ChecksumIndexStackProps = {
    ...common,
    namePrefix: `${prefix}-dev`,
    // Test data: a destroy may delete it.
    sourceBucket: { forceDestroy: true },
    index: { forceDestroy: true },
    function: { logRetentionDays: 14 },
    tags: { application: "s3-checksum-index", environment: "dev" },
  };
  const prod: ChecksumIndexStackProps = {
    ...common,
    namePrefix: `${prefix}-prod`,
    // Versions: the index names the exact bytes that were hashed, and an overwrite cannot lose them.
    sourceBucket: { versioned: true },
    index: { versioned: true },
    function: { memorySize: 1024, logRetentionDays: 365 },
    tags: { application: "s3-checksum-index", environment: "prod" },
  };
  return { dev, prod };
}

export function defineStacks(app: App, settings: AppSettings = {}): ChecksumIndexStack[] {
  return Object.entries(stackProps(settings)).map(([name, props]) => new ChecksumIndexStack(app, name, props));
}

/** The resolved pipeline of one stack of the app, without synthesizing anything. */
export function stackPipeline(stack: string, settings: AppSettings = {}): Pipeline {
  const all: Record<string, ChecksumIndexStackProps> = stackProps(settings);
  const props = all[stack];
  if (!props) throw new Error(`there is no stack "${stack}": choose one of ${Object.keys(all).join(", ")}`);
  return resolvePipeline(stack, props);
}

export interface SynthesizedStack {
  readonly name: string;
  /** Folder of the stack's cdk.tf.json and assets: where terraform runs. */
  readonly dir: string;
  /** Warnings and errors raised at synth (cdktf's annotations). */
  readonly annotations: ReadonlyArray<{ level: string; message: string }>;
}

/**
 * Synthesizes every stack of the app, assets included, into `outdir` (by default cdktf's: cdktf.out/, or the
 * folder the cdktf CLI asks for) and says where each stack went.
 */
export function synthesizeApp(settings: AppSettings, outdir?: string): { outdir: string; stacks: SynthesizedStack[] } {
  const app = new App(outdir ? { outdir } : {});
  defineStacks(app, settings);
  app.synth();
  const manifest = JSON.parse(readFileSync(path.join(app.outdir, "manifest.json"), "utf8"));
  return {
    outdir: app.outdir,
    stacks: Object.values<any>(manifest.stacks).map((stack) => ({
      name: stack.name,
      dir: path.join(app.outdir, path.dirname(stack.synthesizedStackPath)),
      annotations: stack.annotations ?? [],
    })),
  };
}
