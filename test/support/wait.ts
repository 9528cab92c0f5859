/**
 * The one way tests wait: for a condition (`waitFor`) or for an event (`nextEvent`), never for
 * a fixed time. A test that must show something did NOT happen waits for the event that would
 * have carried it (the pump went idle past the due time, the store flushed), then looks.
 */
import type { EventEmitter } from 'node:events';
import type { TypedEmitter } from '../../src/worker/events.js';

export interface WaitOptions {
  /** Fails after this long (default 20 s): a deadline for a test that already failed, not a pace. */
  timeoutMs?: number;
  /** Between two looks at the condition (default 20 ms). */
  everyMs?: number;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

/**
 * Looks at `check` until it returns a value other than undefined/false (which it resolves with),
 * or fails after the timeout saying what it waited for and what it last saw (the last error
 * `check` threw, or its `describe` of the last value).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  options: WaitOptions & { describe?: () => string | Promise<string> } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false && v !== null) return v;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen = lastError ? `: ${(lastError as Error).message}` : options.describe ? `; last seen ${await options.describe()}` : '';
      throw new Error(`timed out after ${options.timeoutMs ?? 20_000} ms waiting for ${what}${seen}`);
    }
    await pause(options.everyMs ?? 20);
  }
}

type Bus<M extends { [K in keyof M]: unknown[] }> = TypedEmitter<M> | EventEmitter;

/**
 * The next `event` on `bus` (a worker's WorkerEvents, an SmppSession, ...) whose arguments pass
 * `accept`, with those arguments. Subscribe before doing what causes it:
 *
 *   const idle = nextEvent(worker.events, 'idle');
 *   pump.kick();
 *   await idle;
 */
export function nextEvent<M extends { [K in keyof M]: unknown[] }, K extends keyof M & string>(
  bus: TypedEmitter<M>,
  event: K,
  accept?: (...args: M[K]) => boolean,
  options?: { timeoutMs?: number },
): Promise<M[K]>;
export function nextEvent(bus: EventEmitter, event: string, accept?: (...args: any[]) => boolean, options?: { timeoutMs?: number }): Promise<any[]>;
export function nextEvent(bus: Bus<any>, event: string, accept: (...args: any[]) => boolean = () => true, options: { timeoutMs?: number } = {}): Promise<unknown[]> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const b = bus as EventEmitter;
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      b.off(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      b.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for the event ${event}`));
    }, timeoutMs);
    b.on(event, listener);
  });
}

/** Counts `event` on `bus` from now on; `.count` and `.until(n)` (resolves once n were seen). */
export function countEvents(bus: { on(event: string, l: (...args: any[]) => void): unknown; off(event: string, l: (...args: any[]) => void): unknown }, event: string, accept: (...args: any[]) => boolean = () => true) {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const listener = (...args: unknown[]) => {
    if (!accept(...args)) return;
    count++;
    for (let i = waiters.length - 1; i >= 0; i--) if (count >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
  };
  bus.on(event, listener);
  return {
    get count() {
      return count;
    },
    until(n: number, timeoutMs = 20_000): Promise<void> {
      if (count >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} × ${event} (saw ${count})`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    stop() {
      bus.off(event, listener);
    },
  };
}

/** Something that runs queries: a pg.Pool or a client. */
interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/**
 * Resolves once `pending` (a statement or transaction another connection runs) has either
 * settled or is waiting for a lock in `db`'s database: what a fixed pause before releasing the
 * lock used to stand for. Pass `pid` to look at that backend only.
 */
export async function blockedOrSettled(db: Queryable, pending: Promise<unknown>, options: { what?: string; pid?: number; timeoutMs?: number } = {}): Promise<void> {
  let settled = false;
  void pending.then(
    () => (settled = true),
    () => (settled = true),
  );
  await waitFor(
    options.what ?? 'the statement to wait for the lock (or to finish)',
    async () => {
      if (settled) return true;
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid() and ($1::int is null or pid = $1)`,
        [options.pid ?? null],
      );
      return rows[0]!.n > 0 || settled;
    },
    { timeoutMs: options.timeoutMs ?? 20_000, everyMs: 10 },
  );
}
