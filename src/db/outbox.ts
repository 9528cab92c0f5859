/**
 * The outbox calls of one message's path through the worker: claim (queued → sending), the
 * submit outcome (sending → sent | queued again | failed), and the lease that lets another worker
 * take over the rows of one that died. Every status change is made by a function of sql/
 * (sms_private.claim, mark_sent, mark_unsent, release_unsent, reclaim_expired_leases,
 * expire_overdue: ARCHITECTURE.md, "The state machine"); this file passes them the worker's
 * batches and reads back what they did.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Encoding, MessageStatus } from './schema.js';
import type { StoredReceipt } from './receipts.js';

type Db = Kysely<Database> | Transaction<Database>;

/** sms_send accepts priorities in this range; the claim visits each level in turn. */
export const PRIORITY_MAX = 10;
export const PRIORITY_MIN = -10;

export interface ClaimedMessage {
  id: string;
  recipient: string;
  sender: string;
  body: string;
  encoding: Encoding;
  segments: number;
  priority: number;
  /** The attempt this claim is (1 on the first send); result writes are fenced on it. */
  attempts: number;
  nextAttemptAt: Date;
  /** Not sent after this (for submit_sm's validity_period). */
  expiresAt: Date;
}

export interface ClaimResult {
  /** Rows now `sending`, held by this worker, highest priority first, then oldest. */
  messages: ClaimedMessage[];
  /** Rows found past expires_at and marked `expired` instead of being sent. */
  expired: number;
  /** Marketing rows whose recipient is in sms_opt_out, marked `rejected` (OPTED_OUT) instead of being sent. */
  optedOut: number;
}

/**
 * Claims up to `limit` due rows (sms_private.claim): queued, next_attempt_at reached, highest
 * priority first then oldest, skipping rows another worker is claiming. Rows already past
 * expires_at become `expired` there and are never sent; marketing rows whose recipient opted out
 * after they were enqueued become `rejected` (error_code OPTED_OUT), and their places are claimed
 * again, so a claim comes back short of `limit` only when the due rows ran out.
 */
export async function claimDue(db: Db, workerId: string, limit: number, leaseSeconds: number): Promise<ClaimResult> {
  const { rows } = await sql<{
    id: string;
    status: MessageStatus;
    recipient: string;
    sender: string;
    body: string;
    encoding: Encoding;
    segments: number;
    priority: number;
    attempts: number;
    next_attempt_at: Date;
    expires_at: Date;
  }>`select * from sms_private.claim(${workerId}, ${limit}::int, ${leaseSeconds}::float8)`.execute(db);
  const result: ClaimResult = { messages: [], expired: 0, optedOut: 0 };
  for (const r of rows) {
    if (r.status === 'expired') {
      result.expired++;
      continue;
    }
    if (r.status === 'rejected') {
      result.optedOut++;
      continue;
    }
    result.messages.push({
      id: r.id,
      recipient: r.recipient,
      sender: r.sender,
      body: r.body,
      encoding: r.encoding,
      segments: r.segments,
      priority: r.priority,
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      expiresAt: r.expires_at,
    });
  }
  result.messages.sort((a, b) => b.priority - a.priority || a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime());
  return result;
}

/**
 * How long until the next queued row falls due (its earliest next_attempt_at), in milliseconds by
 * Postgres's clock (so a worker whose clock is off still wakes on time), 0 when one is due now,
 * or null when none is queued. One index probe per priority level.
 */
export async function nextDueInMs(db: Db): Promise<number | null> {
  const { rows } = await sql<{ due_in_ms: number | null }>`select sms_private.next_due_in_ms() as due_in_ms`.execute(db);
  const ms = rows[0]?.due_in_ms;
  return ms === null || ms === undefined ? null : Number(ms);
}

/**
 * Rows put back in the queue wake every worker: a NOTIFY on the channel sms_send uses, with an
 * empty payload when they are due now and `{"due_in_ms": N}` when they fall due later (a retry's
 * back-off), so each worker arms a timer for them. The worker that requeued them may stop, or lose
 * its session, before they fall due; another must not wait for the sms_drain cron job.
 */
