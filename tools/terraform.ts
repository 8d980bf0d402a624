/**
 * Running Terraform on the synthesized stacks, the same way for users, the tests and CI.
 *
 * - A CLI config that installs providers from a local filesystem mirror when there is one (machines with
 *   no route to the Terraform registry) and downloads them as usual otherwise.
 * - An "offline" override that lets `terraform plan` run with no AWS account: fake credentials and the
 *   provider's skip flags. Nothing in the stacks needs an AWS call to plan, so the plan is complete.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";

/** Where the provider mirror is: TF_PLUGIN_MIRROR, or the folder the machine image ships. */
export function providerMirrorPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.TF_PLUGIN_MIRROR || "/opt/tf-plugins";
}

/** Providers in a mirror, as "host/namespace/type" (the mirror's folder layout). */
export function mirroredProviders(mirror: string): string[] {
  if (!existsSync(mirror)) return [];
  const found: string[] = [];
  for (const host of readdirSync(mirror)) {
    const hostDir = path.join(mirror, host);
    for (const ns of safeList(hostDir)) {
      for (const type of safeList(path.join(hostDir, ns))) found.push(`${host}/${ns}/${type}`);
    }
  }
  return found.sort();
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/**
 * The CLI config: the mirrored providers from the mirror, everything else from its registry. With no
 * mirror on the machine it is the default behaviour (download everything).
 */
export function renderCliConfig(mirror: string): string {
  const providers = mirroredProviders(mirror);
  if (providers.length === 0) {
    return `# No provider mirror at ${mirror}: providers are downloaded from their registries.\nprovider_installation {\n  direct {}\n}\n`;
  }
  const list = providers.map((p) => JSON.stringify(p)).join(", ");
  return [
    `# Written by tools/terraform.ts. Providers found in the mirror are installed from it, others downloaded.`,
    `provider_installation {`,
    `  filesystem_mirror {`,
    `    path    = ${JSON.stringify(mirror)}`,
    `    include = [${list}]`,
    `  }`,
    `  direct {`,
    `    exclude = [${list}]`,
    `  }`,
    `}`,
    ``,
  ].join("\n");
}

export function writeCliConfig(file: string, mirror = providerMirrorPath()): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, renderCliConfig(mirror));
  return file;
}

/** Name of the state file an offline plan uses (in the stack's folder): never the real state. */
export const OFFLINE_STATE_FILE = "offline.tfstate";

/**
 * Settings that let `terraform plan` run with no AWS account and no network: fake credentials, the
 * provider's skip flags, and a local state of its own (whatever backend the stack has), so the plan
 * compares the configuration with that state: empty, a full create, unless a test puts one there.
 */
export const OFFLINE_PROVIDER_OVERRIDE = {
  terraform: { backend: { local: { path: OFFLINE_STATE_FILE } } },
  provider: {
    aws: {
      access_key: "AKIAOFFLINEPLAN00000",
      secret_key: "offline-plan-secret-key-not-a-credential",
      skip_credentials_validation: true,
      skip_requesting_account_id: true,
      skip_metadata_api_check: true,
      skip_region_validation: true,
    },
  },
};

/** Name of the override file (Terraform merges any `*_override.tf.json` into the configuration). */
export const OFFLINE_OVERRIDE_FILE = "offline_override.tf.json";

export function writeOfflineOverride(stackDir: string): void {
  writeFileSync(path.join(stackDir, OFFLINE_OVERRIDE_FILE), JSON.stringify(OFFLINE_PROVIDER_OVERRIDE, null, 2) + "\n");
}

/**
 * The folder an offline plan of a synthesized stack runs in: `<outdir>/offline/<stack>`, beside
 * `<outdir>/stacks/<stack>`. Never the stack folder itself: `cdktf diff` and `cdktf deploy` run there, and
 * an override left in it would make them plan against the offline state with fake credentials.
 */
export function offlineWorkDir(stackDir: string): string {
  return path.join(path.dirname(path.dirname(stackDir)), "offline", path.basename(stackDir));
}

