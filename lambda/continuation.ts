/**
 * Objects larger than one invocation can read: the read stops at a part boundary before the deadline, its
 * checkpoint (offset, pinned version/ETag, S3's stored checksum, the saved digest) is written as a step
 * document in the index bucket, and the function invokes its own alias asynchronously with a small
 * continuation event naming that step. The invocation that finishes the read writes the record, once.
 *
 * Duplicated and retried continuations cannot corrupt anything:
 * - step documents are immutable: step n+1 is written with If-None-Match, so two invocations continuing
 *   step n cannot fork the chain (the loser's work is dropped; every written step is a correct state);
 * - an invocation claims a step before reading (a claim document with a lease until its own deadline,
 *   If-None-Match, taken over with If-Match only once the lease has run out): a duplicate of a step being
 *   read stops at once; the retry of a failed attempt finds the claim released (or its lease over);
 * - the record is written by the indexer's usual conditional writes, so a second completion is a
 *   `duplicate`; the chain's `done` document then stops any late continuation.
 */
import { CONTINUATIONS_FOLDER } from "./contract";
import { createHash } from "node:crypto";
import { ContinuationError } from "./errors";
import type { ObjectChange } from "./event";
import type { DocumentStore, ReadCheckpoint } from "./ports";

/** The event a continuation is invoked with: the chain and the step to continue from. */
export interface ContinuationEvent {
  readonly s3ChecksumIndexContinuation: { readonly version: 1; readonly chain: string; readonly step: number };
}

export function isContinuationEvent(event: unknown): event is ContinuationEvent {
  const c = (event as Partial<ContinuationEvent> | null)?.s3ChecksumIndexContinuation;
  return typeof c === "object" && c !== null && c.version === 1 && typeof c.chain === "string" && /^[0-9a-f]{64}$/.test(c.chain) && Number.isSafeInteger(c.step) && c.step >= 1;
}

export function continuationEvent(chain: string, step: number): ContinuationEvent {
  return { s3ChecksumIndexContinuation: { version: 1, chain, step } };
}

/** The function invoking its own alias asynchronously (Lambda's InvocationType "Event"). */
export interface Invoker {
  invoke(event: ContinuationEvent): Promise<void>;
}

/** One saved step: where the read of `change` stopped. */
export interface StepDocument {
  readonly schemaVersion: 1;
  readonly chain: string;
  readonly step: number;
  readonly change: ObjectChange;
  /** Which full read of the object this is (a checksum mismatch reads it again, up to the indexer's limit). */
  readonly readAttempt: number;
  readonly checkpoint: ReadCheckpoint;
  /** The attempt (Lambda request id) that wrote the step. */
  readonly writtenBy: string;
}

/** Who is reading a step, until when. */
export interface Claim {
  readonly attemptId: string;
  /** Ms since the epoch; 0 once released. */
  readonly leaseUntil: number;
}

/**
 * A chain's id: the object version and event it reads, which full read, and the change's origin when it
 * has one (a Batch Operations job). Deterministic, so that a retried or duplicated S3 event finds the chain
 * its first delivery started, while a re-run job starts its own. Pure.
 */
export function chainId(change: ObjectChange, readAttempt: number): string {
  const identity = [change.bucket, change.key, change.versionId ?? null, change.eTag ?? null, change.sequencer, readAttempt, ...(change.origin ? [change.origin] : [])];
  return createHash("sha256").update(JSON.stringify(identity)).digest("hex");
}

/** Where a chain's documents live, under the index prefix. */
export function continuationKeys(indexPrefix: string, chain: string) {
  const base = `${indexPrefix}${CONTINUATIONS_FOLDER}${chain}/`;
  const n = (step: number) => String(step).padStart(6, "0");
  return {
    step: (step: number) => `${base}${n(step)}.json`,
    claim: (step: number) => `${base}${n(step)}.claim.json`,
    done: `${base}done.json`,
  };
}

/**
 * Whether an attempt may read a step, given the claim found (if any): "claim" (none: write one), "mine"
 * (the same attempt again), "take-over" (the other attempt's lease has run out or was released), "busy"
 * (another attempt is reading it: stop). Pure.
 */
export function claimDecision(existing: Claim | undefined, attemptId: string, now: number): "claim" | "mine" | "take-over" | "busy" {
  if (existing === undefined) return "claim";
  if (existing.attemptId === attemptId) return "mine";
  return existing.leaseUntil <= now ? "take-over" : "busy";
}

const parseJson = <T>(text: string) => JSON.parse(text) as T;

export type ResumeStart =
  | { readonly kind: "run"; readonly doc: StepDocument; readonly release: () => Promise<void> }
  | { readonly kind: "stop"; readonly outcome: "duplicate" | "continued"; readonly reason: string };

/** The continuation documents of one index, and the invoker of the next step. */
export class Continuations {
  constructor(
    private readonly store: DocumentStore,
    private readonly indexPrefix: string,
    private readonly invoker: Invoker,
  ) {}