export const WAKEUP_CHANNEL = 'sms_outbox_wakeup';

/** The due time a wake-up notification carries (see WAKEUP_CHANNEL): ms from now, 0 for now. */
export function parseWakeupPayload(payload: string | undefined): number {
  if (!payload) return 0;
  try {
    const ms = Number((JSON.parse(payload) as { due_in_ms?: unknown }).due_in_ms);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  } catch {
    return 0;
  }
}

/** How long an idle worker's arming of the wake-up holds; it renews it well before. */
export const WAKEUP_LEASE_SECONDS = 60;

/**
 * Arms the wake-up sms_send reads (a lease an idle worker renews: while it holds, every app
 * commit that enqueues sends a NOTIFY). Returns true when it was not armed before, i.e. apps may
 * have committed rows without a NOTIFY and the queue needs another look.
 */
export async function armWakeup(db: Db): Promise<boolean> {
  const { rows } = await sql<{ lapsed: boolean }>`
    update public.sms_wakeup w
       set armed_until = now() + make_interval(secs => ${WAKEUP_LEASE_SECONDS})
      from (select armed_until from public.sms_wakeup for update) before
    returning before.armed_until is null or before.armed_until <= now() as lapsed
  `.execute(db);
  return rows[0]?.lapsed ?? true;
}

/** Disarms the wake-up while draining a backlog: apps then pay only a one-row read. */
export async function disarmWakeup(db: Db): Promise<void> {
  await db.updateTable('sms_wakeup').set({ armed_until: null }).where('armed_until', 'is not', null).execute();
}

/**
 * Extends the lease of every row this worker holds (sms_private.outbox_lease: an unlogged table,
 * so renewing writes no WAL).
 */
