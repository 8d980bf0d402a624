import { Fn } from "cdktf";
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
    // jsonencode, not a policy document data source: a data source that depends on the alias is read only
    // at apply whenever the function changes (a new version moves the alias), and the plan would show this
    // whole policy as "known after apply" although the alias's ARN never changes.
    const document = {
      Version: "2012-10-17",
      Statement: batchOperationsStatements(props.pipeline, props.alias.arn).map((s) => ({
        Sid: s.sid,
        Effect: s.effect,
        Action: s.actions,
        Resource: s.resources,
      })),
    };
    this.policy = new IamRolePolicy(this, "policy", { name: "batch-backfill", role: this.role.id, policy: Fn.jsonencode(document) });
  }
}
