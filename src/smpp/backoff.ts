/**
 * Reconnect delays: exponential back-off with "decorrelated jitter" (each delay drawn between the
 * minimum and three times the previous one, capped), so a fleet of clients that lost the SMSC at
 * the same moment does not come back in lock-step, and one client backs off quickly to the cap.
 */
export class Backoff {
  private previous: number;
  attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {
    this.previous = minMs;
  }

  next(): number {
    this.attempt++;
    const high = Math.min(this.maxMs, Math.max(this.minMs, this.previous * 3));
    const delay = Math.min(this.maxMs, this.minMs + this.random() * (high - this.minMs));
    this.previous = delay;
    return Math.round(delay);
  }

  reset(): void {
    this.previous = this.minMs;
    this.attempt = 0;
  }
}
