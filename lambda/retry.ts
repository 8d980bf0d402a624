/**
 * The S3 client's retries, per invocation.
 *
 * The SDK's standard strategy keeps one retry quota per client (500 tokens, 5 per retry, 10 per timeout):
 * in a warm Lambda container, a few dozen failed calls empty it and from then on transient errors are not
 * retried at all, for every later invocation. This strategy has the same shape (exponential backoff with
 * full jitter, at most `maxAttempts` per call), but its budget is renewed at the start of every invocation
 * (`startInvocation`), and it never sleeps past the invocation's deadline: a retry that would end too late
 * is refused, so the invocation fails cleanly and Lambda retries the event.
 *
 * It implements the SDK's RetryStrategyV2 structurally (lambda/ imports nothing but the AWS SDK and Node).
 */

export type RetryErrorType = "TRANSIENT" | "THROTTLING" | "SERVER_ERROR" | "CLIENT_ERROR";

export interface RetryPolicy {
  /** Attempts of one call, the first included. @default 5 */
  readonly maxAttempts: number;
  /** Retries one invocation may spend over all its calls. @default 100 */
  readonly budget: number;
  /** Base delay of transient and server errors, ms. @default 100 */
  readonly baseDelayMs: number;
  /** Base delay of throttling (SlowDown, 503), ms. @default 500 */
  readonly throttlingBaseDelayMs: number;
  /** Longest single delay, ms. @default 5000 */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, budget: 100, baseDelayMs: 100, throttlingBaseDelayMs: 500, maxDelayMs: 5000 };

export interface RetryState {
  /** Retries already made by this call. */
  readonly retryCount: number;
  /** Retries left in this invocation's budget. */
  readonly budgetLeft: number;
  /** Milliseconds left before the invocation must stop, or Infinity. */
  readonly msLeft: number;
}

/**
 * Whether to retry a failed call, and after how long: a pure decision. Client errors (4xx other than
 * throttling) are never retried; the others while attempts and budget remain and the delay still ends
 * before the deadline. `random` is in [0, 1).
 */
export function retryDelay(errorType: RetryErrorType, state: RetryState, policy: RetryPolicy, random: number): number | undefined {
  if (errorType === "CLIENT_ERROR") return undefined;
  if (state.retryCount + 1 >= policy.maxAttempts) return undefined;
  if (state.budgetLeft <= 0) return undefined;
  const base = errorType === "THROTTLING" ? policy.throttlingBaseDelayMs : policy.baseDelayMs;
  const delay = Math.floor(random * Math.min(policy.maxDelayMs, base * 2 ** state.retryCount));
  if (delay >= state.msLeft) return undefined;
  return delay;
}

class Token {
  constructor(
    private readonly count: number,
    private readonly delay: number,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  getRetryDelay(): number {
    return this.delay;
  }
  getRetryCost(): number | undefined {
    return undefined;
  }
}

export class InvocationRetryStrategy {
  readonly mode = "standard";
  private budgetLeft: number;
  private deadline = Infinity;

  constructor(
    private readonly policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {
    this.budgetLeft = policy.budget;
  }

  /** A new invocation: a full budget, and the instant (ms since the epoch) by which every call must be done. */
  startInvocation(deadline = Infinity): void {
    this.budgetLeft = this.policy.budget;
    this.deadline = deadline;
  }

  /** Retries left in this invocation. */
  get remainingBudget(): number {
    return this.budgetLeft;
  }

  async acquireInitialRetryToken(_scope: string): Promise<Token> {
    return new Token(0, 0);
  }

  async refreshRetryTokenForRetry(token: Token, errorInfo: { errorType: RetryErrorType }): Promise<Token> {
    const delay = retryDelay(
      errorInfo.errorType,
      { retryCount: token.getRetryCount(), budgetLeft: this.budgetLeft, msLeft: this.deadline - this.now() },
      this.policy,
      this.random(),
    );
    if (delay === undefined) throw new Error("no retry: the error is not retryable, or attempts, budget or time are used up");
    this.budgetLeft--;
    return new Token(token.getRetryCount() + 1, delay);
  }

  recordSuccess(_token: Token): void {}
}