export async function renewLeases(db: Db, workerId: string, leaseSeconds: number): Promise<number> {
  const r = await sql`update sms_private.outbox_lease set lease_until = now() + make_interval(secs => ${leaseSeconds})
                       where worker_id = ${workerId}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/**
 * Takes back rows whose worker stopped renewing its lease (killed, frozen, cut off): they return
 * to the queue, due now (every worker is woken), or fail when their attempts (since the last
 * sms_retry) are used up. Any worker runs this every few seconds.
 */
export async function reclaimExpiredLeases(db: Db): Promise<{ requeued: number; failed: number }> {
  const { rows } = await sql<{ requeued: number; failed: number }>`select requeued, failed from sms_private.reclaim_expired_leases()`.execute(db);
  return { requeued: rows[0]?.requeued ?? 0, failed: rows[0]?.failed ?? 0 };
}

// The batch writes below are fenced on "still held by this worker at this attempt" (see
// sms_private.release_unsent): a row this worker no longer holds is left alone.

/**
 * Returns claimed rows this worker never submitted (shutdown) to the queue, undoing the attempt,
 * and wakes the other workers for them.
 */
export async function releaseUnsent(db: Db, workerId: string, claims: { id: string; attempts: number }[]): Promise<number> {
  if (!claims.length) return 0;
  const batch = JSON.stringify(claims.map((c) => ({ id: c.id, attempts: c.attempts })));
  const { rows } = await sql<{ n: number }>`select sms_private.release_unsent(${workerId}, ${batch}::jsonb) as n`.execute(db);
  return rows[0]?.n ?? 0;
}

export interface AcceptedResult {
  id: string;
  attempts: number;
  /** Raw SMSC ids, one per part, as the SMSC returned them. */
  messageIds: string[];
  /** The same ids normalised for receipt matching. */
  normalizedIds: string[];
}

export interface UnsentResult {
  id: string;
  attempts: number;
  /** A permanent error: failed now. Otherwise queued again after `delayMs` (or failed when out of attempts). */
  permanent: boolean;
  errorCode: string;
  errorMessage: string;
  delayMs: number;
}

/**
 * sending → sent, with the SMSC id of every part in sms_outbox.message_ids, and where receipts
 * are matched against it: a single-part message's normalised id in sms_outbox.smsc_message_id,
 * one sms_outbox_part row per part for a message of several. Returns the ids that changed
 * (a row this worker no longer holds does not), and the stored, unmatched receipts whose id is
 * one of `receiptCandidates` (the new parts' ids in every form): receipts that arrived before
 * their own submit result was written, to be matched now.
 */
export async function markSent(
  db: Db,
  workerId: string,
  results: AcceptedResult[],
  receiptCandidates: string[],
): Promise<{ sent: Set<string>; waiting: StoredReceipt[] }> {
  if (!results.length) return { sent: new Set(), waiting: [] };
  const batch = JSON.stringify(results.map((r) => ({ id: r.id, attempts: r.attempts, message_ids: r.messageIds, parts: r.normalizedIds })));
  const { rows } = await sql<{ id: string; waiting: StoredReceipt[] }>`
    select id, waiting from sms_private.mark_sent(${workerId}, ${batch}::jsonb, ${receiptCandidates}::text[])
  `.execute(db);
  return { sent: new Set(rows.map((r) => r.id)), waiting: rows[0]?.waiting ?? [] };
}

export interface UnsentOutcome {
  /** The new status of every row that changed. */
  statuses: Map<string, MessageStatus>;
  /** When the soonest row put back in the queue falls due (ms from now), or null when none was. */
  nextDueInMs: number | null;
}

/**
 * sending → failed (permanent error), or → queued after its back-off (transient error, unknown
 * outcome), or → failed when sms_settings.max_attempts are used up (counted since the last
 * sms_retry). Rows queued again wake every worker for their due time (see WAKEUP_CHANNEL).
 */
export async function markUnsent(db: Db, workerId: string, results: UnsentResult[]): Promise<UnsentOutcome> {
  if (!results.length) return { statuses: new Map(), nextDueInMs: null };
  const batch = JSON.stringify(
    results.map((r) => ({ id: r.id, attempts: r.attempts, permanent: r.permanent, code: r.errorCode, message: r.errorMessage, delay_ms: Math.round(r.delayMs) })),
  );
  const { rows } = await sql<{ id: string; status: MessageStatus; due_in_ms: number | null }>`
    select id, status, due_in_ms from sms_private.mark_unsent(${workerId}, ${batch}::jsonb)
  `.execute(db);
  const due = rows[0]?.due_in_ms;
  return { statuses: new Map(rows.map((r) => [r.id, r.status])), nextDueInMs: due === null || due === undefined ? null : Number(due) };
}

/** Marks up to `limit` queued rows past expires_at as `expired` (the housekeeping sweep, sms_private.expire_overdue). */
export async function expireOverdue(db: Db, limit = 10_000): Promise<number> {
  const { rows } = await sql<{ n: number }>`select sms_private.expire_overdue(${limit}::int) as n`.execute(db);
  return rows[0]?.n ?? 0;
}

/**
 * Deletes messages that finished more than `retentionDays` ago (and `sent` ones that never got a
 * receipt, by their submit time), with their parts. In batches, so no long lock is held.
 * `retentionDays` may be a fraction (the soak benchmark keeps minutes). A message another
 * transaction holds (a receipt being applied to it, a re-match marking its receipts) is skipped
 * and taken by a later run: the purge locks its batch first and never waits for such a row, so
 * it cannot deadlock with the writer holding it.
 */
export async function purgeFinished(db: Db, retentionDays: number, batch = 5000): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    with old as (
      select id from public.sms_outbox
       where (done_at < now() - make_interval(secs => ${retentionDays * 86_400}))
          or (status = 'sent' and submitted_at < now() - make_interval(secs => ${retentionDays * 86_400}))
       limit ${batch}
         for update skip locked
    ), parts as (
      delete from public.sms_outbox_part p using old where p.outbox_id = old.id
    ), gone as (
      delete from public.sms_outbox o using old where o.id = old.id returning 1
    )
    select count(*)::int as n from gone
  `.execute(db);
  return rows[0]?.n ?? 0;
}
