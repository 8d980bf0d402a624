import { describe, expect, it } from "vitest";
import { synthStack, type SynthesizedStack } from "../support/synth";

const KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/** Every statement of the execution role's inline policy. */
function roleStatements(s: SynthesizedStack): any[] {
  const policy = s.only("aws_iam_role_policy");
  const ref = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(policy.policy);
  expect(ref, "the role policy is rendered by an aws_iam_policy_document").not.toBeNull();
  return s.data("aws_iam_policy_document")[ref![1]].statement;
}

function bucketNamed(s: SynthesizedStack, name: string): [string, any] {
  const found = Object.entries(s.resources("aws_s3_bucket")).find(([, b]) => b.bucket === name);
  if (!found) throw new Error(`no bucket named ${name}`);
  return found;
}

const ref = (type: string, id: string, attr = "id") => `\${${type}.${id}.${attr}}`;

describe("buckets", () => {
  it("creates a source bucket and a separate index bucket by default", () => {
    const s = synthStack();
    const names = Object.values(s.resources("aws_s3_bucket")).map((b: any) => b.bucket).sort();
    expect(names).toEqual(["cix-test-index", "cix-test-source"]);
  });

  it("blocks all public access on both buckets", () => {
    const s = synthStack();
    for (const name of ["cix-test-source", "cix-test-index"]) {
      const [id] = bucketNamed(s, name);
      const block = Object.values(s.resources("aws_s3_bucket_public_access_block")).find(
        (b: any) => b.bucket === ref("aws_s3_bucket", id),
      );
      expect(block).toMatchObject({
        block_public_acls: true,
        block_public_policy: true,
        ignore_public_acls: true,
        restrict_public_buckets: true,
      });
    }
  });

  it("enforces bucket-owner object ownership (ACLs disabled) on both buckets", () => {
    const s = synthStack();
    const controls = Object.values(s.resources("aws_s3_bucket_ownership_controls"));
    expect(controls).toHaveLength(2);
    for (const c of controls as any[]) expect(c.rule.object_ownership).toBe("BucketOwnerEnforced");
  });

  it("encrypts with SSE-S3 by default and SSE-KMS with a bucket key when a key is given", () => {
    const plain = Object.values(synthStack().resources("aws_s3_bucket_server_side_encryption_configuration")) as any[];
    expect(plain).toHaveLength(2);
    for (const e of plain) expect(e.rule[0].apply_server_side_encryption_by_default.sse_algorithm).toBe("AES256");

    const kms = synthStack({ sourceBucket: { kmsKeyArn: KMS_KEY }, index: { kmsKeyArn: KMS_KEY } });
    for (const e of Object.values(kms.resources("aws_s3_bucket_server_side_encryption_configuration")) as any[]) {
      expect(e.rule[0]).toEqual({
        apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: KMS_KEY },
        bucket_key_enabled: true,
      });
    }
  });

  it("denies every request to either bucket that is not made over TLS", () => {
    const s = synthStack();
    const policies = Object.values(s.resources("aws_s3_bucket_policy")) as any[];
    expect(policies).toHaveLength(2);
    for (const p of policies) {
      const doc = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(p.policy)![1];
      const bucketId = /^\$\{aws_s3_bucket\.([^.]+)\.id\}$/.exec(p.bucket)![1];
      const arn = `arn:aws:s3:::${s.resources("aws_s3_bucket")[bucketId].bucket}`;
      expect(s.data("aws_iam_policy_document")[doc].statement).toEqual([
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: ["s3:*"],
          resources: [arn, `${arn}/*`],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
      ]);
    }
  });

  it("makes versioning configurable per bucket", () => {
    const statuses = (s: SynthesizedStack) =>
      Object.values(s.resources("aws_s3_bucket_versioning")).map((v: any) => v.versioning_configuration.status).sort();
    expect(statuses(synthStack({ sourceBucket: { versioned: true }, index: { versioned: true } }))).toEqual(["Enabled", "Enabled"]);
    expect(statuses(synthStack({ sourceBucket: { versioned: true } }))).toEqual(["Enabled"]);
  });

  it("never writes the status Disabled, which the provider refuses after Enabled: versioning off is no versioning resource", () => {
    // Off on a new bucket: nothing to configure, the bucket stays unversioned. Off after on: the resource is
    // destroyed, and the provider suspends versioning ("Suspended"), the only way back S3 has.
    expect(synthStack().resources("aws_s3_bucket_versioning")).toEqual({});
    const statuses = Object.values(synthStack({ index: { versioned: true } }).resources("aws_s3_bucket_versioning")).map(
      (v: any) => v.versioning_configuration.status,
    );
    expect(statuses).toEqual(["Enabled"]);
  });

  it("never lets a destroy delete objects unless forceDestroy is set", () => {
    for (const b of Object.values(synthStack().resources("aws_s3_bucket")) as any[]) expect(b.force_destroy).toBe(false);
  });
});

