/**
 * The Lambda implementation of the continuation's Invoker: the function invokes its own alias
 * asynchronously (InvocationType "Event"), so the next step runs in a new invocation with a full timeout,
 * with Lambda's own retries and failure destination. The role may invoke that alias only (stacks/iam.ts).
 */
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { ContinuationEvent, Invoker } from "./continuation";
import { ContinuationError } from "./errors";

export class LambdaInvoker implements Invoker {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
    private readonly alias: string,
  ) {}

  async invoke(event: ContinuationEvent): Promise<void> {
    const out = await this.lambda.send(
      new InvokeCommand({ FunctionName: this.functionName, Qualifier: this.alias, InvocationType: "Event", Payload: Buffer.from(JSON.stringify(event)) }),
    );
    if (out.StatusCode !== 202) throw new ContinuationError(`Lambda answered ${out.StatusCode} to the asynchronous invocation of ${this.functionName}:${this.alias}`);
  }
}
