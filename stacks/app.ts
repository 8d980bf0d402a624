/**
 * The deployments of this project: one place that says which stacks exist and how each is configured.
 * `main.ts` synthesizes them for users and the tests synthesize the very same app in-process.
 *
 * Bucket names are global across all AWS accounts: set CHECKSUM_INDEX_NAME_PREFIX to something of your own
 * (such as "acme-checksum-index") before the first deploy. The region comes from CHECKSUM_INDEX_REGION, the
 * account from CHECKSUM_INDEX_ACCOUNT_ID, and CHECKSUM_INDEX_STATE_BUCKET selects an S3 state backend.
 */
import { App } from "cdktf";
import { ChecksumIndexStack } from "./checksum-index-stack";

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

export function defineStacks(app: App, settings: AppSettings = {}): ChecksumIndexStack[] {
  const prefix = settings.namePrefix ?? "checksum-index";
  const common = {
    region: settings.region,
    accountId: settings.accountId,
    backend: settings.stateBucket ? ({ type: "s3", bucket: settings.stateBucket } as const) : undefined,
  };
  const dev = new ChecksumIndexStack(app, "dev", {
    ...common,
    namePrefix: `${prefix}-dev`,
    // Test data: a destroy may delete it.
    sourceBucket: { forceDestroy: true },
    index: { forceDestroy: true },
    function: { logRetentionDays: 14 },
    tags: { application: "s3-checksum-index", environment: "dev" },
  });
  const prod = new ChecksumIndexStack(app, "prod", {
    ...common,
    namePrefix: `${prefix}-prod`,
    // Versions: the index names the exact bytes that were hashed, and an overwrite cannot lose them.
    sourceBucket: { versioned: true },
    index: { versioned: true },
    function: { memorySize: 1024, logRetentionDays: 365 },
    tags: { application: "s3-checksum-index", environment: "prod" },
  });
  return [dev, prod];
}
