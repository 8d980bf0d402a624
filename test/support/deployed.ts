/**
 * What a deploy left in the (moto) account, read back through the AWS SDK, and the deployed function's own
 * bytes run against the deployed buckets.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { CloudWatchClient, DescribeAlarmsCommand, type MetricAlarm } from "@aws-sdk/client-cloudwatch";
import { GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand } from "@aws-sdk/client-iam";
import {
  GetFunctionCommand,
  GetFunctionEventInvokeConfigCommand,
  GetPolicyCommand,
  LambdaClient,
} from "@aws-sdk/client-lambda";
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketNotificationConfigurationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  ListBucketsCommand,
  PutObjectCommand,
  DeleteObjectCommand,
  DeleteBucketPolicyCommand,
  PutBucketPolicyCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import { indexKeys } from "../../lambda/index-keys";
import { loadHandlerFromZip, type BundledHandler } from "../../tools/local/bundled-handler";
import { s3Event, type EventSpec } from "./events";
import { rolePolicyStatements } from "../../stacks/iam";
import { resolvePipeline, type ChecksumIndexStackProps } from "../../stacks/pipeline";
import { invokeHandler } from "./handler-logs";
import type { MotoServer } from "./moto-server";

export { invokeHandler } from "./handler-logs";
import { sha256Base64 } from "./moto-differences";
import { tempDir } from "./temp";

export interface Clients {
  readonly s3: S3Client;
  readonly lambda: LambdaClient;
  readonly iam: IAMClient;
  readonly sqs: SQSClient;
  readonly logs: CloudWatchLogsClient;
  readonly cloudwatch: CloudWatchClient;
}

export function clientsOf(moto: MotoServer): Clients {
  const config = moto.clientConfig;
  return {
    s3: new S3Client(config),
    lambda: new LambdaClient(config),
    iam: new IAMClient(config),
    sqs: new SQSClient(config),
    logs: new CloudWatchLogsClient(config),
    cloudwatch: new CloudWatchClient(config),
  };
}

/** Everything the tests check about one deployed stack, read from the API. */
export async function readBucket(s3: S3Client, bucket: string) {
  const [versioning, encryption, publicAccess, ownership, policy, lifecycle] = await Promise.all([
    s3.send(new GetBucketVersioningCommand({ Bucket: bucket })),
    s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })),
    s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })),
    s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket })),
    s3.send(new GetBucketPolicyCommand({ Bucket: bucket })),
    s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })).catch((error) => {
      if (error.name === "NoSuchLifecycleConfiguration") return { Rules: [] };
      throw error;
    }),
  ]);
  return {
    /** undefined: never versioned. */
    versioning: versioning.Status,
    encryption: encryption.ServerSideEncryptionConfiguration?.Rules?.[0],
    publicAccess: publicAccess.PublicAccessBlockConfiguration,
    ownership: ownership.OwnershipControls?.Rules?.[0]?.ObjectOwnership,
    policy: JSON.parse(policy.Policy!),
    lifecycle: lifecycle.Rules ?? [],
  };
}

export async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  const { Buckets } = await s3.send(new ListBucketsCommand({}));
  return (Buckets ?? []).some((b) => b.Name === bucket);
}

export async function readFunction(clients: Clients, functionName: string, alias: string) {
  const fn = await clients.lambda.send(new GetFunctionCommand({ FunctionName: functionName, Qualifier: alias }));
  const policy = await clients.lambda.send(new GetPolicyCommand({ FunctionName: functionName, Qualifier: alias }));
  const invokeConfig = await clients.lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: functionName, Qualifier: alias }));
  const roleName = fn.Configuration!.Role!.split("/").pop()!;
  const { PolicyNames } = await clients.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
  const rolePolicies = await Promise.all(
    (PolicyNames ?? []).map(async (name) => {
      const { PolicyDocument } = await clients.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
      return { name, document: JSON.parse(decodeURIComponent(PolicyDocument!)) };
    }),
  );
  return { configuration: fn.Configuration!, policy: JSON.parse(policy.Policy!), invokeConfig, roleName, rolePolicies };
}