describe("notification", () => {
  it("defines exactly one notification, for ObjectCreated, ObjectRemoved and LifecycleExpiration under incoming/", () => {
    const s = synthStack();
    const n = s.only("aws_s3_bucket_notification");
    const [sourceId] = bucketNamed(s, "cix-test-source");
    expect(n.bucket).toBe(ref("aws_s3_bucket", sourceId, "bucket"));
    expect(n.lambda_function).toHaveLength(1);
    expect(n.lambda_function[0].events).toEqual(["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"]);
    expect(n.lambda_function[0].filter_prefix).toBe("incoming/");
    expect(n.lambda_function[0].filter_suffix).toBeUndefined();
  });

  it("targets the alias ARN, never the function or $LATEST", () => {
    const s = synthStack();
    const n = s.only("aws_s3_bucket_notification");
    const [aliasId] = Object.keys(s.resources("aws_lambda_alias"));
    expect(n.lambda_function[0].lambda_function_arn).toBe(ref("aws_lambda_alias", aliasId, "arn"));
    expect(s.json).not.toContain("$LATEST");
  });

  it("is written only after the permission exists (S3 validates the destination)", () => {
    const s = synthStack();
    const [permissionId] = Object.keys(s.resources("aws_lambda_permission"));
    expect(s.only("aws_s3_bucket_notification").depends_on).toContain(`aws_lambda_permission.${permissionId}`);
  });

  it("passes prefix, suffix and events of several disjoint rules", () => {
    const s = synthStack({
      triggers: [
        { prefix: "csv/", suffix: ".csv" },
        { prefix: "images/", suffix: ".png", events: ["s3:ObjectCreated:Put"] },
      ],
    });
    const rules = s.only("aws_s3_bucket_notification").lambda_function;
    expect(rules.map((r: any) => [r.filter_prefix, r.filter_suffix, r.events])).toEqual([
      ["csv/", ".csv", ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"]],
      ["images/", ".png", ["s3:ObjectCreated:Put"]],
    ]);
  });
});

describe("permission", () => {
  it("lets only s3.amazonaws.com invoke only the alias, from only the source bucket and account", () => {
    const s = synthStack({ accountId: "111122223333" });
    const p = s.only("aws_lambda_permission");
    const [aliasId] = Object.keys(s.resources("aws_lambda_alias"));
    expect(p).toMatchObject({
      action: "lambda:InvokeFunction",
      principal: "s3.amazonaws.com",
      source_arn: "arn:aws:s3:::cix-test-source",
      source_account: "111122223333",
      qualifier: ref("aws_lambda_alias", aliasId, "name"),
    });
  });

  it("derives the source account from the function ARN when none is given (no AWS call to plan)", () => {
    const s = synthStack();
    const [fnId] = Object.keys(s.resources("aws_lambda_function"));
    expect(s.only("aws_lambda_permission").source_account).toBe(`\${element(split(":", aws_lambda_function.${fnId}.arn), 4)}`);
    expect(s.config.data?.aws_caller_identity).toBeUndefined();
  });
});

describe("function", () => {
  it("runs Node.js 22 on arm64, publishes versions and logs JSON to its own log group", () => {
    const s = synthStack();
    const fn = s.only("aws_lambda_function");
    const [logId] = Object.keys(s.resources("aws_cloudwatch_log_group"));
    expect(fn).toMatchObject({
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      publish: true,
      handler: "handler.handler",
      logging_config: { log_format: "JSON", log_group: ref("aws_cloudwatch_log_group", logId, "name") },
    });
    expect(fn.filename).toMatch(/^assets\/indexer_code_[0-9A-F]+\/[0-9a-f]{64}\/function\.zip$/);
    expect(fn.source_code_hash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it("tells the function where the index is", () => {
    const s = synthStack({ index: { prefix: "records/" } });
    expect(s.only("aws_lambda_function").environment.variables).toMatchObject({
      INDEX_BUCKET: expect.stringMatching(/^\$\{aws_s3_bucket\.[^.]+\.bucket\}$/),
      INDEX_PREFIX: "records/",
    });
  });

  it("points the alias (default live) at the published version", () => {
    const s = synthStack();
    const [fnId] = Object.keys(s.resources("aws_lambda_function"));
    expect(s.only("aws_lambda_alias")).toMatchObject({
      name: "live",
      function_version: ref("aws_lambda_function", fnId, "version"),
    });
    expect(synthStack({ function: { aliasName: "current" } }).only("aws_lambda_alias").name).toBe("current");
  });

  it("bounds async retries and event age, and sends failures to an encrypted queue", () => {
    const s = synthStack();
    const [queueId] = Object.keys(s.resources("aws_sqs_queue"));
    const [aliasId] = Object.keys(s.resources("aws_lambda_alias"));
    expect(s.only("aws_lambda_function_event_invoke_config")).toMatchObject({
      qualifier: ref("aws_lambda_alias", aliasId, "name"),
      maximum_retry_attempts: 2,
      maximum_event_age_in_seconds: 3600,
      destination_config: { on_failure: { destination: ref("aws_sqs_queue", queueId, "arn") } },
    });
    expect(s.only("aws_sqs_queue").sqs_managed_sse_enabled).toBe(true);
  });

  it("creates its log group with a retention period", () => {
    const s = synthStack({ function: { logRetentionDays: 90 } });
    expect(s.only("aws_cloudwatch_log_group")).toMatchObject({ name: "/aws/lambda/cix-test-indexer", retention_in_days: 90 });
  });

  it("applies memory, timeout and architecture settings", () => {
    const fn = synthStack({ function: { memorySize: 2048, timeoutSeconds: 60, architecture: "x86_64" } }).only("aws_lambda_function");
    expect(fn).toMatchObject({ memory_size: 2048, timeout: 60, architectures: ["x86_64"] });
  });
});

describe("execution role", () => {
  it("may be assumed only by lambda.amazonaws.com", () => {
    const s = synthStack();
    const role = s.only("aws_iam_role");
    const id = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(role.assume_role_policy)![1];
    expect(s.data("aws_iam_policy_document")[id].statement).toEqual([
      {
        sid: "LambdaAssumesRole",
        effect: "Allow",
        actions: ["sts:AssumeRole"],
        principals: [{ type: "Service", identifiers: ["lambda.amazonaws.com"] }],
      },
    ]);
  });

  it("grants exactly the handler's calls on exactly its ARNs", () => {
    const statements = roleStatements(synthStack());
    const byAction = statements.map((st) => [st.sid, st.actions, st.resources]);
    expect(byAction).toEqual([
      ["ReadSourceObjects0", ["s3:GetObject", "s3:GetObjectAttributes"], ["arn:aws:s3:::cix-test-source/incoming/*"]],
      ["ReadWriteIndexRecords", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], ["arn:aws:s3:::cix-test-index/index/*"]],
      ["FindIndexRecords", ["s3:ListBucket"], ["arn:aws:s3:::cix-test-index"]],
      ["WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [expect.stringMatching(/^\$\{aws_cloudwatch_log_group\.[^.]+\.arn\}:log-stream:\*$/)]],
      ["SendFailedEvents", ["sqs:SendMessage"], [expect.stringMatching(/^\$\{aws_sqs_queue\.[^.]+\.arn\}$/)]],
      // Its own alias only; the account comes from the role's ARN (the function depends on this policy).
      ["ContinueOwnReads", ["lambda:InvokeFunction"], [expect.stringMatching(/^arn:aws:lambda:[a-z0-9-]+:\$\{element\(split\(":", aws_iam_role\.[^.]+\.arn\), 4\)\}:function:cix-test-indexer:live$/)]],
    ]);
  });

  it("has no wildcard action and no wildcard resource", () => {
    for (const props of [{}, { sourceBucket: { versioned: true, kmsKeyArn: KMS_KEY } }]) {
      for (const st of roleStatements(synthStack(props))) {
        for (const a of st.actions) expect(a).not.toMatch(/\*/);
        for (const r of st.resources) expect(r).not.toBe("*");
        expect(st.effect).toBe("Allow");
      }
    }
  });

  it("needs no logs:CreateLogGroup, since Terraform creates the log group", () => {
    expect(roleStatements(synthStack()).flatMap((st) => st.actions)).not.toContain("logs:CreateLogGroup");
  });

  it("adds GetObjectVersion and GetObjectVersionAttributes only for a versioned source", () => {
    const actions = (s: SynthesizedStack) => roleStatements(s).find((st) => st.sid === "ReadSourceObjects0").actions;
    expect(actions(synthStack())).toEqual(["s3:GetObject", "s3:GetObjectAttributes"]);
    expect(actions(synthStack({ sourceBucket: { versioned: true } }))).toEqual(["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"]);
  });

  it("scopes source reads to each rule's prefix and suffix", () => {
    const s = synthStack({ triggers: [{ prefix: "a/", suffix: ".csv" }, { prefix: "b/" }] });
    expect(roleStatements(s).filter((st) => st.sid.startsWith("ReadSource")).map((st) => st.resources)).toEqual([
      ["arn:aws:s3:::cix-test-source/a/*.csv"],
      ["arn:aws:s3:::cix-test-source/b/*"],
    ]);
  });

  it("uses KMS only on the given key", () => {
    expect(roleStatements(synthStack()).some((st) => st.actions.some((a: string) => a.startsWith("kms:")))).toBe(false);
    const kms = roleStatements(synthStack({ sourceBucket: { kmsKeyArn: KMS_KEY } })).find((st) => st.sid === "UseBucketKeys");
    expect(kms).toMatchObject({ actions: ["kms:Decrypt", "kms:GenerateDataKey"], resources: [KMS_KEY] });
  });
});

describe("existing source bucket", () => {
  const existing = { existingSourceBucket: { name: "someone-elses-uploads", versioned: true, ownerAccountId: "444455556666" } };

  it("creates no source bucket and manages only the notification on it", () => {
    const s = synthStack(existing);
    expect(Object.values(s.resources("aws_s3_bucket")).map((b: any) => b.bucket)).toEqual(["cix-test-index"]);
    expect(s.only("aws_s3_bucket_notification").bucket).toBe("someone-elses-uploads");
    expect(s.only("aws_lambda_permission")).toMatchObject({
      source_arn: "arn:aws:s3:::someone-elses-uploads",
      source_account: "444455556666",
    });
  });

  it("warns at synth that the notification replaces the bucket's other notifications", () => {
    const s = synthStack(existing);
    const warnings = s.stack.node.metadata.filter((m) => m.type === "@cdktf/warn").map((m) => String(m.data));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("removes every notification that other tools or stacks set");
    expect(synthStack().stack.node.metadata.filter((m) => m.type === "@cdktf/warn")).toHaveLength(0);
  });
});

describe("state backend", () => {
  it("keeps local state at a relative path in the project root", () => {
    expect(synthStack().config.terraform.backend).toEqual({ local: { path: "../../../terraform.test.tfstate" } });
  });

  it("uses an encrypted S3 backend with a lock file when configured", () => {
    const s = synthStack({ backend: { type: "s3", bucket: "acme-terraform-state" } });
    expect(s.config.terraform.backend).toEqual({
      s3: { bucket: "acme-terraform-state", key: "test/terraform.tfstate", region: "eu-west-1", encrypt: true, use_lockfile: true },
    });
  });
});

describe("outputs", () => {
  it("gives callers the buckets, the index prefix, the function, the alias, the failure queue and the log group", () => {
    expect(Object.keys(synthStack().config.output).sort()).toEqual(
      ["alias_arn", "failure_queue_url", "function_name", "index_bucket", "index_prefix", "log_group", "source_bucket"].sort(),
    );
  });
});
