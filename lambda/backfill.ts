/**
 * Changes for objects that existed before the notification, or whose events were missed: indexed by the
 * same code as a real event, with the lowest sequencer there is, so that a record written from any real
 * event of the key always wins over a backfilled one, and a backfill never undoes a later change. Pure.
 */
import type { ObjectChange } from "./event";

/** The event name of a backfilled record: no S3 event has it. */
export const BACKFILL_EVENT_NAME = "ObjectCreated:Backfill";

/** Lower than every sequencer S3 writes (sequencers compare as zero-padded hexadecimal). */
export const BACKFILL_SEQUENCER = "0";

export interface BackfillTarget {
  readonly bucket: string;
  readonly key: string;
  /** Index this version (versioned buckets); else the object as it is when read. */
  readonly versionId?: string;
  /** Read only these bytes (ETag without quotes); else whatever the key holds when read. */
  readonly eTag?: string;
  readonly size?: number;
  readonly lastModified?: Date;
}

/** A backfill change; `origin` names what asked for it (a Batch Operations job; see ObjectChange.origin). */
export function backfillChange(target: BackfillTarget, now: Date = new Date(), origin?: string): ObjectChange {
  return {
    ...(origin !== undefined ? { origin } : {}),
    kind: "created",
    eventName: BACKFILL_EVENT_NAME,
    eventTime: (target.lastModified ?? now).toISOString(),
    bucket: target.bucket,
    key: target.key,
    versionId: target.versionId,
    size: target.size,
    eTag: target.eTag,
    sequencer: BACKFILL_SEQUENCER,
  };
}
