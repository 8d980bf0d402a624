/**
 * Replaying failed events: the local failure log of `npm start`, or the stack's on-failure queue in AWS.
 *
 * Each event goes again to the function (the bundled handler locally, the Lambda alias in AWS) through an
 * EventInvoker; an event leaves the log or the queue only once an invocation of it succeeded.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";

/** Invoking the function with one event failed; the message says why (the function's error, or the call's). */
export class ReplayError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Sends one event to the function; resolves once the function handled it, throws ReplayError otherwise. */
export interface EventInvoker {
  /** What is invoked, for messages (an alias ARN, "the bundled handler"). */
  readonly target: string;
  invoke(event: unknown): Promise<void>;
}

/** The deployed function's alias, invoked synchronously (RequestResponse) so its outcome is known. */
export class LambdaAliasInvoker implements EventInvoker {
  readonly target: string;

  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
    private readonly alias: string,
  ) {
    this.target = `${functionName}:${alias}`;
  }

  async invoke(event: unknown): Promise<void> {
    let answer;
    try {
      answer = await this.lambda.send(
        new InvokeCommand({ FunctionName: this.functionName, Qualifier: this.alias, InvocationType: "RequestResponse", Payload: Buffer.from(JSON.stringify(event)) }),
      );
    } catch (error) {
      throw new ReplayError(`invoking ${this.target} failed: ${(error as Error).name}: ${(error as Error).message}`, { cause: error });
    }
    if (answer.FunctionError) {
      const payload = answer.Payload ? Buffer.from(answer.Payload).toString("utf8").slice(0, 500) : "";
      throw new ReplayError(`${this.target} failed (${answer.FunctionError}): ${payload}`);
    }
  }
}

export interface ReplaySummary {
  /** Events found (log lines or queue messages). */
  found: number;
  replayed: number;
  failed: number;
  /** Entries that hold no event to replay (unreadable), left where they are. */
  unreadable: number;
  dryRun: boolean;
  failures: Array<{ id: string; error: string }>;
}

export interface ReplayOptions {
  readonly dryRun?: boolean;
  readonly onEvent?: (line: string) => void;
}

/** One line about an event: an S3 notification, or an S3 event delivered by EventBridge. */
const describeEvent = (event: unknown): string => {
  const record = (event as { Records?: Array<{ eventName?: string; s3?: { bucket?: { name?: string }; object?: { key?: string } } }> })?.Records?.[0];
  if (record) return `${record.eventName} s3://${record.s3?.bucket?.name}/${record.s3?.object?.key}`;
  const bridged = event as { source?: string; "detail-type"?: string; detail?: { bucket?: { name?: string }; object?: { key?: string } } };
  if (bridged?.source === "aws.s3") return `${bridged["detail-type"]} s3://${bridged.detail?.bucket?.name}/${bridged.detail?.object?.key}`;
  return "(not an S3 event)";
};

/**
 * Replays the events of local mode's failure log (one JSON object a line, with `event`). The log is moved
 * aside first, so lines that local mode appends meanwhile are kept; events that fail again go back into it.
 */
export async function replayFailureLog(file: string, invoker: EventInvoker, options: ReplayOptions = {}): Promise<ReplaySummary> {
  const summary: ReplaySummary = { found: 0, replayed: 0, failed: 0, unreadable: 0, dryRun: options.dryRun ?? false, failures: [] };
  if (!existsSync(file)) return summary;
  const lines = (source: string) => readFileSync(source, "utf8").split("\n").filter((l) => l.trim() !== "");
  if (options.dryRun) {
    for (const [i, line] of lines(file).entries()) {
      try {
        const entry = JSON.parse(line);
        if (!entry.event) throw new Error("no event");
        summary.found++;
        options.onEvent?.(`would replay  ${describeEvent(entry.event)}`);
      } catch {
        summary.unreadable++;
        options.onEvent?.(`unreadable line ${i + 1}`);
      }
    }
    return summary;
  }
  const working = `${file}.replaying-${process.pid}`;
  renameSync(file, working);
  const keep: string[] = [];
  try {
    for (const [i, line] of lines(working).entries()) {
      let entry: { event?: unknown };
      try {
        entry = JSON.parse(line);
        if (!entry.event) throw new Error("no event");
      } catch {
        summary.unreadable++;
        keep.push(line);
        options.onEvent?.(`unreadable line ${i + 1}: kept`);
        continue;
      }
      summary.found++;
      try {
        await invoker.invoke(entry.event);
        summary.replayed++;
        options.onEvent?.(`replayed  ${describeEvent(entry.event)}`);
      } catch (error) {
        summary.failed++;
        summary.failures.push({ id: `line ${i + 1}`, error: (error as Error).message });
        keep.push(JSON.stringify({ ...entry, failedAt: new Date().toISOString(), error: (error as Error).message }));
        options.onEvent?.(`failed    ${describeEvent(entry.event)}: ${(error as Error).message}`);
      }
    }
  } finally {
    if (keep.length > 0) appendFileSync(file, keep.map((l) => l + "\n").join(""));
    rmSync(working, { force: true });
  }
  return summary;
}

