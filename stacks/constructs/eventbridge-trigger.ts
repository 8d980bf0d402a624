import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { LambdaAlias } from "@cdktf/provider-aws/lib/lambda-alias";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { S3BucketNotification } from "@cdktf/provider-aws/lib/s3-bucket-notification";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import type { ITerraformDependable } from "cdktf";
import type { ResolvedEventBridgeRule } from "../pipeline";

export interface EventBridgeTriggerProps {
  /** Name of the bucket whose events invoke the function (a reference for a created bucket). Required. */
  readonly bucketName: string;
  /**
   * Turn on the bucket's EventBridge delivery with an aws_s3_bucket_notification (`eventbridge = true`).
   * False when it is on already: the stack then writes nothing to the bucket. Required.
   */
  readonly manageBucketSetting: boolean;
  /** One EventBridge rule per trigger rule, with its pattern (resolvePipeline). Required, at least one. */
  readonly rules: readonly ResolvedEventBridgeRule[];
  /** The account of the rules: the only `source_account` each permission accepts. Required. */
  readonly accountId: string;
  /** The alias the rules invoke. Never the unqualified function. Required. */
  readonly alias: LambdaAlias;
  /** The queue that keeps events EventBridge could not deliver (the function's failure queue). Required. */
  readonly deadLetterQueue: SqsQueue;
  /** Retries of a delivery EventBridge could not make, as the function's async retries. Required. */
  readonly maxRetryAttempts: number;
  /** Age after which EventBridge stops retrying a delivery, as the function's async setting. Required. */
  readonly maxEventAgeSeconds: number;
  /** What the bucket setting must wait for (the bucket's policy). @default [] */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * S3 → EventBridge → Lambda: the bucket's EventBridge delivery, one rule per trigger rule targeting the
 * alias (dead-letter queue and retry policy as the function's async settings), a permission per rule that
 * lets only that rule invoke only the alias, and the queue policy that lets only those rules dead-letter.
 * Other consumers of the bucket's events add rules of their own: the bucket's configuration is not theirs
 * to fight over.
 */
export class EventBridgeTrigger extends Construct {
  public readonly rules: CloudwatchEventRule[] = [];
  public readonly targets: CloudwatchEventTarget[] = [];
  public readonly permissions: LambdaPermission[] = [];
  public readonly bucketSetting?: S3BucketNotification;
  public readonly queuePolicy: SqsQueuePolicy;

  constructor(scope: Construct, id: string, props: EventBridgeTriggerProps) {
    super(scope, id);
    if (props.manageBucketSetting) {
      this.bucketSetting = new S3BucketNotification(this, "bucket-eventbridge", {
        bucket: props.bucketName,
        eventbridge: true,
        dependsOn: props.dependsOn,
      });
    }

    props.rules.forEach((rule, i) => {
      const eventRule = new CloudwatchEventRule(this, `rule-${i}`, {
        name: rule.name,
        description: `S3 events of ${rule.trigger.prefix}*${rule.trigger.suffix} (${rule.trigger.events.join(", ")}) to the checksum indexer.`,
        eventPattern: JSON.stringify(rule.pattern),
      });
      this.rules.push(eventRule);
      // The permission exists before the target, so that no delivery is refused in between.
      const permission = new LambdaPermission(this, `allow-rule-${i}`, {
        statementId: `AllowEventBridgeRule${i}`,
        action: "lambda:InvokeFunction",
        functionName: props.alias.functionName,
        qualifier: props.alias.name,
        principal: "events.amazonaws.com",
        sourceArn: eventRule.arn,
        sourceAccount: props.accountId,
      });
      this.permissions.push(permission);
      this.targets.push(
        new CloudwatchEventTarget(this, `target-${i}`, {
          rule: eventRule.name,
          targetId: "checksum-indexer",
          arn: props.alias.arn,
          deadLetterConfig: { arn: props.deadLetterQueue.arn },
          retryPolicy: { maximumRetryAttempts: props.maxRetryAttempts, maximumEventAgeInSeconds: props.maxEventAgeSeconds },
          dependsOn: [permission],
        }),
      );
    });

    const deadLetters = new DataAwsIamPolicyDocument(this, "dead-letters", {
      statement: [
        {
          sid: "EventBridgeRulesDeadLetter",
          effect: "Allow",
          principals: [{ type: "Service", identifiers: ["events.amazonaws.com"] }],
          actions: ["sqs:SendMessage"],
          resources: [props.deadLetterQueue.arn],
          condition: [{ test: "ArnEquals", variable: "aws:SourceArn", values: this.rules.map((r) => r.arn) }],
        },
      ],
    });
    this.queuePolicy = new SqsQueuePolicy(this, "queue-policy", { queueUrl: props.deadLetterQueue.url, policy: deadLetters.json });
  }
}
