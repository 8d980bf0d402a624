/**
 * Turning s3rver's object events into what S3 would send, and choosing which ones the notification
 * routes to the function. Pure.
 *
 * The local endpoint's events name the key unencoded and carry no sequencer; S3's sequencer only has to
 * order the events of one key; here it is made strictly increasing, also across restarts.
 */
import { encodeS3Key } from "../../lambda/event";
import { bucketArn, matchingRule, type Pipeline } from "../../stacks/pipeline";
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
