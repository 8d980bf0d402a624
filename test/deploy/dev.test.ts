/**
 * The dev stack's whole life against a running AWS API (moto on loopback): `npx cdktf deploy`, the deployed
 * resources read back through the SDK, a re-plan with no changes, the deployed bytes run on real uploads,
 * the upgrades a user makes (each applied by `cdktf deploy` and re-planned to no changes), then destroy.
 *
 * The steps build on each other and run in order.
 */
import { DescribeRuleCommand, EventBridgeClient, ListTargetsByRuleCommand } from "@aws-sdk/client-eventbridge";
import { GetRoleCommand } from "@aws-sdk/client-iam";
import { stackProps } from "../../stacks/app";
import { resolvePipeline } from "../../stacks/pipeline";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import * as path from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cdktfDeploy, cdktfDestroy, deployWorkspace, expectNoChanges, mergeProps, stackOutputs, type DeployWorkspace } from "../support/deploy";
import {
  bucketExists,
  clientsOf,
  loadDeployedHandler,
  readAlarms,
  readBucket,
  deployedStatements,
  designedRoleStatements,
  readFunction,
  readLogGroup,
  readNotification,
  readQueue,
  runDeployedBytes,
  withBucketPoliciesLifted,
  type Clients,
} from "../support/deployed";
import { MOTO_ACCOUNT, MOTO_REGION, startMotoServer, type MotoServer } from "../support/moto-server";
import { tempDir } from "../support/temp";

const PREFIX = "cix-deploy-dev";
const SOURCE = `${PREFIX}-source`;
const INDEX = `${PREFIX}-index`;
const FUNCTION = `${PREFIX}-indexer`;
const ALIAS_ARN = `arn:aws:lambda:${MOTO_REGION}:${MOTO_ACCOUNT}:function:${FUNCTION}:live`;
const UPGRADE_APP = "npx tsx test/deploy/upgrade-app.ts";
/** The dev stack's props as the deploy synthesizes them, and its resolved pipeline: what the checks expect. */
const DEV_PROPS = stackProps({ namePrefix: "cix-deploy" }).dev;
const DESIGN = resolvePipeline("dev", DEV_PROPS);

let moto: MotoServer;
let clients: Clients;
let workspace: DeployWorkspace;
let root: string;

beforeAll(async () => {
  moto = await startMotoServer();
  clients = clientsOf(moto);
  root = tempDir("cix-deploy-dev-");
  workspace = deployWorkspace(root, moto, { CHECKSUM_INDEX_NAME_PREFIX: "cix-deploy" });
});

afterAll(async () => {
  await moto?.stop();
});

/** The changes made so far to the dev stack's props: each upgrade adds to them, as a user edits stacks/app.ts. */
let changes: object = {};
/** `cdktf deploy dev` of the app with one more change. */
const upgrade = (step: object) => {
  changes = mergeProps(changes, step);
  return cdktfDeploy("dev", workspace, { app: UPGRADE_APP, env: { CIX_STACK: "dev", CIX_CHANGES: JSON.stringify(changes) } });
};

