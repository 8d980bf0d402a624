/**
 * The prod stack deployed as a platform team deploys it: the Terraform state in an S3 bucket (with its lock
 * file), the account given, `npx cdktf deploy prod`. Then the resources read back through the SDK, a plan
 * for review by `npm run plan`'s own code with no changes (and no lock needed), and the deployed bytes run
 * on the versioned buckets.
 */
import { stackProps } from "../../stacks/app";
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand, PutBucketVersioningCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planStack } from "../../tools/plan";
import { cdktfDeploy, deployWorkspace, type DeployWorkspace } from "../support/deploy";
import {
  clientsOf,
  deployedStatements,
  designedRoleStatements,
  loadDeployedHandler,
  readAlarms,
  readBucket,
  readFunction,
  readLogGroup,
  readNotification,
  runDeployedBytes,
  withBucketPoliciesLifted,
  type Clients,
} from "../support/deployed";
import { unexpectedDifferences } from "../support/moto-differences";
import { MOTO_ACCOUNT, MOTO_REGION, startMotoServer, type MotoServer } from "../support/moto-server";
import { tempDir } from "../support/temp";

const PREFIX = "cix-deploy-prod";
const SOURCE = `${PREFIX}-source`;
const INDEX = `${PREFIX}-index`;
const FUNCTION = `${PREFIX}-indexer`;
const STATE_BUCKET = "cix-deploy-terraform-state";
const STATE_KEY = "prod/terraform.tfstate";

let moto: MotoServer;
let clients: Clients;
let workspace: DeployWorkspace;

beforeAll(async () => {
  moto = await startMotoServer();
  clients = clientsOf(moto);
  // The state bucket, made as the README says: versioned, so an overwritten state can be recovered.
  await clients.s3.send(new CreateBucketCommand({ Bucket: STATE_BUCKET }));
  await clients.s3.send(new PutBucketVersioningCommand({ Bucket: STATE_BUCKET, VersioningConfiguration: { Status: "Enabled" } }));
  workspace = deployWorkspace(tempDir("cix-deploy-prod-"), moto, {
    CHECKSUM_INDEX_NAME_PREFIX: "cix-deploy",
    CHECKSUM_INDEX_STATE_BUCKET: STATE_BUCKET,
    CHECKSUM_INDEX_ACCOUNT_ID: MOTO_ACCOUNT,
  });
});

afterAll(async () => {
  await moto?.stop();
});

describe("the prod stack, deployed with npx cdktf deploy and its state in S3", () => {
  it("deploys and keeps its state in the state bucket", async () => {
    const output = await cdktfDeploy("prod", workspace);
    expect(output).toMatch(/Apply complete! Resources: \d+ added, 0 changed, 0 destroyed/);
    await expect(clients.s3.send(new HeadObjectCommand({ Bucket: STATE_BUCKET, Key: STATE_KEY }))).resolves.toMatchObject({
      ServerSideEncryption: "AES256",
    });
    // The lock file is gone once the deploy is done.
    await expect(clients.s3.send(new HeadObjectCommand({ Bucket: STATE_BUCKET, Key: `${STATE_KEY}.tflock` }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
  });

  it("versions both buckets and gives the function prod's memory, retention and version reads", async () => {
    for (const bucket of [SOURCE, INDEX]) expect((await readBucket(clients.s3, bucket)).versioning).toBe("Enabled");
    const { configuration, rolePolicies } = await readFunction(clients, FUNCTION, "live");
    expect(configuration).toMatchObject({ MemorySize: 1024, Timeout: 300, Runtime: "nodejs22.x" });
    expect(deployedStatements(rolePolicies[0].document)).toEqual(designedRoleStatements("prod", stackProps({ namePrefix: "cix-deploy" }).prod, MOTO_ACCOUNT));
    expect(deployedStatements(rolePolicies[0].document)[0][1]).toContain("s3:GetObjectVersion");
    expect(await readLogGroup(clients.logs, `/aws/lambda/${FUNCTION}`)).toMatchObject({ retentionInDays: 365 });
    expect((await readNotification(clients.s3, SOURCE)).LambdaFunctionConfigurations?.[0].LambdaFunctionArn).toBe(
      `arn:aws:lambda:${MOTO_REGION}:${MOTO_ACCOUNT}:function:${FUNCTION}:live`,
    );
  });

  it("plans for review with no changes, reading the state without taking the lock, even while a deploy holds it", async () => {
    // Someone's deploy is running: its lock file is in the state bucket. A review plan neither waits for it
    // nor needs to write a lock of its own (a read-only role can plan).
    const lock = JSON.stringify({ ID: "a-running-deploy", Operation: "OperationTypeApply", Who: "ci@deploy", Version: "1.11.4" });
    await clients.s3.send(new PutObjectCommand({ Bucket: STATE_BUCKET, Key: `${STATE_KEY}.tflock`, Body: lock }));
    try {
      const saved = { ...process.env };
      Object.assign(process.env, workspace.env);
      let planned;
      try {
        planned = planStack("prod", workspace.stackDir("prod"), { offline: false, outDir: tempDir("cix-review-"), reuseInit: true });
      } finally {
        for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
        Object.assign(process.env, saved);
      }
      const plan = JSON.parse(readFileSync(planned.files.json, "utf8"));
      expect(unexpectedDifferences(plan)).toEqual([]);
    } finally {
      await clients.s3.send(new DeleteObjectCommand({ Bucket: STATE_BUCKET, Key: `${STATE_KEY}.tflock` }));
    }
  });

  it("runs the deployed bytes on the versioned buckets: each record names the exact version", async () => {
    const { handler, environment } = await loadDeployedHandler(clients, moto, workspace.stackDir("prod"), FUNCTION, "live");
    const result = await withBucketPoliciesLifted(clients.s3, [SOURCE, INDEX], () =>
      runDeployedBytes(clients.s3, handler, {
        sourceBucket: SOURCE,
        indexBucket: environment.INDEX_BUCKET,
        indexPrefix: environment.INDEX_PREFIX,
        sourcePrefix: "incoming/",
      }),
    );
    for (const [i, record] of result.records.entries()) {
      expect(record.versionId).toBe(result.uploads[i].versionId);
      expect(record.versionId).toMatch(/\S/);
      expect(record).toMatchObject({ state: "present", sha256: record.expectedSha256, s3Checksum: { verification: "match" } });
    }
    // Versioned: a delete creates a delete marker, and the record says so.
    expect(result.removedRecord).toMatchObject({ state: "deleted", deleteMarker: true });
  });

  it("has an alarm on each failure signal", async () => {
    const alarms = await readAlarms(clients.cloudwatch, PREFIX);
    expect(alarms.map((a) => [a.Namespace, a.MetricName]).sort()).toEqual([
      ["AWS/Lambda", "AsyncEventsDropped"],
      ["AWS/Lambda", "Errors"],
      ["AWS/Lambda", "Throttles"],
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible"],
    ]);
  });
});
