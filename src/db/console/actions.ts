/**
 * What the console's buttons do: one SQL API call per message or number, as the signed-in login,
 * so Postgres decides (EXECUTE grants, and each function's ownership rules). A call the login may
 * not make raises 42501, which the console answers with 403.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Db = Kysely<Database>;

/** sms_retry(id) for each id, in one transaction; id -> true when it was put back in the queue. */
export async function retryMessages(db: Db, ids: string[]): Promise<Map<string, boolean>> {
  return db.transaction().execute(async (tx) => {
    const out = new Map<string, boolean>();
    for (const id of ids) out.set(id, (await sql<{ ok: boolean }>`select public.sms_retry(${id}::uuid) as ok`.execute(tx)).rows[0]!.ok);
    return out;
  });
}

/** sms_cancel(id) for each id, in one transaction; id -> true when it was cancelled. */
export async function cancelMessages(db: Db, ids: string[]): Promise<Map<string, boolean>> {
  return db.transaction().execute(async (tx) => {
    const out = new Map<string, boolean>();
    for (const id of ids) out.set(id, (await sql<{ ok: boolean }>`select public.sms_cancel(${id}::uuid) as ok`.execute(tx)).rows[0]!.ok);
    return out;
  });
}

/** sms_opt_in / sms_opt_out of one number; true when its state changed. */
export async function changeOptOut(db: Db, action: 'opt_in' | 'opt_out', recipient: string): Promise<boolean> {
  const call = action === 'opt_in' ? sql`public.sms_opt_in(${recipient})` : sql`public.sms_opt_out(${recipient})`;
  return (await sql<{ ok: boolean }>`select ${call} as ok`.execute(db)).rows[0]!.ok;
}

/** sms_inbound_replay(id), or of every parked row when id is null; how many rows it marked. */
export async function replayParked(db: Db, id: string | null): Promise<number> {
  return Number((await sql<{ n: number }>`select public.sms_inbound_replay(${id}::bigint) as n`.execute(db)).rows[0]!.n);
}