/** The original event of an on-failure destination's message (Lambda's invocation record: `requestPayload`). */
export function eventOfFailureMessage(body: string | undefined): unknown {
  const parsed = JSON.parse(body ?? "");
  if (parsed && typeof parsed === "object" && "requestPayload" in parsed) return parsed.requestPayload;
  throw new Error("the message is not a Lambda invocation record (no requestPayload)");
}

export interface QueueReplayOptions extends ReplayOptions {
  /** Stop after this many messages. */
  readonly maxMessages?: number;
  /** How long a received message stays hidden from others while this run holds it, in seconds. @default 300 */
  readonly visibilityTimeoutSeconds?: number;
  /** Empty receives in a row that end the run. @default 2 */
  readonly emptyReceives?: number;
}

/** The URL of a queue given by URL or by name. */
export async function queueUrl(sqs: SQSClient, queue: string): Promise<string> {
  if (/^https?:\/\//.test(queue)) return queue;
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl!;
  } catch (error) {
    throw new ReplayError(`the queue ${queue} cannot be found: ${(error as Error).name}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Redrives the on-failure queue: each message's original event is invoked again; a message is deleted only
 * once its invocation succeeded. Messages that fail again (and, in a dry run, every message) are made
 * visible again at the end of the run, for the next one. Each message is handled at most once a run.
 */
export async function redriveQueue(sqs: SQSClient, url: string, invoker: EventInvoker, options: QueueReplayOptions = {}): Promise<ReplaySummary & { approximate: number }> {
  const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }));
  const summary = {
    found: 0,
    replayed: 0,
    failed: 0,
    unreadable: 0,
    dryRun: options.dryRun ?? false,
    failures: [] as Array<{ id: string; error: string }>,
    approximate: Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0),
  };
  const held: Message[] = [];
  const seen = new Set<string>();
  const max = options.maxMessages ?? Number.POSITIVE_INFINITY;
  let empty = 0;
  try {
    // Bounded: every round either receives a new message, or counts towards the empty receives that end it.
    for (let round = 0; round < 100_000 && summary.found + summary.unreadable < max && empty < (options.emptyReceives ?? 2); round++) {
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: Math.min(10, max - summary.found - summary.unreadable),
          WaitTimeSeconds: 1,
          VisibilityTimeout: options.visibilityTimeoutSeconds ?? 300,
        }),
      );
      const fresh = (received.Messages ?? []).filter((m) => !seen.has(m.MessageId!));
      if (fresh.length === 0) {
        empty++;
        continue;
      }
      empty = 0;
      for (const message of fresh) {
        seen.add(message.MessageId!);
        let event: unknown;
        try {
          event = eventOfFailureMessage(message.Body);
        } catch (error) {
          summary.unreadable++;
          held.push(message);
          options.onEvent?.(`unreadable message ${message.MessageId}: ${(error as Error).message}`);
          continue;
        }
        summary.found++;
        if (options.dryRun) {
          held.push(message);
          options.onEvent?.(`would replay  ${describeEvent(event)}  (message ${message.MessageId})`);
          continue;
        }
        try {
          await invoker.invoke(event);
        } catch (error) {
          summary.failed++;
          summary.failures.push({ id: message.MessageId!, error: (error as Error).message });
          held.push(message);
          options.onEvent?.(`failed    ${describeEvent(event)}: ${(error as Error).message}`);
          continue;
        }
        await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle! }));
        summary.replayed++;
        options.onEvent?.(`replayed  ${describeEvent(event)}  (message ${message.MessageId} deleted)`);
      }
    }
  } finally {
    // What stays in the queue is visible again at once, not after the visibility timeout.
    for (const message of held) {
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 })).catch(() => undefined);
    }
  }
  return summary;
}
