/**
 * Parsing S3 notification events into what the indexer acts on. Pure: no I/O.
 *
 * S3 delivers each event at least once, possibly out of order, and URL-encodes object keys the way HTML
 * forms do (a space is "+", everything else percent-encoded UTF-8).
 */
import { isValidSequencer } from "./sequencer";

export type ChangeKind = "created" | "removed";

/**
 * What a removal did: "delete" removed the object (unversioned) or one version of it (with a version id);
 * "delete-marker" hid every version behind a new delete marker (versioned buckets).
 */
export type RemovalKind = "delete" | "delete-marker";

/**
 * The event types the function handles, without the "s3:" prefix: creates, removals, and lifecycle
 * expirations, which are removals done by S3 itself.
 */
export const REMOVAL_EVENTS: Readonly<Record<string, RemovalKind>> = {
  "ObjectRemoved:Delete": "delete",
  "ObjectRemoved:DeleteMarkerCreated": "delete-marker",
  "LifecycleExpiration:Delete": "delete",
  "LifecycleExpiration:DeleteMarkerCreated": "delete-marker",
};

/** One record of an event, validated and with its key decoded. */
export interface ObjectChange {
  readonly kind: ChangeKind;
  /** The event type without the "s3:" prefix, e.g. "ObjectCreated:Put". */
  readonly eventName: string;
  readonly eventTime: string;
  readonly bucket: string;
  /** The object key, decoded. */
  readonly key: string;
  /** For removals: what the removal did. */
  readonly removal?: RemovalKind;
  /** Version of the object (versioned buckets); for a DeleteMarkerCreated, the marker's version. */
  readonly versionId?: string;
  /** Bytes of the object, for creates. */
  readonly size?: number;
  /** The object's ETag without quotes, for creates. */
  readonly eTag?: string;
  readonly sequencer: string;
  /** S3's id of the request that changed the object. */
  readonly s3RequestId?: string;
  /**
   * What asked for a change that no S3 event announced, e.g. "batch job <id>": part of a continuation
   * chain's identity, so that a re-run of a Batch Operations job starts new chains instead of finding the
   * ones an earlier run left. Absent for S3 events.
   */
  readonly origin?: string;
}

export interface RejectedRecord {
  /** Position of the record in the event (-1: the event itself); wrapped records add their inner path to `path`. */
  readonly index: number;
  /** Where the record was found, e.g. "Records[0]" or "Records[0] (SQS body) > Records[1]". */
  readonly path?: string;
  readonly reason: string;
}

export type ParsedEvent =
  | { readonly type: "test-event"; readonly bucket?: string }
  | { readonly type: "records"; readonly changes: ObjectChange[]; readonly rejected: RejectedRecord[]; readonly testEvents?: number };

/** Maximum length of an S3 key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** Decodes a key as S3 encodes it in events: "+" is a space, then percent-decoding of UTF-8. */
export function decodeS3Key(encoded: string): string {
  let key: string;
  try {
    key = decodeURIComponent(encoded.replace(/\+/g, " "));
  } catch {
    throw new Error(`the key "${encoded}" is not valid URL encoding`);
  }
  if (key.length === 0) throw new Error("the key is empty");
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    throw new Error(`the key is ${Buffer.byteLength(key, "utf8")} bytes long, S3 keys are at most ${MAX_KEY_BYTES}`);
  }
  return key;
}

/** The inverse of decodeS3Key: how S3 writes a key into an event ("/" stays as it is). */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, "/").replace(/%20/g, "+").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Parses an event as Lambda receives it: S3's own notification, or S3 notifications (and EventBridge S3
 * events) wrapped by SQS, SNS, SNS inside SQS, or EventBridge. Every wrapped record is unwrapped and parsed;
 * a record that cannot be is rejected, never silently dropped (the handler then fails the invocation).
 */
export function parseEvent(event: unknown): ParsedEvent {
  if (isTestEvent(event)) {
    return { type: "test-event", bucket: typeof event.Bucket === "string" ? event.Bucket : undefined };
  }
  const changes: ObjectChange[] = [];
  const rejected: RejectedRecord[] = [];
  let testEvents = 0;
  const visit = (value: unknown, index: number, path: string, depth: number): void => {
    try {
      if (depth > 4) throw new Error("the event is wrapped more than 4 levels deep");
      if (isTestEvent(value)) {
        testEvents++;
        return;
      }
      if (isObject(value) && Array.isArray(value.Records)) {
        value.Records.forEach((record: unknown, i: number) =>
          visit(record, index === -1 ? i : index, `${path}${path ? " > " : ""}Records[${i}]`, depth + 1),
        );
        return;
      }
      if (isObject(value) && value.eventSource === "aws:sqs") {
        visit(parseJson(value.body, "the SQS message body"), index, `${path} (SQS body)`, depth + 1);
        return;
      }
      if (isObject(value) && value.EventSource === "aws:sns" && isObject(value.Sns)) {
        visit(parseJson(value.Sns.Message, "the SNS message"), index, `${path} (SNS message)`, depth + 1);
        return;
      }
      if (isObject(value) && value.Type === "Notification" && typeof value.Message === "string") {
        visit(parseJson(value.Message, "the SNS message"), index, `${path} (SNS message)`, depth + 1);
        return;
      }
      if (isObject(value) && value.source === "aws.s3" && typeof value["detail-type"] === "string") {
        changes.push(parseEventBridgeEvent(value));
        return;
      }
      if (depth === 0) throw new Error("the event has no Records array: not an S3 notification");
      changes.push(parseRecord(value));
    } catch (error) {
      rejected.push({ index, path: path || undefined, reason: (error as Error).message });
    }
  };
  visit(event, -1, "", 0);
  return { type: "records", changes, rejected, ...(testEvents > 0 ? { testEvents } : {}) };
}

