/**
 * The console's smaller lists, each through the login's grants: opt-outs (sms_opt_out and its
 * log), parked incoming traffic (sms_inbound_parked, without the PDU bytes), and phone sign-in
 * (sms_auth_hook_refusals(), sms_auth_code: never a code, the table holds none).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Db = Kysely<Database>;

export interface OptOutRow {
  recipient: string;
  optedOutAt: Date;
  source: string;
  keyword: string | null;
  inboxId: string | null;
  actor: string | null;
}

/** Opted-out numbers, latest first; one number when `recipient` is given. */
export async function listOptOuts(db: Db, options: { recipient?: string; limit: number; before?: { at: Date; recipient: string } }): Promise<OptOutRow[]> {
  let q = db.selectFrom('sms_opt_out').select(['recipient', 'opted_out_at', 'source', 'keyword', 'inbox_id', 'actor']);
  if (options.recipient) q = q.where('recipient', '=', options.recipient);
  if (options.before) q = q.where(sql<boolean>`(opted_out_at, recipient) < (${options.before.at}, ${options.before.recipient})`);
  const rows = await q.orderBy('opted_out_at', 'desc').orderBy('recipient', 'desc').limit(options.limit).execute();
  return rows.map((r) => ({ recipient: r.recipient, optedOutAt: r.opted_out_at, source: r.source, keyword: r.keyword, inboxId: r.inbox_id, actor: r.actor }));
}

export interface OptOutLogRow {
  at: Date;
  recipient: string;
  action: string;
  source: string;
  keyword: string | null;
  actor: string | null;
  changed: boolean;
}

/** The latest changes (of one number, when given), newest first. */
export async function optOutLog(db: Db, options: { recipient?: string; limit: number }): Promise<OptOutLogRow[]> {
  let q = db.selectFrom('sms_opt_out_log').select(['at', 'recipient', 'action', 'source', 'keyword', 'actor', 'changed']);
  if (options.recipient) q = q.where('recipient', '=', options.recipient);
  return (await q.orderBy('id', 'desc').limit(options.limit).execute()).map((r) => ({ ...r }));
}

export async function optOutStats(db: Db): Promise<Record<string, number>> {
  const { rows } = await sql<Record<string, string>>`select * from public.sms_opt_out_stats`.execute(db);
  return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
}

export interface ParkedRow {
  id: string;
  parkedAt: Date;
  kind: string;
  sender: string | null;
  recipient: string | null;
  errorCode: string;
  errorMessage: string;
  attempts: number;
  lastAttemptAt: Date;
  replayRequestedAt: Date | null;
  bytes: number;
}

export async function listParked(db: Db, limit: number): Promise<ParkedRow[]> {
  const rows = await db
    .selectFrom('sms_inbound_parked')
    .select([
      'id',
      'parked_at',
      'kind',
      'sender',
      'recipient',
      'error_code',
      'error_message',
      'attempts',
      'last_attempt_at',
      'replay_requested_at',
      sql<number>`coalesce(octet_length(pdu), (select sum(octet_length(p)) from unnest(part_payloads) p), 0)::int`.as('bytes'),
    ])
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: String(r.id),
    parkedAt: r.parked_at,
    kind: r.kind,
    sender: r.sender,
    recipient: r.recipient,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    attempts: r.attempts,
    lastAttemptAt: r.last_attempt_at,
    replayRequestedAt: r.replay_requested_at,
    bytes: Number(r.bytes),
  }));
}

/** sms_auth_hook_refusals(): the hook's refusals by reason since install. */
export async function signInRefusals(db: Db): Promise<{ reason: string; refused: number }[]> {
  const { rows } = await sql<{ reason: string; refused: string }>`select reason, refusals as refused from public.sms_auth_hook_refusals()`.execute(db);
  return rows.map((r) => ({ reason: r.reason, refused: Number(r.refused) }));
}

export interface SignInCodeRow {
  outboxId: string;
  createdAt: Date;
  userId: string | null;
  phone: string;
  smsType: string | null;
  status: string;
  expiresAt: Date;
}

/** Codes sent in the last day by status, and the latest codes (never the code itself). */
export async function signInCodes(db: Db, limit: number): Promise<{ byStatus: { status: string; codes: number }[]; latest: SignInCodeRow[] }> {
  const byStatus = await db
    .selectFrom('sms_auth_code')
    .select(['status', sql<string>`count(*)`.as('codes')])
    .where('created_at', '>', sql<Date>`now() - interval '1 day'`)
    .groupBy('status')
    .orderBy('status')
    .execute();
  const latest = await db
    .selectFrom('sms_auth_code')
    .select(['outbox_id', 'created_at', 'user_id', 'phone', 'sms_type', 'status', 'expires_at'])
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  return {
    byStatus: byStatus.map((r) => ({ status: r.status, codes: Number(r.codes) })),
    latest: latest.map((r) => ({
      outboxId: r.outbox_id,
      createdAt: r.created_at,
      userId: r.user_id,
      phone: r.phone,
      smsType: r.sms_type,
      status: r.status,
      expiresAt: r.expires_at,
    })),
  };
}
