/**
 * Submit rate limiting, counted in PDUs (a 3-part message takes 3 tokens).
 *
 * `RateLimiter` is the interface the session takes; the worker can plug in an account-wide limiter
 * (e.g. Postgres-backed). `tryAcquire` is an optional synchronous fast path the session uses when
 * present, so an in-process limiter costs no promise per PDU.
 */

export interface RateLimiter {
  /** Resolves when `pdus` PDUs may be sent; rejects with the signal's reason if aborted first. */
  acquire(pdus: number, signal?: AbortSignal): Promise<void>;
  /** Takes `pdus` tokens now if available; never waits. */
  tryAcquire?(pdus: number): boolean;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * A token bucket: `rate` tokens per second, holding at most `burst` (default a tenth of a second's
 * worth, at least 1), so over any one-second window at most rate + burst PDUs go. A request for
 * more than `burst` tokens is granted once the bucket is full and leaves it in debt, which keeps
 * the long-run rate exact. Waiters are served first come, first served.
 */
export class TokenBucket implements RateLimiter {
  private tokens: number;
  private last: number;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  readonly burst: number;

  constructor(
    readonly rate: number,
    burst?: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0)) throw new RangeError('rate must be > 0');
    this.burst = Math.max(1, burst ?? Math.ceil(rate / 10));
    this.tokens = this.burst;
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
  }

  private take(n: number): boolean {
    this.refill();
    if (this.tokens >= Math.min(n, this.burst)) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  tryAcquire(pdus: number): boolean {
    if (this.waiters.length > 0) return false;
    return this.take(pdus);
  }

  acquire(pdus: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.waiters.length === 0 && this.take(pdus)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { n: pdus, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
          this.schedule();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const head = this.waiters[0];
    if (!head) return;
    this.refill();
    const need = Math.min(head.n, this.burst) - this.tokens;
    const waitMs = need <= 0 ? 0 : Math.ceil((need * 1000) / this.rate);
    this.timer = setTimeout(() => this.release(), waitMs);
  }

  private release(): void {
    this.timer = null;
    while (this.waiters.length > 0) {
      const head = this.waiters[0] as Waiter;
      if (!this.take(head.n)) break;
      this.waiters.shift();
      if (head.signal && head.onAbort) head.signal.removeEventListener('abort', head.onAbort);
      head.resolve();
    }
    this.schedule();
  }
}