/**
 * Copies the synthesized stack (configuration, assets, and an offline.tfstate a test put there) into its
 * offline folder and writes the override there. The offline folder keeps its own `.terraform` between
 * plans, so an offline plan can reuse its init; the stack folder is left exactly as it was, and an
 * override that an earlier version of this tool left in it is removed.
 */
export function prepareOfflineWorkDir(stackDir: string): string {
  const workDir = offlineWorkDir(stackDir);
  mkdirSync(workDir, { recursive: true });
  for (const entry of readdirSync(workDir)) {
    if (entry !== ".terraform" && entry !== ".terraform.lock.hcl") rmSync(path.join(workDir, entry), { recursive: true, force: true });
  }
  cpSync(stackDir, workDir, {
    recursive: true,
    filter: (source) => {
      const name = path.relative(stackDir, source).split(path.sep)[0];
      return name !== ".terraform" && name !== ".terraform.lock.hcl" && name !== OFFLINE_OVERRIDE_FILE;
    },
  });
  rmSync(path.join(stackDir, OFFLINE_OVERRIDE_FILE), { force: true });
  writeOfflineOverride(workDir);
  return workDir;
}

export interface TerraformRunner {
  readonly cliConfigFile: string;
  run(args: string[], cwd: string): SpawnSyncReturns<string>;
  /** Runs and throws with Terraform's own output when it fails. */
  ok(args: string[], cwd: string): string;
}

/**
 * Checks that terraform and the mirror are there (saying exactly what is missing) and returns a runner
 * whose environment selects the written CLI config.
 */
export function terraformRunner(workDir: string, env: NodeJS.ProcessEnv = process.env): TerraformRunner {
  const version = spawnSync("terraform", ["version", "-json"], { encoding: "utf8" });
  if (version.error || version.status !== 0) {
    throw new Error(
      "terraform is not on the PATH (running `terraform version` failed: " +
        `${version.error?.message ?? version.stderr}). Install Terraform 1.10 or later.`,
    );
  }
  const cliConfigFile = writeCliConfig(path.join(workDir, "terraform-cli.tfrc"), providerMirrorPath(env));
  const runEnv: NodeJS.ProcessEnv = {
    ...env,
    TF_CLI_CONFIG_FILE: cliConfigFile,
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    TF_PLUGIN_CACHE_DIR: "",
  };
  const run = (args: string[], cwd: string) =>
    spawnSync("terraform", args, { cwd, env: runEnv, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return {
    cliConfigFile,
    run,
    ok(args, cwd) {
      const result = run(args, cwd);
      if (result.status !== 0) {
        throw new Error(`terraform ${args.join(" ")} failed in ${cwd}:\n${result.stdout}\n${result.stderr}`);
      }
      return result.stdout;
    },
  };
}

/**
 * Says what is missing for an init without network: the AWS provider in the mirror. Where the registry is
 * reachable (GitHub's runners), TF_PROVIDER_DOWNLOAD=allow lets Terraform download it instead.
 */
export function assertMirrorHasAws(mirror = providerMirrorPath(), env: NodeJS.ProcessEnv = process.env): void {
  if (env.TF_PROVIDER_DOWNLOAD === "allow") return;
  if (!mirroredProviders(mirror).includes("registry.terraform.io/hashicorp/aws")) {
    throw new Error(
      `The AWS provider is not in the provider mirror ${mirror} (expected ` +
        `${mirror}/registry.terraform.io/hashicorp/aws/5.100.0/<platform>/). Set TF_PLUGIN_MIRROR to the mirror, ` +
        `or, where the Terraform registry is reachable, TF_PROVIDER_DOWNLOAD=allow.`,
    );
  }
}

// `npm run terraform:config`: writes the CLI config for the user's own `cdktf`/`terraform` commands.
if (require.main === module) {
  const file = path.resolve(process.argv[2] ?? ".terraform-cli.tfrc");
  writeCliConfig(file);
  console.log(`Wrote ${path.relative(process.cwd(), file)} (provider mirror: ${providerMirrorPath()}).`);
  console.log(`Use it with: export TF_CLI_CONFIG_FILE=${file} CHECKPOINT_DISABLE=1`);
}
