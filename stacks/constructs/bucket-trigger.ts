import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { LambdaAlias } from "@cdktf/provider-aws/lib/lambda-alias";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { S3BucketNotification } from "@cdktf/provider-aws/lib/s3-bucket-notification";
import type { ResolvedRule } from "../pipeline";

export interface BucketTriggerProps {
  /** Name of the bucket whose events invoke the function. Required. */
  readonly bucketName: string;
  /** ARN of that bucket: the only `source_arn` the permission accepts. Required. */
  readonly bucketArn: string;
  /** Account that owns the bucket: the only `source_account` the permission accepts. Required. */
  readonly bucketOwnerAccountId: string;
  /** The alias S3 invokes. Never the unqualified function, whose `$LATEST` is unpublished code. Required. */
  readonly alias: LambdaAlias;
  /** Notification rules, resolved and checked (resolvePipeline): ids, events and filters. Required, at least one. */
  readonly rules: readonly ResolvedRule[];
  /**
   * What else the notification must wait for, such as the bucket's policy: S3 checks the destinations when
   * the configuration is written, and nothing about the bucket should change under it.
   * @default [] (the permission only)
   */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * S3 → Lambda wiring: the resource-based permission that lets only this bucket, in this account, invoke
 * only this alias, and the bucket's notification configuration, written after the permission exists
 * because S3 test-invokes every destination when the configuration is written.
 */
export class BucketTrigger extends Construct {
  public readonly permission: LambdaPermission;
  public readonly notification: S3BucketNotification;

  constructor(scope: Construct, id: string, props: BucketTriggerProps) {
    super(scope, id);

    this.permission = new LambdaPermission(this, "allow-s3", {
      statementId: "AllowS3InvokeFromSourceBucket",
      action: "lambda:InvokeFunction",
      functionName: props.alias.functionName,
      qualifier: props.alias.name,
      principal: "s3.amazonaws.com",
      sourceArn: props.bucketArn,
      sourceAccount: props.bucketOwnerAccountId,
    });

    this.notification = new S3BucketNotification(this, "notification", {
      bucket: props.bucketName,
      lambdaFunction: props.rules.map((rule) => ({
        id: rule.id,
        lambdaFunctionArn: props.alias.arn,
        events: [...rule.events],
        filterPrefix: rule.prefix === "" ? undefined : rule.prefix,
        filterSuffix: rule.suffix === "" ? undefined : rule.suffix,
      })),
      dependsOn: [this.permission, ...(props.dependsOn ?? [])],
    });
  }
}
