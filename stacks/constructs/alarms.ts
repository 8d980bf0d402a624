import { Construct } from "constructs";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { ConfigurationError, validateIntegerRange } from "../validation";

/** Where the alarms send their notifications. */
export type AlarmTopicProps =
  /** A new SNS topic "<namePrefix>-alarms", created by the stack: subscribe your team to it. */
  | { readonly create: true }
  /** An SNS topic you have (in the same region), such as your on-call team's. */
  | { readonly existingTopicArn: string };

/** Alarms on the failures of the indexer, each sending to the topic (when there is one). */
export interface AlarmsProps {
  /**
   * Create the alarms. They cost a little each month per alarm (4 alarms).
   * @default true: a failed event that nobody notices is an object that is never indexed
   */
  readonly enabled?: boolean;
  /**
   * SNS topic the alarms notify when they fire and when they recover.
   * @default undefined: no action; the alarms are visible in CloudWatch but notify nobody, because a
   *   subscription (an e-mail address, a chat or paging integration) is yours to choose and must be confirmed
   */
  readonly topic?: AlarmTopicProps;
  /**
   * Length in seconds of the period each alarm evaluates (60 or a multiple of 60).
   * @default 300: Lambda and SQS metrics arrive per minute; five minutes smooths their delay
   */
  readonly periodSeconds?: number;
  /**
   * Failed events waiting in the failure queue that raise the alarm.
   * @default 1: every event in the queue is an object the index is missing
   */
  readonly failedEventsThreshold?: number;
  /**
   * Function errors in a period that raise the alarm. Lambda retries failed events (maxRetryAttempts) before
   * they reach the failure queue, so an error is not yet a lost event.
   * @default 1
   */
  readonly errorsThreshold?: number;
  /** Throttled invocations in a period that raise the alarm (the account's or the function's concurrency is exhausted). @default 1 */
  readonly throttlesThreshold?: number;
  /**
   * Events Lambda dropped in a period without running them (too old, retries exhausted, and no destination
   * took them) that raise the alarm.
   * @default 1: a dropped event is an object the index will miss
   */
  readonly droppedEventsThreshold?: number;
}

export interface IndexerAlarmsProps extends AlarmsProps {
  /** Prefix of the alarm and topic names. Required. */
  readonly namePrefix: string;
  /** Name of the function (the metrics' FunctionName dimension). Required. */
  readonly functionName: string;
  /** Name of the failure queue (the metric's QueueName dimension). Required. */
  readonly failureQueueName: string;
  /** Tags of the alarms and the topic. @default {} */
  readonly tags?: Record<string, string>;
}

const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;

/**
 * CloudWatch alarms on what goes wrong with the indexer: failed events in the failure queue, function
 * errors, throttles and dropped asynchronous events. Missing data (no invocation, no message) is "not
 * breaching": an idle pipeline is a healthy one.
 */
export class IndexerAlarms extends Construct {
  public readonly alarms: CloudwatchMetricAlarm[] = [];
  /** The topic the alarms notify, when one was created. */
  public readonly topic?: SnsTopic;
  /** ARN of the topic the alarms notify, if any. */
  public readonly topicArn?: string;

  constructor(scope: Construct, id: string, props: IndexerAlarmsProps) {
    super(scope, id);
    const period = props.periodSeconds ?? 300;
    if (period < 60 || period % 60 !== 0 || period > 86400) {
      throw new ConfigurationError(`alarms.periodSeconds is ${period}: use 60 or a multiple of 60, up to 86400 (one day).`);
    }
    const thresholds = {
      failedEventsThreshold: props.failedEventsThreshold ?? 1,
      errorsThreshold: props.errorsThreshold ?? 1,
      throttlesThreshold: props.throttlesThreshold ?? 1,
      droppedEventsThreshold: props.droppedEventsThreshold ?? 1,
    };
    for (const [name, value] of Object.entries(thresholds)) validateIntegerRange(`alarms.${name}`, value, 1, 1_000_000);

    const topic = props.topic;
    if (topic && "existingTopicArn" in topic) {
      if (!SNS_TOPIC_ARN.test(topic.existingTopicArn)) {
        throw new ConfigurationError(
          `alarms.topic.existingTopicArn "${topic.existingTopicArn}" is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>).`,
        );
      }
      this.topicArn = topic.existingTopicArn;
    } else if (topic?.create) {
      // Not encrypted with a KMS key: CloudWatch can publish to an encrypted topic only with a customer
      // managed key whose policy lets it; alarm messages hold names and numbers, no object data.
      this.topic = new SnsTopic(this, "topic", { name: `${props.namePrefix}-alarms`, tags: props.tags });
      this.topicArn = this.topic.arn;
    }
    const actions = this.topicArn ? [this.topicArn] : [];

    const alarm = (key: string, description: string, metric: { namespace: string; metricName: string; statistic: string; dimensions: Record<string, string> }, threshold: number) => {
      this.alarms.push(
        new CloudwatchMetricAlarm(this, key, {
          alarmName: `${props.namePrefix}-${key}`,
          alarmDescription: description,
          namespace: metric.namespace,
          metricName: metric.metricName,
          statistic: metric.statistic,
          dimensions: metric.dimensions,
          period,
          evaluationPeriods: 1,
          threshold,
          comparisonOperator: "GreaterThanOrEqualToThreshold",
          treatMissingData: "notBreaching",
          alarmActions: actions,
          okActions: actions,
          tags: props.tags,
        }),
      );
    };
    const fn = { FunctionName: props.functionName };
    alarm(
      "failed-events",
      `Events the indexer failed on are waiting in ${props.failureQueueName}: their objects are not indexed. Read them, fix the cause, then backfill.`,
      { namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", statistic: "Maximum", dimensions: { QueueName: props.failureQueueName } },
      thresholds.failedEventsThreshold,
    );
    alarm(
      "errors",
      `${props.functionName} failed invocations (Lambda retries them; see its log group).`,
      { namespace: "AWS/Lambda", metricName: "Errors", statistic: "Sum", dimensions: fn },
      thresholds.errorsThreshold,
    );
    alarm(
      "throttles",
      `${props.functionName} was throttled: its concurrency (or the account's) is exhausted.`,
      { namespace: "AWS/Lambda", metricName: "Throttles", statistic: "Sum", dimensions: fn },
      thresholds.throttlesThreshold,
    );
    alarm(
      "dropped-events",
      `Lambda dropped events for ${props.functionName} without running them: their objects will not be indexed. Backfill them.`,
      { namespace: "AWS/Lambda", metricName: "AsyncEventsDropped", statistic: "Sum", dimensions: fn },
      thresholds.droppedEventsThreshold,
    );
  }
}
