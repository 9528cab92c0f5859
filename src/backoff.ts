/**
 * The one back-off of sms-outbox: `baseMs · 2^step`, capped at `maxMs`, then spread by a factor
 * drawn from `jitter` so that failures which came together do not come back together. Each user
 * keeps its own numbers:
 *
 * - a message's next attempt after a transient error (src/worker/retry-policy.ts);
 * - the SMPP session's pause while the SMSC throttles, and its reconnects (src/smpp/);
 * - the wake-up LISTEN connection's reconnects and a failed group-commit flush (src/worker/).
 */
export interface BackoffPolicy {
  /** The delay of step 0. */
  baseMs: number;
  /** Cap of the exponential part (the jitter applies after it). */
  maxMs: number;
  /** The factor range the delay is multiplied by; [1, 1]: no jitter. */
  jitter: readonly [low: number, high: number];
}

/** The delay before retry number `step` (0-based): exponential, capped, jittered, whole milliseconds. */
export function backoffMs(step: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(0, step), 30));
  const [low, high] = policy.jitter;
  return Math.round(exponential * (low === high ? low : low + (high - low) * random()));
}

/**
 * Reconnect delays as a sequence: the back-off above from twice `minMs` with "equal jitter"
 * (each delay between half and all of the exponential value), never below `minMs` nor above
 * `maxMs`, so a fleet of clients that lost the SMSC at the same moment does not come back in
 * lock-step. `reset()` after a connection that held starts again from the shortest delay.
 */
export class Backoff {
  attempt = 0;
  private readonly policy: BackoffPolicy;

  constructor(
    private readonly minMs: number,
    maxMs: number,
    private readonly random: () => number = Math.random,
  ) {
    this.policy = { baseMs: 2 * minMs, maxMs, jitter: [0.5, 1] };
  }

  next(): number {
    const delay = backoffMs(this.attempt, this.policy, this.random);
    this.attempt++;
    return Math.max(this.minMs, delay);
  }

  reset(): void {
    this.attempt = 0;
  }
}
