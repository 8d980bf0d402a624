/**
 * The continuation's invoker against moto's Lambda API: the function's own alias invoked asynchronously.
 * moto answers 202 to InvocationType "Event" as Lambda does, but runs nothing and checks neither the
 * qualifier nor (here) that the function exists: what went on the wire (path, qualifier, invocation type,
 * payload) is recorded from the SDK's finished request and checked here.
 */
import { CreateAliasCommand, CreateFunctionCommand, LambdaClient, PublishVersionCommand } from "@aws-sdk/client-lambda";
import { CreateRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { zipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { continuationEvent } from "../../lambda/continuation";
import { LambdaInvoker } from "../../lambda/lambda-invoker";
import { startMotoServer, type MotoServer } from "../support/moto-server";

interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string>;
  readonly body: string;
}

let moto: MotoServer;
let lambda: LambdaClient;
const sent: SentRequest[] = [];

beforeAll(async () => {
  moto = await startMotoServer();
  // Without Docker, moto answers invocations without running them.
  const configured = await fetch(`${moto.endpoint}/moto-api/config`, { method: "POST", body: JSON.stringify({ lambda: { use_docker: false } }) });
  expect(configured.status).toBe(201);
  const iam = new IAMClient(moto.clientConfig);
  const role = await iam.send(new CreateRoleCommand({ RoleName: "indexer", AssumeRolePolicyDocument: "{}" }));
  iam.destroy();
  lambda = new LambdaClient(moto.clientConfig);
  const code = zipSync({ "handler.mjs": new TextEncoder().encode("export const handler = async () => 1;") });
  await lambda.send(new CreateFunctionCommand({ FunctionName: "indexer", Role: role.Role!.Arn!, Runtime: "nodejs22.x", Handler: "handler.handler", Code: { ZipFile: code } }));
  const version = await lambda.send(new PublishVersionCommand({ FunctionName: "indexer" }));
  await lambda.send(new CreateAliasCommand({ FunctionName: "indexer", Name: "live", FunctionVersion: version.Version! }));
  lambda.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { method: string; path: string; query: Record<string, unknown>; headers: Record<string, string>; body: unknown };
      sent.push({ method: request.method, path: request.path, query: { ...request.query }, headers: { ...request.headers }, body: Buffer.from(request.body as Uint8Array).toString("utf8") });
      return next(args);
    },
    { step: "finalizeRequest", name: "recordSentRequest" },
  );
}, 60_000);

afterAll(async () => {
  lambda?.destroy();
  await moto?.stop();
});

describe("the function continuing in a new invocation of its own alias", () => {
  it("invokes the alias asynchronously with the continuation event, and Lambda accepts it (202)", async () => {
    sent.length = 0;
    const event = continuationEvent("a".repeat(64), 3);
    await new LambdaInvoker(lambda, "indexer", "live").invoke(event);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ method: "POST", path: "/2015-03-31/functions/indexer/invocations", query: { Qualifier: "live" } });
    expect(sent[0].headers["x-amz-invocation-type"]).toBe("Event");
    expect(JSON.parse(sent[0].body)).toEqual(event);
  });
});
