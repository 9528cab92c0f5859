/**
 * Which failures of a write belong to the rows written rather than to the database.
 *
 * A batch of receipts and incoming SMS that fails because of what one row holds would fail the
 * same way every time it is retried: it is split until that row is alone, and the row is parked.
 * A failure of the database itself (connection lost, serialization failure or deadlock
 * 40001/40P01, shutdown 57P01, out of resources 53xxx, connection exceptions 08xxx) passes, so
 * the whole batch is retried as it is; so is anything not known to be about the data (a missing
 * privilege or object, 42xxx, is fixed by a deploy, not by leaving a row out).
 */
import { sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

/**
 * SQLSTATE classes raised by the values of a row: 21 cardinality, 22 data exception (22021 a
 * NUL in text, 22P05 untranslatable character, 22001 too long, ...), 23 integrity constraint,
 * 27 triggered data change, 2F/38/39 errors inside functions and triggers, 44 WITH CHECK OPTION,
 * 54 program limit (an index row too large), P0 raised by PL/pgSQL (a trigger of the operator's).
 */
const ROW_CLASSES = new Set(['21', '22', '23', '27', '2F', '38', '39', '44', '54', 'P0']);

/** True when `err` is about the rows written: splitting the batch can isolate it. */
export function isRowError(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return typeof err.code === 'string' && ROW_CLASSES.has(err.code.slice(0, 2));
  // Thrown by our own code while preparing the rows (decoding, encoding): tied to their data.
  return err instanceof TypeError || err instanceof RangeError;
}

/**
 * A deadlock (40P01) or serialization failure (40001): two transactions wanted the same rows in
 * another order, and Postgres aborted one. Trying that transaction again is the remedy.
 */
export function isTransientConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** The code to record with a parked row: the SQLSTATE, else the error's name. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code) return code;
  return err instanceof Error ? err.name : 'Error';
}

/**
 * Runs `write` inside a savepoint of `tx`. A row error (isRowError) rolls back to the savepoint
 * and is returned, so the transaction goes on with the next row; any other error is thrown.
 */
export async function tryRow<T>(tx: Transaction<Database>, write: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  await sql`savepoint sms_row`.execute(tx);
  try {
    const value = await write();
    await sql`release savepoint sms_row`.execute(tx);
    return { ok: true, value };
  } catch (error) {
    if (!isRowError(error)) throw error;
    await sql`rollback to savepoint sms_row`.execute(tx);
    return { ok: false, error };
  }
}