export async function readQueue(sqs: SQSClient, queueName: string) {
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] }));
  return Attributes ?? {};
}

export async function readLogGroup(logs: CloudWatchLogsClient, name: string) {
  const { logGroups } = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name }));
  return (logGroups ?? []).find((g) => g.logGroupName === name);
}

export async function readAlarms(cloudwatch: CloudWatchClient, prefix: string): Promise<MetricAlarm[]> {
  const { MetricAlarms } = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: prefix }));
  return MetricAlarms ?? [];
}

/** The bucket's notification, filter rule names in AWS's case (see MOTO_API_DIFFERENCES.filterRuleNames). */
export async function readNotification(s3: S3Client, bucket: string) {
  const found = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
  for (const config of found.LambdaFunctionConfigurations ?? []) {
    for (const rule of config.Filter?.Key?.FilterRules ?? []) {
      rule.Name = (rule.Name!.charAt(0).toUpperCase() + rule.Name!.slice(1).toLowerCase()) as typeof rule.Name;
    }
  }
  return found;
}

/**
 * Runs `fn` with the buckets' policies lifted and puts the same documents back afterwards (see
 * MOTO_API_DIFFERENCES.bucketPolicyConditions: moto's evaluation of the TLS-only policy denies everything).
 */
export async function withBucketPoliciesLifted<T>(s3: S3Client, buckets: readonly string[], fn: () => Promise<T>): Promise<T> {
  const saved = new Map<string, string>();
  for (const bucket of buckets) {
    saved.set(bucket, (await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!);
    await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  }
  try {
    return await fn();
  } finally {
    for (const [bucket, policy] of saved) await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy }));
  }
}

/** The zip a deploy uploaded: the one asset of the stack folder. */
export function deployedZip(stackDir: string): { file: string; bytes: Buffer } {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".zip")) found.push(full);
    }
  };
  walk(path.join(stackDir, "assets"));
  if (found.length !== 1) throw new Error(`expected one zip under ${stackDir}/assets, found ${found.length}: ${found.join(", ")}`);
  return { file: found[0], bytes: readFileSync(found[0]) };
}

/** The deployed code, checked to be the bytes Lambda holds, loaded with the function's own environment. */
export async function loadDeployedHandler(
  clients: Clients,
  moto: MotoServer,
  stackDir: string,
  functionName: string,
  alias: string,
): Promise<{ handler: BundledHandler; environment: Record<string, string> }> {
  const { Configuration } = await clients.lambda.send(new GetFunctionCommand({ FunctionName: functionName, Qualifier: alias }));
  const zip = deployedZip(stackDir);
  if (Configuration!.CodeSha256 !== sha256Base64(zip.bytes)) {
    throw new Error(`the function's CodeSha256 ${Configuration!.CodeSha256} is not the SHA-256 of ${zip.file} (${sha256Base64(zip.bytes)})`);
  }
  const environment = { ...(Configuration!.Environment?.Variables ?? {}) };
  const handler = loadHandlerFromZip(zip.bytes, tempDir("cix-deployed-code-"), {
    ...environment,
    // Where Lambda's endpoint would be: the local API, with its fake credentials.
    AWS_ENDPOINT_URL_S3: moto.endpoint,
    S3_FORCE_PATH_STYLE: "true",
    AWS_REGION: moto.clientConfig.region,
    AWS_ACCESS_KEY_ID: moto.clientConfig.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: moto.clientConfig.credentials.secretAccessKey,
  });
  return { handler, environment };
}

const sha256Hex = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

export interface RunResult {
  readonly uploads: Array<{ key: string; body: Buffer; versionId?: string }>;
  readonly records: any[];
  readonly removedRecord: any;
}

