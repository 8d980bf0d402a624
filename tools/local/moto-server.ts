/**
 * A running AWS API on loopback: moto's server (`moto_server`), started by the test on a free port and
 * stopped by it. S3, Lambda, IAM, SQS, CloudWatch, CloudWatch Logs, SNS, KMS and STS answer on one endpoint,
 * so Terraform, the cdktf CLI and the AWS SDK all talk to it through the standard AWS_ENDPOINT_URL.
 */
import { spawn, type ChildProcess } from "node:child_process";

/** moto_server is not installed: the deploy tests cannot run, and say what to install. */
export class MotoServerMissingError extends Error {
  constructor(cause: string) {
    super(
      `moto_server is not on the PATH (${cause}). The deploy tests need a local AWS API: ` +
        `install it with \`pip install 'moto[server]'\` (moto 5.2 or later), then run the tests again.`,
    );
    this.name = "MotoServerMissingError";
  }
}

/** moto_server started but did not say which port it listens on in time. */
export class MotoServerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MotoServerStartError";
  }
}

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  /** Fake credentials and the endpoint: what Terraform, the cdktf CLI and the SDK need to use this server. */
  readonly env: Record<string, string>;
  /** Options for an AWS SDK client of this server. */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    forcePathStyle: true;
  };
  stop(): Promise<void>;
}

export const MOTO_REGION = "us-east-1";
/** The account moto answers STS GetCallerIdentity with (its default). */
export const MOTO_ACCOUNT = "123456789012";

const FAKE_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

/**
 * Environment of a child process that must talk only to this server: the endpoint and fake credentials set,
 * and every variable that could send it elsewhere (a profile, a CA bundle for a proxy, a session token)
 * removed.
 */
export function isolatedAwsEnv(server: Pick<MotoServer, "env">, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of Object.keys(env)) {
    if (/^AWS_/.test(name) || name === "CHECKSUM_INDEX_STATE_BUCKET") delete env[name];
  }
  return { ...env, ...server.env };
}

export interface MotoServerOptions {
  /** How long to wait for moto to say where it listens. @default 30000 ms */
  readonly timeoutMs?: number;
  /** The command. @default $MOTO_SERVER, else "moto_server" (from `pip install 'moto[server]'`) */
  readonly command?: string;
  /** Told when moto exits without being stopped, with the end of its output. @default nothing */
  readonly onUnexpectedExit?: (message: string) => void;
}

/** Starts `moto_server` on a port the OS picks (`-p 0`) and waits until it says where it listens. */
export async function startMotoServer(options: MotoServerOptions = {}): Promise<MotoServer> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const command = options.command ?? process.env.MOTO_SERVER ?? "moto_server";
  let child: ChildProcess;
  try {
    child = spawn(command, ["-H", "127.0.0.1", "-p", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
  } catch (error) {
    throw new MotoServerMissingError((error as Error).message);
  }
  const port = await new Promise<number>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new MotoServerStartError(`moto_server did not report its port within ${timeoutMs} ms. Its output:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        // Its request log is read below, without keeping all of it: local mode runs for hours.
        child.stdout!.off("data", onData);
        child.stderr!.off("data", onData);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === "ENOENT" ? new MotoServerMissingError("spawn moto_server: ENOENT") : error);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        code === 127
          ? new MotoServerMissingError(output.trim() || "exit code 127")
          : new MotoServerStartError(`moto_server exited (${code ?? signal}) before listening. Its output:\n${output}`),
      );
    });
  });
  // Keep draining its request log (the last lines are kept for an error message), or the pipe fills and
  // moto blocks.
  let tail = "";
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-2000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  let stopping = false;
  child.once("exit", (code, signal) => {
    if (!stopping) options.onUnexpectedExit?.(`moto_server stopped (code ${code}, signal ${signal}): ${tail.trim().slice(-300)}`);
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
    // Terraform's AWS provider and S3 backend: bucket names in the path, not in a host name.
    AWS_S3_USE_PATH_STYLE: "true",
    // The SDK would otherwise read ~/.aws.
    AWS_EC2_METADATA_DISABLED: "true",
  };
  return {
    endpoint,
    port,
    env,
    clientConfig: { endpoint, region: MOTO_REGION, credentials: FAKE_CREDENTIALS, forcePathStyle: true },
    stop: () =>
      new Promise<void>((resolve) => {
        stopping = true;
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