function isTestEvent(value: unknown): value is { Event: string; Bucket?: unknown } {
  return isObject(value) && value.Event === "s3:TestEvent";
}

function parseJson(text: unknown, what: string): unknown {
  if (typeof text !== "string") throw new Error(`${what} is not a string`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not JSON`);
  }
}

/**
 * An S3 event delivered by EventBridge ("Object Created", "Object Deleted"), as the ObjectChange the
 * notification would have carried. EventBridge does not URL-encode keys.
 */
export function parseEventBridgeEvent(event: Record<string, any>): ObjectChange {
  const detail = event.detail;
  if (!isObject(detail) || !isObject(detail.bucket) || !isObject(detail.object)) throw new Error("the EventBridge event has no detail.bucket or detail.object");
  const type = event["detail-type"];
  const reason = typeof detail.reason === "string" ? detail.reason : "";
  let eventName: string;
  if (type === "Object Created") {
    const created: Record<string, string> = { PutObject: "Put", CopyObject: "Copy", CompleteMultipartUpload: "CompleteMultipartUpload", "POST Object": "Post" };
    eventName = `ObjectCreated:${created[reason] ?? "Put"}`;
  } else if (type === "Object Deleted") {
    const marker = detail["deletion-type"] === "Delete Marker Created";
    eventName = `${reason === "Lifecycle Expiration" ? "LifecycleExpiration" : "ObjectRemoved"}:${marker ? "DeleteMarkerCreated" : "Delete"}`;
  } else {
    throw new Error(`the EventBridge event "${type}" is neither Object Created nor Object Deleted`);
  }
  const object = detail.object;
  return parseRecord({
    eventSource: "aws:s3",
    eventName,
    eventTime: event.time,
    responseElements: { "x-amz-request-id": detail["request-id"] },
    s3: {
      bucket: { name: detail.bucket.name },
      object: {
        key: typeof object.key === "string" ? encodeS3Key(object.key) : object.key,
        size: object.size,
        eTag: object.etag,
        versionId: object["version-id"],
        sequencer: object.sequencer,
      },
    },
  });
}

export function parseRecord(record: unknown): ObjectChange {
  if (!isObject(record)) throw new Error("the record is not an object");
  if (record.eventSource !== "aws:s3") throw new Error(`the record comes from "${record.eventSource}", not from aws:s3`);
  const eventName = record.eventName;
  if (typeof eventName !== "string") throw new Error("the record has no eventName");
  const removal = REMOVAL_EVENTS[eventName];
  const kind: ChangeKind | undefined = eventName.startsWith("ObjectCreated:") ? "created" : removal ? "removed" : undefined;
  if (!kind) throw new Error(`the event ${eventName} is neither ObjectCreated, ObjectRemoved nor LifecycleExpiration`);
  const s3 = record.s3;
  if (!isObject(s3) || !isObject(s3.bucket) || !isObject(s3.object)) throw new Error("the record has no s3.bucket or s3.object");
  const bucket = s3.bucket.name;
  if (typeof bucket !== "string" || bucket === "") throw new Error("the record has no bucket name");
  const object = s3.object;
  if (typeof object.key !== "string") throw new Error("the record has no object key");
  const key = decodeS3Key(object.key);
  if (!isValidSequencer(object.sequencer)) throw new Error(`the record has no valid sequencer (got ${JSON.stringify(object.sequencer)})`);
  const versionId = typeof object.versionId === "string" && object.versionId !== "" ? object.versionId : undefined;
  let size: number | undefined;
  let eTag: string | undefined;
  if (kind === "created") {
    size = typeof object.size === "string" ? Number(object.size) : object.size;
    if (!Number.isSafeInteger(size) || (size as number) < 0) throw new Error(`the record has no valid object size (got ${JSON.stringify(object.size)})`);
    if (typeof object.eTag !== "string" || object.eTag === "") throw new Error("the record has no eTag");
    eTag = object.eTag.replace(/^"|"$/g, "");
  }
  const eventTime = typeof record.eventTime === "string" ? record.eventTime : "";
  const s3RequestId = isObject(record.responseElements) ? record.responseElements["x-amz-request-id"] : undefined;
  return {
    kind,
    ...(removal ? { removal } : {}),
    eventName,
    eventTime,
    bucket,
    key,
    versionId,
    size,
    eTag,
    sequencer: object.sequencer,
    s3RequestId: typeof s3RequestId === "string" ? s3RequestId : undefined,
  };
}