/**
 * Uploads objects to the deployed source bucket, builds each event from what S3 answered (ETag, version,
 * size; S3 does not return the sequencer, so it is an increasing counter as in S3), runs the deployed
 * handler on them, deletes one object, and reads the index records back from the deployed index bucket.
 */
export async function runDeployedBytes(
  s3: S3Client,
  handler: BundledHandler,
  options: { sourceBucket: string; indexBucket: string; indexPrefix: string; sourcePrefix: string },
): Promise<RunResult> {
  let sequence = 0x5000;
  const sequencer = () => (++sequence).toString(16).toUpperCase().padStart(18, "0");
  const bodies: Array<[string, Buffer]> = [
    [`${options.sourcePrefix}report 2026+Q3.csv`, Buffer.from("id,amount\n1,100\n")],
    [`${options.sourcePrefix}ünïcødé/日本語.txt`, Buffer.from("unicode")],
    [`${options.sourcePrefix}large.bin`, randomBytes(3 * 1024 * 1024 + 7)],
    [`${options.sourcePrefix}empty`, Buffer.alloc(0)],
  ];
  const uploads: RunResult["uploads"] = [];
  const specs: EventSpec[] = [];
  for (const [key, body] of bodies) {
    // SHA-256 sent by the client: S3 (and moto) store it, and the function compares it with the bytes.
    const put = await s3.send(new PutObjectCommand({ Bucket: options.sourceBucket, Key: key, Body: body, ChecksumAlgorithm: "SHA256" }));
    uploads.push({ key, body, versionId: put.VersionId });
    specs.push({
      eventName: "ObjectCreated:Put",
      bucket: options.sourceBucket,
      key,
      size: body.length,
      eTag: put.ETag!.replace(/"/g, ""),
      versionId: put.VersionId,
      sequencer: sequencer(),
    });
  }
  const created = await invokeHandler(handler, s3Event(...specs), "deploy-test-create");
  const outcomes = created.filter((l) => l.outcome).map((l) => l.outcome);
  if (outcomes.join() !== specs.map(() => "indexed").join()) throw new Error(`expected every record indexed, got ${JSON.stringify(created)}`);

  const keys = indexKeys(options.indexPrefix);
  const read = async (key: string) => {
    const object = await s3.send(new GetObjectCommand({ Bucket: options.indexBucket, Key: key }));
    return JSON.parse(await object.Body!.transformToString());
  };
  const records = [];
  for (const upload of uploads) records.push({ ...(await read(keys.current(options.sourceBucket, upload.key))), expectedSha256: sha256Hex(upload.body) });

  const removed = uploads[0];
  const deleted = await s3.send(new DeleteObjectCommand({ Bucket: options.sourceBucket, Key: removed.key }));
  await invokeHandler(
    handler,
    s3Event({
      eventName: deleted.DeleteMarker ? "ObjectRemoved:DeleteMarkerCreated" : "ObjectRemoved:Delete",
      bucket: options.sourceBucket,
      key: removed.key,
      versionId: deleted.VersionId,
      sequencer: sequencer(),
    }),
    "deploy-test-remove",
  );
  return { uploads, records, removedRecord: await read(keys.current(options.sourceBucket, removed.key)) };
}

/**
 * What the deployed role's policy must hold: the statements the stack designs (stacks/iam.ts) for these
 * props, with every ARN written out for the account, as [Sid, sorted actions, resources].
 */
export function designedRoleStatements(stack: string, props: ChecksumIndexStackProps, account: string): Array<[string, string[], string[]]> {
  const pipeline = resolvePipeline(stack, { ...props, accountId: account });
  return rolePolicyStatements(pipeline, { logGroupArn: "unused", queueArn: "unused", accountId: "unused" }).map((s) => [s.sid, [...s.actions].sort(), s.resources]);
}

/** The deployed role's policy as [Sid, sorted actions, resources]. */
export const deployedStatements = (document: any): Array<[string, string[], string[]]> =>
  document.Statement.map((s: any) => [s.Sid, [s.Action].flat().sort(), [s.Resource].flat()]);
