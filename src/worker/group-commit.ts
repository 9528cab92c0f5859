/**
 * Group commit: items are queued, and one flush at a time writes everything queued so far in a
 * single transaction. Under load, batches grow on their own (while one flush runs, the next
 * batch accumulates); at low load each item is flushed immediately. No timer-driven latency.
 *
 * Each `add` returns a promise that settles after the batch holding the item has committed, so
 * callers can free a window slot or send deliver_sm_resp only once the item is durable.
 * A failed flush is retried with back-off (the database may be restarting) — results the SMSC
 * already accepted must not be dropped — until it succeeds or `close()` gives up.
 */
export interface GroupCommitOptions<T> {
  flush: (items: T[]) => Promise<void>;
  /** Largest batch written in one transaction. */
  maxBatch?: number;
  onFlushError?: (err: unknown, attempt: number, batchSize: number) => void;
  /** Back-off between retries of a failed flush. */
  retryDelayMs?: (attempt: number) => number;
}

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ClosedError extends Error {
  constructor() {
    super('group commit closed before the item was written');
    this.name = 'ClosedError';
  }
}

export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private flushing = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private readonly maxBatch: number;

  constructor(private readonly options: GroupCommitOptions<T>) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /** Items queued or being written. */
  get pending(): number {
    return this.queue.length + (this.flushing ? 1 : 0);
  }

  add(item: T): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError());
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) void this.run();
    });
  }

  /** Resolves when nothing is queued or being written. */
  idle(): Promise<void> {
    if (!this.flushing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting items. Waits up to `timeoutMs` for queued items to be written; what is still
   * unwritten after that is rejected with ClosedError.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.idle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      const left = this.queue.splice(0);
      for (const p of left) p.reject(new ClosedError());
      this.wakeRetry?.();
    }
  }

  private async run(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.maxBatch);
        let attempt = 0;
        for (;;) {
          try {
            await this.options.flush(batch.map((p) => p.item));
            for (const p of batch) p.resolve();
            break;
          } catch (err) {
            attempt++;
            this.options.onFlushError?.(err, attempt, batch.length);
            if (this.closed && attempt >= 3) {
              for (const p of batch) p.reject(err);
              break;
            }
            await this.sleep(this.options.retryDelayMs?.(attempt) ?? Math.min(5000, 50 * 2 ** Math.min(attempt, 7)));
          }
        }
      }
    } finally {
      this.flushing = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeRetry = () => {
        clearTimeout(this.retryTimer);
        resolve();
      };
      this.retryTimer = setTimeout(resolve, ms);
    });
  }
}