  /**
   * Saves where a read stopped as step `step` of its chain and invokes the step. A step that exists
   * already was saved by a duplicate (its state is as good): it is invoked again only if no attempt has
   * claimed it, in case its writer stopped before invoking.
   */
  async suspend(change: ObjectChange, readAttempt: number, step: number, checkpoint: ReadCheckpoint, attemptId: string): Promise<string> {
    const chain = chainId(change, readAttempt);
    const keys = continuationKeys(this.indexPrefix, chain);
    const doc: StepDocument = { schemaVersion: 1, chain, step, change, readAttempt, checkpoint, writtenBy: attemptId };
    const written = await this.store.putIfAbsent(keys.step(step), doc);
    if (!written && (await this.store.get(keys.claim(step), parseJson)) !== undefined) {
      return `step ${step} of chain ${chain} was saved and claimed by another attempt`;
    }
    await this.invokeStep(chain, step);
    return `read stopped at byte ${checkpoint.offset} of ${checkpoint.size}: continues as step ${step} of chain ${chain}`;
  }

  /**
   * Before reading an object an S3 event announces: if a chain of that event's first read exists, the read
   * was already started by an earlier delivery of the event. Returns what to do instead of reading again.
   */
  async existing(change: ObjectChange): Promise<{ outcome: "duplicate" | "continued"; reason: string } | undefined> {
    const chain = chainId(change, 1);
    const keys = continuationKeys(this.indexPrefix, chain);
    if ((await this.store.get(keys.done, parseJson)) !== undefined) return { outcome: "duplicate", reason: `chain ${chain} finished and recorded this event` };
    if ((await this.store.get(keys.step(1), parseJson)) === undefined) return undefined;
    if ((await this.store.get(keys.claim(1), parseJson)) === undefined) await this.invokeStep(chain, 1);
    return { outcome: "continued", reason: `an earlier delivery of the event started chain ${chain}` };
  }

  /** Opens a continuation: the chain's step, claimed for `attemptId` until `leaseUntil`, or why to stop. */
  async start(event: ContinuationEvent, attemptId: string, leaseUntil: number, now: number): Promise<ResumeStart> {
    const { chain, step } = event.s3ChecksumIndexContinuation;
    const keys = continuationKeys(this.indexPrefix, chain);
    if ((await this.store.get(keys.done, parseJson)) !== undefined) return { kind: "stop", outcome: "duplicate", reason: `chain ${chain} is finished` };
    const doc = await this.store.get<StepDocument>(keys.step(step), parseJson);
    if (doc === undefined) throw new ContinuationError(`step ${step} of chain ${chain} is missing from the index bucket`);
    if (doc.value.chain !== chain || doc.value.step !== step) throw new ContinuationError(`the document of step ${step} of chain ${chain} names step ${doc.value.step} of ${doc.value.chain}`);
    const claim = await this.store.get<Claim>(keys.claim(step), parseJson);
    const decision = claimDecision(claim?.value, attemptId, now);
    if (decision === "busy") return { kind: "stop", outcome: "duplicate", reason: `step ${step} of chain ${chain} is being read by attempt ${claim!.value.attemptId}` };
    const mine: Claim = { attemptId, leaseUntil };
    const claimed = decision === "claim" ? await this.store.putIfAbsent(keys.claim(step), mine) : await this.store.putIfMatch(keys.claim(step), mine, claim!.etag);
    if (!claimed) return { kind: "stop", outcome: "duplicate", reason: `another attempt claimed step ${step} of chain ${chain} first` };
    // This step was read before (by the attempt now retried): its successor exists; make sure it runs.
    if ((await this.store.get(keys.step(step + 1), parseJson)) !== undefined) {
      if ((await this.store.get(keys.claim(step + 1), parseJson)) === undefined) await this.invokeStep(chain, step + 1);
      return { kind: "stop", outcome: "continued", reason: `step ${step + 1} of chain ${chain} exists already` };
    }
    const release = async () => {
      const current = await this.store.get<Claim>(keys.claim(step), parseJson);
      if (current?.value.attemptId === attemptId) await this.store.putIfMatch(keys.claim(step), { attemptId, leaseUntil: 0 }, current.etag);
    };
    return { kind: "run", doc: doc.value, release };
  }

  /**
   * Marks a chain finished (its record written): later continuations of it stop. Then deletes its steps
   * 1…`lastStep` and their claims (a late duplicate finds `done` first), a few at a time; only the small
   * `done` document stays.
   */
  async finish(change: ObjectChange, readAttempt: number, attemptId: string, lastStep = 0): Promise<void> {
    const chain = chainId(change, readAttempt);
    const keys = continuationKeys(this.indexPrefix, chain);
    await this.store.put(keys.done, { chain, finishedBy: attemptId });
    const doomed = Array.from({ length: lastStep }, (_, i) => [keys.step(i + 1), keys.claim(i + 1)]).flat();
    for (let i = 0; i < doomed.length; i += 16) await Promise.all(doomed.slice(i, i + 16).map((key) => this.store.delete(key)));
    // The first read's chain answers later deliveries of the S3 event (`existing`).
    if (readAttempt !== 1) await this.store.put(continuationKeys(this.indexPrefix, chainId(change, 1)).done, { chain: chainId(change, 1), finishedBy: attemptId, finishedAs: chain });
  }

  private async invokeStep(chain: string, step: number): Promise<void> {
    try {
      await this.invoker.invoke(continuationEvent(chain, step));
    } catch (error) {
      throw new ContinuationError(`invoking step ${step} of chain ${chain} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
