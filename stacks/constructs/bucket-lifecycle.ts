import { Construct } from "constructs";
import type { ITerraformDependable } from "cdktf";
import {
  S3BucketLifecycleConfiguration,
  type S3BucketLifecycleConfigurationRule,
} from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { validateIntegerRange } from "../validation";

/** The lifecycle rules of the stack's buckets. */
export interface LifecycleProps {
  /**
   * Days after which an incomplete multipart upload is aborted and its parts deleted, on the source and the
   * index bucket (parts of an upload that never completes are billed but invisible). 1–365.
   * @default 7: a week is ample for any upload to finish, and a failed one stops costing after it
   */
  readonly abortIncompleteMultipartUploadDays?: number;
  /**
   * Days a replaced or deleted version of an index record is kept in a versioned index bucket. 1–3650.
   * @default 30: a month to recover from a bad write; after that a superseded record is only cost (the
   *   source's versions, your data, are never expired by the stack)
   */
  readonly noncurrentIndexVersionDays?: number;
  /**
   * Days after which the index bucket's continuation state expires (`<index prefix>continuations/`: the
   * step documents of reads that failed for good, and each finished chain's small `done` marker). 1–3650.
   * @default 15: one day longer than the failure queue keeps a failed continuation (14 days at most), so a
   *   continuation replayed from it still finds its step; S3 stops redelivering an event within hours
   */
  readonly continuationStateDays?: number;
}

export interface BucketLifecycleProps {
  /** The bucket's id (name), as a reference so the rules are written after the bucket exists. Required. */
  readonly bucket: string;
  /**
   * Days after which S3 aborts a multipart upload that was started and never completed, and deletes its
   * parts (which are stored, and billed, but invisible in a listing). 1–365.
   * @default 7: a week is ample for any upload to finish, and a failed one stops costing after it
   */
  readonly abortIncompleteMultipartUploadDays?: number;
  /**
   * Days after which S3 deletes an object version once a newer one replaced it (only matters while the
   * bucket is, or was, versioned). 1–3650, or undefined to keep every version.
   * @default undefined: versions are kept (set it for the index: see IndexBucketProps.noncurrentVersionExpirationDays)
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Objects under this prefix expire after this many days (the index's continuation state). 1–3650.
   * @default undefined: nothing expires
   */
  readonly expirePrefix?: { readonly prefix: string; readonly days: number };
  /** Resources the rules must wait for (the bucket's versioning configuration). @default [] */
  readonly dependsOn?: ITerraformDependable[];
}

/**
 * The lifecycle of a bucket: incomplete multipart uploads are aborted, and (optionally) replaced versions
 * expire. One `aws_s3_bucket_lifecycle_configuration` per bucket: S3 keeps one configuration per bucket and
 * the resource owns all of it.
 */
export class BucketLifecycle extends Construct {
  public readonly configuration: S3BucketLifecycleConfiguration;
  public readonly abortIncompleteMultipartUploadDays: number;
  public readonly noncurrentVersionExpirationDays?: number;

  constructor(scope: Construct, id: string, props: BucketLifecycleProps) {
    super(scope, id);
    this.abortIncompleteMultipartUploadDays = props.abortIncompleteMultipartUploadDays ?? 7;
    this.noncurrentVersionExpirationDays = props.noncurrentVersionExpirationDays;
    validateIntegerRange(`${id}: abortIncompleteMultipartUploadDays`, this.abortIncompleteMultipartUploadDays, 1, 365, "days");
    if (this.noncurrentVersionExpirationDays !== undefined) {
      validateIntegerRange(`${id}: noncurrentVersionExpirationDays`, this.noncurrentVersionExpirationDays, 1, 3650, "days");
    }

    // An empty filter: every object of the bucket (the provider's way to say so without a deprecated prefix).
    const rules: S3BucketLifecycleConfigurationRule[] = [
      {
        id: "abort-incomplete-multipart-uploads",
        status: "Enabled",
        filter: [{}],
        abortIncompleteMultipartUpload: [{ daysAfterInitiation: this.abortIncompleteMultipartUploadDays }],
      },
    ];
    if (this.noncurrentVersionExpirationDays !== undefined) {
      rules.push({
        id: "expire-noncurrent-versions",
        status: "Enabled",
        filter: [{}],
        noncurrentVersionExpiration: [{ noncurrentDays: this.noncurrentVersionExpirationDays }],
      });
    }
    if (props.expirePrefix !== undefined) {
      validateIntegerRange(`${id}: expirePrefix.days`, props.expirePrefix.days, 1, 3650, "days");
      rules.push({
        id: "expire-continuation-state",
        status: "Enabled",
        filter: [{ prefix: props.expirePrefix.prefix }],
        expiration: [{ days: props.expirePrefix.days }],
      });
    }
    this.configuration = new S3BucketLifecycleConfiguration(this, "rules", {
      bucket: props.bucket,
      rule: rules,
      dependsOn: props.dependsOn,
    });
  }
}