describe("the dev stack, deployed with npx cdktf deploy", () => {
  it("deploys", async () => {
    const output = await cdktfDeploy("dev", workspace);
    expect(output).toMatch(/Apply complete! Resources: \d+ added, 0 changed, 0 destroyed/);
    expect(stackOutputs(path.join(root, "terraform.dev.tfstate"))).toMatchObject({
      source_bucket: SOURCE,
      index_bucket: INDEX,
      index_prefix: "index/",
      function_name: FUNCTION,
      alias_arn: ALIAS_ARN,
      log_group: `/aws/lambda/${FUNCTION}`,
    });
  });

  it("notifies the alias of every create and removal under incoming/", async () => {
    const notification = await readNotification(clients.s3, SOURCE);
    expect(notification.LambdaFunctionConfigurations).toEqual([
      expect.objectContaining({
        LambdaFunctionArn: ALIAS_ARN,
        Filter: { Key: { FilterRules: [{ Name: "Prefix", Value: "incoming/" }] } },
      }),
    ]);
    expect(notification.LambdaFunctionConfigurations![0].Events!.sort()).toEqual([...DESIGN.rules[0].events].sort());
    expect(notification.QueueConfigurations ?? []).toEqual([]);
    expect(notification.TopicConfigurations ?? []).toEqual([]);
  });

  it("lets only S3, for the source bucket in this account, invoke only the alias", async () => {
    const { policy } = await readFunction(clients, FUNCTION, "live");
    expect(policy.Statement).toEqual([
      expect.objectContaining({
        Sid: "AllowS3InvokeFromSourceBucket",
        Effect: "Allow",
        Principal: { Service: "s3.amazonaws.com" },
        Action: "lambda:InvokeFunction",
        Resource: ALIAS_ARN,
        Condition: {
          ArnLike: { "AWS:SourceArn": `arn:aws:s3:::${SOURCE}` },
          StringEquals: { "AWS:SourceAccount": MOTO_ACCOUNT },
        },
      }),
    ]);
  });

  it("runs the bundle on nodejs22.x arm64 with the index in its environment, retries bounded, failures queued", async () => {
    const { configuration, invokeConfig } = await readFunction(clients, FUNCTION, "live");
    expect(configuration).toMatchObject({
      Runtime: "nodejs22.x",
      Architectures: ["arm64"],
      Handler: "handler.handler",
      MemorySize: 512,
      Timeout: 300,
      Environment: { Variables: { INDEX_BUCKET: INDEX, INDEX_PREFIX: "index/" } },
    });
    expect(configuration.Version).not.toBe("$LATEST");
    expect(invokeConfig).toMatchObject({
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: `arn:aws:sqs:${MOTO_REGION}:${MOTO_ACCOUNT}:${FUNCTION}-failures` } },
    });
  });

  it("gives the role exactly the policy of the stack: read incoming/, write index/, own logs, own queue", async () => {
    const { rolePolicies, roleName } = await readFunction(clients, FUNCTION, "live");
    expect(roleName).toBe(FUNCTION);
    expect(rolePolicies).toHaveLength(1);
    // Exactly what the stack designs (stacks/iam.ts) ...
    expect(deployedStatements(rolePolicies[0].document)).toEqual(designedRoleStatements("dev", DEV_PROPS, MOTO_ACCOUNT));
    // ... which is, written out:
    expect(deployedStatements(rolePolicies[0].document)).toEqual([
      ["ReadSourceObjects0", ["s3:GetObject", "s3:GetObjectAttributes"], [`arn:aws:s3:::${SOURCE}/incoming/*`]],
      ["ReadWriteIndexRecords", ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [`arn:aws:s3:::${INDEX}/index/*`]],
      ["FindIndexRecords", ["s3:ListBucket"], [`arn:aws:s3:::${INDEX}`]],
      ["WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [`arn:aws:logs:${MOTO_REGION}:${MOTO_ACCOUNT}:log-group:/aws/lambda/${FUNCTION}:log-stream:*`]],
      ["SendFailedEvents", ["sqs:SendMessage"], [`arn:aws:sqs:${MOTO_REGION}:${MOTO_ACCOUNT}:${FUNCTION}-failures`]],
      ["ContinueOwnReads", ["lambda:InvokeFunction"], [ALIAS_ARN]],
    ]);
  });

  it.each([SOURCE, INDEX])("makes %s private, encrypted, owner-enforced, TLS-only and unversioned", async (bucket) => {
    const found = await readBucket(clients.s3, bucket);
    // Never versioned: S3 reports no status at all (not "Suspended").
    expect(found.versioning).toBeUndefined();
    expect(found.encryption?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe("AES256");
    expect(found.publicAccess).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    expect(found.ownership).toBe("BucketOwnerEnforced");
    expect(found.policy.Statement).toEqual([
      expect.objectContaining({
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: expect.arrayContaining([`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]),
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      }),
    ]);
  });

  it("creates the encrypted failure queue and the log group with dev's retention", async () => {
    const queue = await readQueue(clients.sqs, `${FUNCTION}-failures`);
    expect(queue).toMatchObject({ SqsManagedSseEnabled: "true", MessageRetentionPeriod: String(14 * 86400) });
    expect(await readLogGroup(clients.logs, `/aws/lambda/${FUNCTION}`)).toMatchObject({ retentionInDays: 14 });
  });

  it("aborts incomplete multipart uploads on both buckets, expires replaced index versions and continuation state", async () => {
    const rules = async (bucket: string) =>
      (await readBucket(clients.s3, bucket)).lifecycle.map((r) => [
        r.ID,
        r.Status,
        r.AbortIncompleteMultipartUpload?.DaysAfterInitiation,
        r.NoncurrentVersionExpiration?.NoncurrentDays,
        ...(r.Expiration ? [r.Expiration.Days, r.Filter?.Prefix] : []),
      ]);
    expect(await rules(SOURCE)).toEqual([["abort-incomplete-multipart-uploads", "Enabled", 7, undefined]]);
    expect(await rules(INDEX)).toEqual([
      ["abort-incomplete-multipart-uploads", "Enabled", 7, undefined],
      ["expire-noncurrent-versions", "Enabled", undefined, 30],
      ["expire-continuation-state", "Enabled", undefined, undefined, 15, "index/continuations/"],
    ]);
  });

  it("alarms on failed events, errors, throttles and dropped events, notifying nobody by default", async () => {
    const alarms = await readAlarms(clients.cloudwatch, PREFIX);
    expect(alarms.map((a) => [a.AlarmName, a.Namespace, a.MetricName, a.Statistic, a.Threshold, a.ComparisonOperator, a.TreatMissingData, a.Dimensions]).sort()).toEqual(
      [
        [`${PREFIX}-dropped-events`, "AWS/Lambda", "AsyncEventsDropped", "Sum", 1, "GreaterThanOrEqualToThreshold", "notBreaching", [{ Name: "FunctionName", Value: FUNCTION }]],
        [`${PREFIX}-errors`, "AWS/Lambda", "Errors", "Sum", 1, "GreaterThanOrEqualToThreshold", "notBreaching", [{ Name: "FunctionName", Value: FUNCTION }]],
        [`${PREFIX}-failed-events`, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 1, "GreaterThanOrEqualToThreshold", "notBreaching", [{ Name: "QueueName", Value: `${FUNCTION}-failures` }]],
        [`${PREFIX}-throttles`, "AWS/Lambda", "Throttles", "Sum", 1, "GreaterThanOrEqualToThreshold", "notBreaching", [{ Name: "FunctionName", Value: FUNCTION }]],
      ].sort(),
    );
    for (const alarm of alarms) expect(alarm.AlarmActions ?? []).toEqual([]);
  });

  it("plans no changes right after the deploy (except moto's known differences)", () => {
    expectNoChanges(workspace, "dev");
  });

  it("runs the deployed bytes: uploads to the deployed bucket are indexed in the deployed index", async () => {
    const { handler, environment } = await loadDeployedHandler(clients, moto, workspace.stackDir("dev"), FUNCTION, "live");
    expect(environment).toMatchObject({ INDEX_BUCKET: INDEX, INDEX_PREFIX: "index/" });
    // moto answers every object request to these buckets with 403 while their TLS-only policy is on.
    await expect(clients.s3.send(new PutObjectCommand({ Bucket: SOURCE, Key: "incoming/denied", Body: "x" }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
    const result = await withBucketPoliciesLifted(clients.s3, [SOURCE, INDEX], () =>
      runDeployedBytes(clients.s3, handler, {
        sourceBucket: SOURCE,
        indexBucket: environment.INDEX_BUCKET,
        indexPrefix: environment.INDEX_PREFIX,
        sourcePrefix: "incoming/",
      }),
    );
    for (const record of result.records) {
      expect(record).toMatchObject({
        state: "present",
        bucket: SOURCE,
        versionId: null,
        sha256: record.expectedSha256,
        // moto stores the SHA-256 the client sent; the function compared it with the bytes it read.
        s3Checksum: { algorithm: "SHA256", verification: "match" },
      });
    }
    expect(result.records.map((r) => [r.key, r.size])).toEqual(result.uploads.map((u) => [u.key, u.body.length]));
    expect(result.removedRecord).toMatchObject({ state: "deleted", key: result.uploads[0].key });
  });
});

describe("upgrades of the deployed dev stack", () => {
  it("turns versioning on", async () => {
    await upgrade({ sourceBucket: { versioned: true }, index: { versioned: true } });
    for (const bucket of [SOURCE, INDEX]) expect((await readBucket(clients.s3, bucket)).versioning).toBe("Enabled");
    const { rolePolicies } = await readFunction(clients, FUNCTION, "live");
    // A versioned source is read by exact version.
    expect(deployedStatements(rolePolicies[0].document)).toEqual(designedRoleStatements("dev", mergeProps(DEV_PROPS, changes), MOTO_ACCOUNT));
    expect(deployedStatements(rolePolicies[0].document)[0][1]).toContain("s3:GetObjectVersion");
    expectNoChanges(workspace, "dev");
  });

  it("turns versioning off again: S3 suspends it", async () => {
    await upgrade({ sourceBucket: { versioned: false }, index: { versioned: false } });
    for (const bucket of [SOURCE, INDEX]) expect((await readBucket(clients.s3, bucket)).versioning).toBe("Suspended");
    expectNoChanges(workspace, "dev");
  });

  it("turns versioning on once more", async () => {
    await upgrade({ sourceBucket: { versioned: true }, index: { versioned: true } });
    for (const bucket of [SOURCE, INDEX]) expect((await readBucket(clients.s3, bucket)).versioning).toBe("Enabled");
    expectNoChanges(workspace, "dev");
  });

  it("moves the notification to a new prefix, and the role's read access with it", async () => {
    await upgrade({ triggers: [{ prefix: "uploads/", suffix: ".csv" }] });
    const notification = await readNotification(clients.s3, SOURCE);
    expect(notification.LambdaFunctionConfigurations?.map((c) => c.Filter?.Key?.FilterRules)).toEqual([
      [
        { Name: "Prefix", Value: "uploads/" },
        { Name: "Suffix", Value: ".csv" },
      ],
    ]);
    const { rolePolicies } = await readFunction(clients, FUNCTION, "live");
    expect(rolePolicies[0].document.Statement[0].Resource).toBe(`arn:aws:s3:::${SOURCE}/uploads/*.csv`);
    expectNoChanges(workspace, "dev");
  });

  it("changes memory and timeout, and S3 still invokes the alias", async () => {
    await upgrade({ function: { memorySize: 1024, timeoutSeconds: 120 } });
    const { configuration } = await readFunction(clients, FUNCTION, "live");
    expect(configuration).toMatchObject({ MemorySize: 1024, Timeout: 120 });
    expect((await readNotification(clients.s3, SOURCE)).LambdaFunctionConfigurations?.[0].LambdaFunctionArn).toBe(ALIAS_ARN);
    expectNoChanges(workspace, "dev");
  });

  it("encrypts both buckets with a customer managed KMS key, and lets the function use it", async () => {
    const kms = new KMSClient(moto.clientConfig);
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: "cix deploy test" }));
    const keyArn = KeyMetadata!.Arn!;
    await upgrade({
      sourceBucket: { kmsKeyArn: keyArn },
      index: { kmsKeyArn: keyArn },
    });
    for (const bucket of [SOURCE, INDEX]) {
      expect((await readBucket(clients.s3, bucket)).encryption).toMatchObject({
        ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: keyArn },
        BucketKeyEnabled: true,
      });
    }
    const { rolePolicies } = await readFunction(clients, FUNCTION, "live");
    expect(rolePolicies[0].document.Statement).toContainEqual(
      expect.objectContaining({ Sid: "UseBucketKeys", Action: expect.arrayContaining(["kms:Decrypt", "kms:GenerateDataKey"]), Resource: keyArn }),
    );
    expectNoChanges(workspace, "dev");
  });
});

describe("operations upgrades of the deployed dev stack", () => {
  it("creates an SNS topic for the alarms and makes it their action", async () => {
    await upgrade({ alarms: { topic: { create: true } } });
    const topicArn = `arn:aws:sns:${MOTO_REGION}:${MOTO_ACCOUNT}:${PREFIX}-alarms`;
    const alarms = await readAlarms(clients.cloudwatch, PREFIX);
    expect(alarms).toHaveLength(4);
    for (const alarm of alarms) expect([alarm.AlarmActions, alarm.OKActions]).toEqual([[topicArn], [topicArn]]);
    expectNoChanges(workspace, "dev");
  });
});

describe("delivery upgrades of the deployed dev stack", () => {
  it("moves delivery to EventBridge and adds the Batch Operations role: rules target the alias, only they may invoke it", async () => {
    await upgrade({ delivery: "eventbridge", batchOperations: {} });
    const design = resolvePipeline("dev", mergeProps(DEV_PROPS, changes));
    // The bucket sends its events to EventBridge, and no longer to the function directly.
    const notification = await readNotification(clients.s3, SOURCE);
    expect(notification.LambdaFunctionConfigurations ?? []).toEqual([]);
    // moto does not answer the EventBridge setting (MOTO_API_DIFFERENCES.eventBridgeConfiguration): the
    // configuration that was applied says it.
    const applied = JSON.parse(readFileSync(path.join(workspace.stackDir("dev"), "cdk.tf.json"), "utf8"));
    expect(Object.values(applied.resource.aws_s3_bucket_notification).map((n: any) => n.eventbridge)).toEqual([true]);

    const events = new EventBridgeClient(moto.clientConfig);
    for (const rule of design.delivery.eventBridgeRules) {
      const deployed = await events.send(new DescribeRuleCommand({ Name: rule.name }));
      expect(JSON.parse(deployed.EventPattern!)).toEqual(rule.pattern);
      const { Targets } = await events.send(new ListTargetsByRuleCommand({ Rule: rule.name }));
      expect(Targets).toEqual([
        expect.objectContaining({
          Arn: ALIAS_ARN,
          DeadLetterConfig: { Arn: `arn:aws:sqs:${MOTO_REGION}:${MOTO_ACCOUNT}:${FUNCTION}-failures` },
          RetryPolicy: { MaximumRetryAttempts: design.function.maxRetryAttempts, MaximumEventAgeInSeconds: design.function.maxEventAgeSeconds },
        }),
      ]);
    }
    events.destroy();

    const { policy } = await readFunction(clients, FUNCTION, "live");
    expect(policy.Statement.map((s: any) => [s.Principal, s.Resource, s.Condition?.ArnLike?.["AWS:SourceArn"]])).toEqual(
      design.delivery.eventBridgeRules.map((rule) => [
        { Service: "events.amazonaws.com" },
        ALIAS_ARN,
        `arn:aws:events:${MOTO_REGION}:${MOTO_ACCOUNT}:rule/${rule.name}`,
      ]),
    );
    const batchRole = await clients.iam.send(new GetRoleCommand({ RoleName: `${PREFIX}-batch` }));
    expect(decodeURIComponent(batchRole.Role!.AssumeRolePolicyDocument!)).toContain("batchoperations.s3.amazonaws.com");
    expectNoChanges(workspace, "dev");
  });

  it("moves delivery back to the bucket's notification", async () => {
    await upgrade({ delivery: "notification" });
    const notification = await readNotification(clients.s3, SOURCE);
    expect(notification.LambdaFunctionConfigurations?.[0].LambdaFunctionArn).toBe(ALIAS_ARN);
    expectNoChanges(workspace, "dev");
  });
});

describe("destroying the dev stack", () => {
  it("removes every resource and leaves an empty state", async () => {
    // dev's buckets hold objects (and versions) from the steps above: forceDestroy lets destroy empty them.
    await cdktfDestroy("dev", workspace, { app: UPGRADE_APP, env: { CIX_STACK: "dev", CIX_CHANGES: JSON.stringify(changes) } });
    expect(await bucketExists(clients.s3, SOURCE)).toBe(false);
    expect(await bucketExists(clients.s3, INDEX)).toBe(false);
    await expect(readFunction(clients, FUNCTION, "live")).rejects.toThrow(/not found|ResourceNotFound/i);
    expect(await readLogGroup(clients.logs, `/aws/lambda/${FUNCTION}`)).toBeUndefined();
    expect(await readAlarms(clients.cloudwatch, PREFIX)).toEqual([]);
    const state = JSON.parse(readFileSync(path.join(root, "terraform.dev.tfstate"), "utf8"));
    expect(state.resources).toEqual([]);
    expect(existsSync(workspace.stackDir("dev"))).toBe(true);
  });
});
