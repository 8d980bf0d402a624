/**
 * Turning the local server's object events into what S3 would send, and choosing which ones the stack's
 * delivery routes to the function: the notification's rules, or (delivery "eventbridge") its EventBridge
 * rules, matched on the event as EventBridge receives it. Pure.
 *
 * The local endpoint's events name the key unencoded and carry no sequencer; S3's sequencer only has to
 * order the events of one key; here it is made strictly increasing, also across restarts.
 */
import { encodeS3Key } from "../../lambda/event";
import { bucketArn, eventBridgeFormOf, eventMatchesPattern, matchingRule, type Pipeline } from "../../stacks/pipeline";
import type { ServerObjectEvent } from "./local-endpoint";

/** A strictly increasing sequencer: milliseconds since the epoch, then a counter, in hexadecimal. */
export function sequencerClock(now: () => number = Date.now): () => string {
  let last = 0n;
  return () => {
    let next = BigInt(now()) << 20n;
    if (next <= last) next = last + 1n;
    last = next;
    return next.toString(16).toUpperCase().padStart(18, "0");
  };
}

export interface S3ShapedRecord {
  readonly record: Record<string, any>;
  readonly ruleId: string;
}

const EVENT_NAMES: Record<string, string> = {
  // s3rver says Post for a completed multipart upload (and for browser form uploads, rare with SDKs).
  "ObjectCreated:Post": "ObjectCreated:CompleteMultipartUpload",
};

/**
 * S3's record for one s3rver event, or undefined when the notification would not send it.
 * `eTag` fills in what s3rver leaves out (copies).
 */
export function shapeRecord(
  pipeline: Pipeline,
  raw: ServerObjectEvent["Records"][number],
  sequencer: string,
  eTag?: string,
): S3ShapedRecord | undefined {
  const eventName = EVENT_NAMES[raw.eventName] ?? raw.eventName;
  const bucket = raw.s3.bucket.name;
  const key = raw.s3.object.key;
  const rule = matchingRule(pipeline, bucket, eventName, key);
  if (!rule) return undefined;
  const object: Record<string, unknown> = { key: encodeS3Key(key), sequencer };
  if (raw.s3.object.versionId !== undefined) object.versionId = raw.s3.object.versionId;
  if (eventName.startsWith("ObjectCreated:")) {
    object.size = raw.s3.object.size;
    object.eTag = raw.s3.object.eTag ?? eTag;
  }
  return {
    ruleId: rule.id,
    record: {
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: pipeline.region,
      eventTime: raw.eventTime,
      eventName,
      userIdentity: { principalId: "AWS:LOCAL" },
      requestParameters: { sourceIPAddress: "127.0.0.1" },
      responseElements: { "x-amz-request-id": raw.responseElements?.["x-amz-request-id"] ?? "LOCAL", "x-amz-id-2": "local" },
      s3: {
        s3SchemaVersion: "1.0",
        configurationId: rule.id,
        bucket: { name: bucket, ownerIdentity: { principalId: "LOCAL" }, arn: bucketArn(pipeline.partition, bucket) },
        object,
      },
    },
  };
}

/** One event as the function receives it in the stack's delivery mode, and what it is about. */
export interface DeliveredEvent {
  /** The notification rule's id, or the EventBridge rule's name, that routes it. */
  readonly ruleId: string;
  /** The event handed to the function: an S3 notification ({ Records }) or an EventBridge event. */
  readonly event: Record<string, any>;
  readonly bucket: string;
  /** The key, decoded. */
  readonly key: string;
  readonly eventName: string;
  readonly sequencer: string;
}

/**
 * The event the stack's delivery would hand the function for one server event, or undefined when it would
 * route none. EventBridge mode: the S3 event as EventBridge carries it (key not URL-encoded, fields under
 * `detail`), routed by the stack's EventBridge rule patterns.
 */
export function deliveredEvent(
  pipeline: Pipeline,
  raw: ServerObjectEvent["Records"][number],
  sequencer: string,
  eTag?: string,
): DeliveredEvent | undefined {
  const base = { bucket: raw.s3.bucket.name, key: raw.s3.object.key, sequencer };
  if (pipeline.delivery.mode === "notification") {
    const shaped = shapeRecord(pipeline, raw, sequencer, eTag);
    return shaped && { ...base, ruleId: shaped.ruleId, event: { Records: [shaped.record] }, eventName: shaped.record.eventName };
  }
  const eventName = EVENT_NAMES[raw.eventName] ?? raw.eventName;
  const form = eventBridgeFormOf(eventName);
  if (!form) return undefined;
  const object: Record<string, unknown> = { key: raw.s3.object.key, sequencer };
  if (raw.s3.object.versionId !== undefined) object["version-id"] = raw.s3.object.versionId;
  if (eventName.startsWith("ObjectCreated:")) {
    object.size = raw.s3.object.size;
    object.etag = raw.s3.object.eTag ?? eTag;
  }
  const event = {
    version: "0",
    id: `local-${sequencer}`,
    "detail-type": form.detailType,
    source: "aws.s3",
    account: pipeline.accountId ?? "000000000000",
    time: raw.eventTime.replace(/\.\d{3}Z$/, "Z"),
    region: pipeline.region,
    resources: [bucketArn(pipeline.partition, base.bucket)],
    detail: {
      version: "0",
      bucket: { name: base.bucket },
      object,
      "request-id": raw.responseElements?.["x-amz-request-id"] ?? "LOCAL",
      requester: "local",
      "source-ip-address": "127.0.0.1",
      reason: form.reason,
      ...(form.deletionType ? { "deletion-type": form.deletionType } : {}),
    },
  };
  const rule = pipeline.delivery.eventBridgeRules.find((r) => eventMatchesPattern(r.pattern, event));
  return rule && { ...base, ruleId: rule.name, event, eventName };
}
