import { Construct } from "constructs";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaAlias } from "@cdktf/provider-aws/lib/lambda-alias";
import { BATCH_OPERATIONS_TRUST_STATEMENT, batchOperationsStatements } from "../iam";
import type { Pipeline, ResolvedBatchOperations } from "../pipeline";

export interface BatchOperationsRoleProps {
  /** The resolved pipeline; its `batchOperations` says the role's name and report prefix. Required. */
  readonly pipeline: Pipeline & { readonly batchOperations: ResolvedBatchOperations };
  /** The alias the jobs invoke. Required. */
  readonly alias: LambdaAlias;
}

/** The role an S3 Batch Operations backfill job assumes (`npm run index -- backfill --batch`). */
export class BatchOperationsRole extends Construct {
  public readonly role: IamRole;
  public readonly policy: IamRolePolicy;

  constructor(scope: Construct, id: string, props: BatchOperationsRoleProps) {
    super(scope, id);
    const trust = new DataAwsIamPolicyDocument(this, "trust", { statement: [BATCH_OPERATIONS_TRUST_STATEMENT] });
    this.role = new IamRole(this, "role", {
      name: props.pipeline.batchOperations.roleName,
      description: "Assumed by S3 Batch Operations to backfill the checksum index: lists the source, invokes the indexer's alias, writes reports.",
      assumeRolePolicy: trust.json,
    });
    const permissions = new DataAwsIamPolicyDocument(this, "permissions", {
      statement: batchOperationsStatements(props.pipeline, props.alias.arn),
    });
    this.policy = new IamRolePolicy(this, "policy", { name: "batch-backfill", role: this.role.id, policy: permissions.json });
  }
}
