/**
 * Reply handlers: the functions apps register with sms_on_inbound, called for the incoming SMS
 * the worker has just stored, in the same transaction (sql/functions/public.sms_inbound_run.sql
 * tells what each call is guarded by). Here: the worker's side of it.
 *
 * - The transaction acts as the worker role while handlers run (SET LOCAL ROLE), which owns
 *   nothing, so a handler that tampers with its context gets an error, not the worker.
 * - The handlers of a batch go in as few statements as their time allows (sms_inbound_run returns
 *   how far it got), each statement in a savepoint. One that fails outside the handlers' own
 *   subtransactions is made again one pair per statement, and a pair that fails alone is written
 *   to sms_handler_error here: the SMS stays stored and the rest goes on.
 * - A statement still running long after its time (a handler that catches the cancellation and
 *   goes on) is ended by terminating its backend: the write fails and the store retries it, one
 *   pair per statement, and the pair that hangs again gets its rule suspended, so the next retry
 *   stores its SMS with an error instead of calling it.
 * - The connection is reset after the transaction (as DISCARD ALL, but keeping cached plans: a
 *   handler may leave prepared statements, cursors, LISTEN or advisory locks in the session):
 *   `withHandlerConnection`.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

export interface HandlerPair {
  inboxId: string;
  ruleId: string;
}

export interface ReplyHandlerOptions {
  /** The database's worker role (its name depends on SMS_ROLE_PREFIX). */
  workerRole: string;
  /** A handler call is cancelled after this long (at most twice this). */
  timeoutMs: number;
  /** Ends the backend `pid` from another connection (pg_terminate_backend). */
  terminate: (pid: number) => Promise<void>;
  /** Suspends a rule from another connection (sms_inbound_suspend), so a retry does not call it. */
  suspend: (ruleId: string, reason: string) => Promise<void>;
  /** Grace after twice the timeout before a statement is ended (default: the timeout, at least 1 s). */
  graceMs?: number;
}

export interface HandlerCalls {
  /** Handler calls made (or recorded as failed without a call: a suspended rule). */
  calls: number;
  failed: number;
}

/**
 * A statement ended by the watchdog: the transaction is lost and must be written again. (The
 * error that reaches the caller may be the failed ROLLBACK's instead: callers learn of it through
 * the `onStuck` callback.)
 */
export class HandlerStuckError extends Error {
  constructor(
    message: string,
    readonly ruleId: string | null,
  ) {
    super(message);
    this.name = 'HandlerStuckError';
  }
}

/** The reply rules each stored SMS matches, in calling order. */
async function matchReplyRules(tx: Transaction<Database>, inboxIds: string[]): Promise<HandlerPair[]> {
  if (!inboxIds.length) return [];
  const { rows } = await sql<{ inbox_id: string; rule_id: string }>`select inbox_id, rule_id from sms_inbound_matches(${inboxIds}::uuid[])`.execute(tx);
  return rows.map((r) => ({ inboxId: r.inbox_id, ruleId: r.rule_id }));
}

/**
 * Calls the reply handlers of the SMS just stored (`inboxIds`, in the order stored) in `tx`.
 * `onePerStatement` makes every pair a statement of its own (after a statement had to be ended).
 */
export async function callReplyHandlers(
  tx: Transaction<Database>,
  inboxIds: string[],
  options: ReplyHandlerOptions,
  onePerStatement = false,
  onStuck?: (ruleId: string | null) => void,
): Promise<HandlerCalls> {
  return callHandlerPairs(tx, await matchReplyRules(tx, inboxIds), options, onePerStatement, onStuck);
}

/**
 * Calls the handlers of `pairs` in `tx`, in order (see the top of this file). `onStuck` hears of
 * a statement the watchdog ended, with the rule it suspended (null when the statement held
 * several calls).
 */
async function callHandlerPairs(
  tx: Transaction<Database>,
  pairs: HandlerPair[],
  options: ReplyHandlerOptions,
  onePerStatement = false,
  onStuck?: (ruleId: string | null) => void,
): Promise<HandlerCalls> {
  const result: HandlerCalls = { calls: 0, failed: 0 };
  if (!pairs.length) return result;
  const { rows } = await sql<{ pid: number }>`
    select pg_backend_pid() as pid, set_config('statement_timeout', ${String(2 * options.timeoutMs)}, true)`.execute(tx);
  const pid = rows[0]!.pid;
  await sql`set local role ${sql.id(options.workerRole)}`.execute(tx);

  let i = 0;
  let single = onePerStatement;
  while (i < pairs.length) {
    const chunk = single ? pairs.slice(i, i + 1) : pairs.slice(i);
    await sql`savepoint sms_reply_handlers`.execute(tx);
    let outcome: { done: number; failed: number } | { error: unknown };
    try {
      outcome = await watched(pid, chunk, options, onStuck, () =>
        sql<{ done: number; failed: number }>`
          select done, failed from sms_inbound_run(${chunk.map((p) => p.inboxId)}::uuid[], ${chunk.map((p) => p.ruleId)}::bigint[], ${options.timeoutMs})`
          .execute(tx)
          .then((r) => r.rows[0]!),
      );
    } catch (error) {
      if (error instanceof HandlerStuckError) throw error;
      outcome = { error };
    }
    if ('error' in outcome) {
      // Failed outside the handlers' own subtransactions (or the connection went: then this
      // throws too, and the store writes the batch again).
      await sql`rollback to savepoint sms_reply_handlers`.execute(tx);
      if (!single) {
        single = true;
        continue;
      }
      await recordFailure(tx, chunk[0]!, outcome.error);
      result.calls++;
      result.failed++;
      i++;
      continue;
    }
    await sql`release savepoint sms_reply_handlers`.execute(tx);
    // done = 0 cannot happen (the first pair is always taken); guard the loop anyway.
    const done = Math.max(1, outcome.done);
    i += done;
    result.calls += done;
    result.failed += outcome.failed;
  }
  return result;
}

