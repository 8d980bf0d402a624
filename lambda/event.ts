/**
 * Parsing S3 notification events into what the indexer acts on. Pure: no I/O.
 *
 * S3 delivers each event at least once, possibly out of order, and URL-encodes object keys the way HTML
 * forms do (a space is "+", everything else percent-encoded UTF-8).
 */
import { isValidSequencer } from "./sequencer";

export type ChangeKind = "created" | "removed";

/** One record of an event, validated and with its key decoded. */
export interface ObjectChange {
  readonly kind: ChangeKind;
  /** The event type without the "s3:" prefix, e.g. "ObjectCreated:Put". */
  readonly eventName: string;
  readonly eventTime: string;
  readonly bucket: string;
  /** The object key, decoded. */
  readonly key: string;
  /** Version of the object (versioned buckets); for a DeleteMarkerCreated, the marker's version. */
  readonly versionId?: string;
  /** Bytes of the object, for creates. */
  readonly size?: number;
  /** The object's ETag without quotes, for creates. */
  readonly eTag?: string;
  readonly sequencer: string;
  /** S3's id of the request that changed the object. */
  readonly s3RequestId?: string;
}

export interface RejectedRecord {
  readonly index: number;
  readonly reason: string;
}

export type ParsedEvent =
  | { readonly type: "test-event"; readonly bucket?: string }
  | { readonly type: "records"; readonly changes: ObjectChange[]; readonly rejected: RejectedRecord[] };

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

export function parseEvent(event: unknown): ParsedEvent {
  if (isObject(event) && event.Event === "s3:TestEvent") {
    return { type: "test-event", bucket: typeof event.Bucket === "string" ? event.Bucket : undefined };
  }
  if (!isObject(event) || !Array.isArray(event.Records)) {
    return { type: "records", changes: [], rejected: [{ index: -1, reason: "the event has no Records array: not an S3 notification" }] };
  }
  const changes: ObjectChange[] = [];
  const rejected: RejectedRecord[] = [];
  event.Records.forEach((record: unknown, index: number) => {
    try {
      changes.push(parseRecord(record));
    } catch (error) {
      rejected.push({ index, reason: (error as Error).message });
    }
  });
  return { type: "records", changes, rejected };
}

export function parseRecord(record: unknown): ObjectChange {
  if (!isObject(record)) throw new Error("the record is not an object");
  if (record.eventSource !== "aws:s3") throw new Error(`the record comes from "${record.eventSource}", not from aws:s3`);
  const eventName = record.eventName;
  if (typeof eventName !== "string") throw new Error("the record has no eventName");
  const kind: ChangeKind | undefined = eventName.startsWith("ObjectCreated:")
    ? "created"
    : eventName.startsWith("ObjectRemoved:")
      ? "removed"
      : undefined;
  if (!kind) throw new Error(`the event ${eventName} is neither ObjectCreated nor ObjectRemoved`);
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
