/**
 * Group commit: items are queued, and one flush at a time writes everything queued so far in a
 * single transaction. Under load, batches grow on their own (while one flush runs, the next
 * batch accumulates); at low load each item is flushed immediately. No timer-driven latency.
 *
 * Each `add` returns a promise that settles after the batch holding the item has committed, so
 * callers can free a window slot or send deliver_sm_resp only once the item is durable.
 * A failed flush is retried with back-off (the database may be restarting) — results the SMSC
 * already accepted must not be dropped — until it succeeds or `close()` gives up.
 *
 * With `isolate`, a flush that fails because of one item (as `isolate.isItemError` judges the
 * error) is not retried as it is, since it would fail the same way forever: the batch is halved,
 * and each half written (and split again) on its own, until the item is alone. That item is handed
 * to `isolate.park`, which must store it somewhere durable; once it has, the item's promise
 * resolves like a written one. The rest of the batch commits meanwhile.
 */
import { backoffMs } from '../backoff.js';
import { DEFAULT_TIMING } from './timing.js';

export interface GroupCommitOptions<T> {
  flush: (items: T[]) => Promise<void>;
  /** Largest batch written in one transaction. */
  maxBatch?: number;
  onFlushError?: (err: unknown, attempt: number, batchSize: number) => void;
  /** Back-off between retries of a failed flush. */
  retryDelayMs?: (attempt: number) => number;
  isolate?: {
    isItemError(err: unknown): boolean;
    park(item: T, err: unknown): Promise<void>;
  };
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
      while (this.queue.length) await this.commit(this.queue.splice(0, this.maxBatch));
    } finally {
      this.flushing = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Writes `batch` (splitting it around items that fail on their own), retrying other failures. */
  private async commit(batch: Pending<T>[]): Promise<void> {
    const isolate = this.options.isolate;
    let attempt = 0;
    for (;;) {
      let failure: unknown;
      try {
        await this.options.flush(batch.map((p) => p.item));
        for (const p of batch) p.resolve();
        return;
      } catch (err) {
        failure = err;
      }
      if (isolate?.isItemError(failure)) {
        if (batch.length > 1) {
          const half = Math.ceil(batch.length / 2);
          await this.commit(batch.slice(0, half));
          await this.commit(batch.slice(half));
          return;
        }
        const only = batch[0]!;
        try {
          await isolate.park(only.item, failure);
          only.resolve();
          return;
        } catch (err) {
          failure = err; // parking failed (the database went away): retry the item as it is
        }
      }
      attempt++;
      this.options.onFlushError?.(failure, attempt, batch.length);
      if (this.closed && attempt >= 3) {
        for (const p of batch) p.reject(failure);
        return;
      }
      await this.sleep(this.options.retryDelayMs?.(attempt) ?? backoffMs(attempt, DEFAULT_TIMING.flushRetry));
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
