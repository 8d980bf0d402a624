/** S3 notification events built exactly as S3 sends them (keys URL-encoded, sequencer, eTag, size). */
import { encodeS3Key } from "../../lambda/event";

export interface EventSpec {
  readonly eventName: string;
  readonly bucket: string;
  readonly key: string;
  readonly sequencer: string;
  readonly size?: number;
  readonly eTag?: string;
  readonly versionId?: string;
}

export function s3Record(spec: EventSpec): any {
  const object: Record<string, unknown> = { key: encodeS3Key(spec.key), sequencer: spec.sequencer };
  if (spec.size !== undefined) object.size = spec.size;
  if (spec.eTag !== undefined) object.eTag = spec.eTag;
  if (spec.versionId !== undefined) object.versionId = spec.versionId;
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: "us-east-1",
    eventTime: "2026-11-24T10:00:00.000Z",
    eventName: spec.eventName,
    userIdentity: { principalId: "AWS:AIDAEXAMPLE" },
    requestParameters: { sourceIPAddress: "127.0.0.1" },
    responseElements: { "x-amz-request-id": "TESTREQUEST", "x-amz-id-2": "test" },
    s3: {
      s3SchemaVersion: "1.0",
      configurationId: "checksum-index-0",
      bucket: { name: spec.bucket, ownerIdentity: { principalId: "A3NL1KOZZKExample" }, arn: `arn:aws:s3:::${spec.bucket}` },
      object,
    },
  };
}

export const s3Event = (...specs: EventSpec[]) => ({ Records: specs.map(s3Record) });