/**
 * Runs `statement`; if it is still running 2 × timeout + grace later, its backend is terminated
 * (a handler that caught the cancellation), and, when it held one pair only, that pair's rule is
 * suspended. Throws HandlerStuckError then.
 */
async function watched<T>(
  pid: number,
  chunk: HandlerPair[],
  options: ReplyHandlerOptions,
  onStuck: ((ruleId: string | null) => void) | undefined,
  statement: () => Promise<T>,
): Promise<T> {
  const limitMs = 2 * options.timeoutMs + (options.graceMs ?? Math.max(1000, options.timeoutMs));
  let stuck = false;
  const timer = setTimeout(() => {
    stuck = true;
    void options.terminate(pid).catch(() => {});
  }, limitMs);
  try {
    return await statement();
  } catch (err) {
    if (!stuck) throw err;
    const ruleId = chunk.length === 1 ? chunk[0]!.ruleId : null;
    if (ruleId !== null) {
      await options.suspend(ruleId, `its handler would not stop when cancelled: still running ${limitMs} ms after its call, so the worker ended its session`).catch(() => {});
    }
    onStuck?.(ruleId);
    throw new HandlerStuckError(
      ruleId !== null
        ? `the reply handler of rule ${ruleId} did not stop when cancelled; its session was ended and the rule suspended`
        : `a reply handler did not stop when cancelled; its session was ended (the batch is written again, one handler call per statement)`,
      ruleId,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** A pair whose statement failed on its own: the error is kept with it, as sms_inbound_run keeps a handler's. */
async function recordFailure(tx: Transaction<Database>, pair: HandlerPair, error: unknown): Promise<void> {
  const e = error as { code?: unknown; message?: unknown; where?: unknown };
  const code = typeof e?.code === 'string' ? e.code : 'XX000';
  const message = String(e?.message ?? error).slice(0, 2000);
  const context = typeof e?.where === 'string' ? e.where.slice(0, 2000) : null;
  await sql`
    insert into sms_handler_error as e (inbox_id, rule_id, owner, error_code, error_message, error_context)
    select i.id, ${pair.ruleId}::bigint, i.owner, ${code}, ${message}, ${context}
      from sms_inbox i where i.id = ${pair.inboxId}::uuid and i.owner is not null
    on conflict (inbox_id, rule_id) do update
      set failed_at = now(), error_code = excluded.error_code, error_message = excluded.error_message,
          error_context = excluded.error_context, attempts = e.attempts + 1, replay_requested_at = null`.execute(tx);
}

/**
 * Makes again, one transaction each, the failed handler calls an owner marked with
 * sms_handler_replay (run by the reconcile task, on a connection of the worker's handler pool).
 * Each row is locked while its call runs; the call deletes it when it succeeds, or writes the new
 * error; either way the mark is cleared. Returns the calls made and how many failed again.
 */
export async function replayHandlerErrors(db: Kysely<Database>, options: ReplyHandlerOptions, limit = 1000): Promise<HandlerCalls> {
  const total: HandlerCalls = { calls: 0, failed: 0 };
  for (let n = 0; n < limit; n++) {
    const made = await withHandlerConnection(db, (conn, ran) =>
      conn.transaction().execute(async (tx) => {
        const { rows } = await sql<{ id: string; inbox_id: string; rule_id: string }>`
          select id, inbox_id, rule_id from sms_handler_error
           where replay_requested_at is not null
           order by replay_requested_at, id
           limit 1
           for update skip locked`.execute(tx);
        const row = rows[0];
        if (!row) return null;
        ran();
        const calls = await callHandlerPairs(tx, [{ inboxId: row.inbox_id, ruleId: row.rule_id }], options, true);
        // A call skipped (the SMS is no longer that rule owner's) leaves the row as it was: unmark it.
        await sql`update sms_handler_error set replay_requested_at = null where id = ${row.id}::bigint and replay_requested_at is not null`.execute(tx);
        return calls;
      }),
    );
    if (!made) break;
    total.calls += made.calls;
    total.failed += made.failed;
  }
  return total;
}

/**
 * Runs `work` on one connection of `db` and resets that connection afterwards, if
 * `work` reports that reply handlers may have run in it: whatever a handler left in the session
 * (prepared statements, cursors, LISTEN, advisory locks) goes with it. `db` must be a pool of
 * its own (the reset also drops the prepared statements of whoever else uses the connection).
 */
export async function withHandlerConnection<T>(db: Kysely<Database>, work: (conn: Kysely<Database>, ranHandlers: () => void) => Promise<T>): Promise<T> {
  return db.connection().execute(async (conn) => {
    let ran = false;
    try {
      return await work(conn, () => (ran = true));
    } finally {
      // DISCARD ALL but for the cached plans: those of the worker's own statements are worth
      // keeping, and a handler's plans are no one's concern once it has returned.
      if (ran) await sql.raw('deallocate all; close all; unlisten *; select pg_advisory_unlock_all(); reset all').execute(conn).catch(() => {});
    }
  });
}
