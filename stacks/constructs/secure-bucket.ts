import { Construct } from "constructs";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { bucketArn } from "../pipeline";

export interface SecureBucketProps {
  /** Globally unique name of the bucket, already checked (resolvePipeline). Required. */
  readonly bucketName: string;
  /** AWS partition, for the bucket's ARN in its policy. @default "aws" */
  readonly partition?: string;
  /** Keep every version of every object. @default false */
  readonly versioned?: boolean;
  /**
   * ARN of a customer managed KMS key for SSE-KMS (with an S3 Bucket Key, which cuts KMS requests).
   * @default undefined: SSE-S3 (AES256), which needs no KMS permissions
   */
  readonly kmsKeyArn?: string;
  /**
   * Let `terraform destroy` delete a bucket that still holds objects.
   * @default false: a destroy fails rather than deleting data
   */
  readonly forceDestroy?: boolean;
  /** Tags of the bucket. @default {} (the provider's default tags still apply) */
  readonly tags?: Record<string, string>;
}

/**
 * A private, encrypted, TLS-only bucket: public access fully blocked, ACLs disabled (owner enforced),
 * server-side encryption by default, and a policy that denies every request not made over TLS.
 */
export class SecureBucket extends Construct {
  public readonly bucket: S3Bucket;
  /** Name of the bucket (a Terraform reference, so dependants are ordered after it). */
  public readonly bucketName: string;
  public readonly bucketArn: string;
  /** Whether object versions are kept: the function then reads exact versions. */
  public readonly versioned: boolean;
  public readonly kmsKeyArn?: string;
  public readonly policy: S3BucketPolicy;
  /** The versioning configuration, only while versioning is on. */
  public readonly versioning?: S3BucketVersioningA;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    this.versioned = props.versioned ?? false;
    this.kmsKeyArn = props.kmsKeyArn;

    this.bucket = new S3Bucket(this, "bucket", {
      bucket: props.bucketName,
      forceDestroy: props.forceDestroy ?? false,
      tags: props.tags,
    });
    this.bucketName = this.bucket.bucket;
    this.bucketArn = this.bucket.arn;

    new S3BucketPublicAccessBlock(this, "public-access-block", {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });

    new S3BucketOwnershipControls(this, "ownership", {
      bucket: this.bucket.id,
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });

    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: this.bucket.id,
      rule: [
        props.kmsKeyArn
          ? {
              applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: props.kmsKeyArn },
              bucketKeyEnabled: true,
            }
          : { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
      ],
    });

    // Versioning is a resource only while it is on. S3 knows "Enabled" and "Suspended"; the provider's
    // "Disabled" is accepted only for a bucket that never had versioning, and is refused on the way back from
    // "Enabled" ("cannot be updated from 'Enabled' to 'Disabled'"). Without the resource a new bucket stays
    // unversioned (never "Suspended" for nothing), and turning versioning off destroys the resource, which
    // the provider does by suspending versioning: the objects' versions stay, new writes get the null version.
    this.versioning = this.versioned
      ? new S3BucketVersioningA(this, "versioning", {
          bucket: this.bucket.id,
          versioningConfiguration: { status: "Enabled" },
        })
      : undefined;

    const arn = bucketArn(props.partition ?? "aws", props.bucketName);
    const tlsOnly = new DataAwsIamPolicyDocument(this, "tls-only", {
      statement: [
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          principals: [{ type: "*", identifiers: ["*"] }],
          actions: ["s3:*"],
          // From the name, not the resource, so that the plan shows the policy whole.
          resources: [arn, `${arn}/*`],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
      ],
    });
    this.policy = new S3BucketPolicy(this, "policy", { bucket: this.bucket.id, policy: tlsOnly.json });
  }
}
