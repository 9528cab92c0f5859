/**
 * The outbox queries of one message's path through the worker: claim (queued → sending), the
 * submit outcome (sending → sent | queued again | failed), and the lease that lets another worker
 * take over the rows of one that died.
 */
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
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

/** error_message of a marketing message the claim refuses (sms_send stores the same at enqueue). */
const OPTED_OUT_MESSAGE = 'not sent: the recipient opted out of marketing messages (sms_opt_out)';

/**
 * Claims up to `limit` due rows: queued, next_attempt_at reached, highest priority first then
 * oldest, skipping rows another worker is claiming (FOR UPDATE SKIP LOCKED). One index probe per
 * priority level, so a backlog of rows scheduled for later never slows the claim. Rows already
 * past expires_at become `expired` here and are never sent; marketing rows whose recipient
 * opted out after they were enqueued become `rejected` (error_code OPTED_OUT). The places those
 * took are claimed again, so a claim comes back short of `limit` only when the due rows ran out.
 */
export async function claimDue(db: Db, workerId: string, limit: number, leaseSeconds: number): Promise<ClaimResult> {
  const result: ClaimResult = { messages: [], expired: 0, optedOut: 0 };
  let want = limit;
  for (;;) {
    const round = await claimOnce(db, workerId, want, leaseSeconds);
    result.messages.push(...round.messages);
    result.expired += round.expired;
    result.optedOut += round.optedOut;
    if (round.optedOut === 0 || round.messages.length + round.expired + round.optedOut < want) break;
    want = round.optedOut;
  }
  result.messages.sort((a, b) => b.priority - a.priority || a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime());
  return result;
}

async function claimOnce(db: Db, workerId: string, limit: number, leaseSeconds: number): Promise<ClaimResult> {
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
  }>`
    with picked as (
      select c.id,
             case when c.expires_at <= now() then 'expired'
                  when c.category = 'marketing' and exists (select from public.sms_opt_out x where x.recipient = c.recipient) then 'rejected'
                  else 'sending' end as outcome
        from generate_series(${PRIORITY_MAX}::int, ${PRIORITY_MIN}::int, -1) as p(priority)
        cross join lateral (
          select o.id, o.expires_at, o.category, o.recipient
            from public.sms_outbox o
           where o.status = 'queued' and o.priority = p.priority and o.next_attempt_at <= now()
           order by o.next_attempt_at
           limit ${limit}
             for update skip locked
        ) c
       limit ${limit}
    ), claimed as (
    update public.sms_outbox o
       set status = picked.outcome,
           attempts = o.attempts + case when picked.outcome = 'sending' then 1 else 0 end,
           lease_until = case when picked.outcome = 'sending' then now() + make_interval(secs => ${leaseSeconds}) end,
           worker_id = case when picked.outcome = 'sending' then ${workerId} end,
           done_at = case when picked.outcome <> 'sending' then now() end,
           error_code = case picked.outcome when 'rejected' then 'OPTED_OUT' else o.error_code end,
           error_message = case picked.outcome when 'expired' then 'expired before it could be sent'
                                               when 'rejected' then ${OPTED_OUT_MESSAGE} else o.error_message end,
           updated_at = now()
      from picked
     where o.id = picked.id
    -- A sign-in code is not in sms_outbox.body (body_length set, redacted_at not yet): the worker
    -- alone reads it from sms_outbox_secret (migrations/0018).
    returning o.id, o.status, o.recipient, o.sender,
              case when o.body_length is not null and o.redacted_at is null
                   then (select s.body from public.sms_outbox_secret s where s.outbox_id = o.id) else o.body end as body,
              o.encoding, o.segments, o.priority, o.attempts, o.next_attempt_at, o.expires_at
    ), announced as (
      select pg_notify('sms_status', json_build_object('id', id, 'status', status)::text) from claimed where status <> 'sending'
    )
    -- a plain CTE runs only when referenced: the count makes the notifications go out
    select claimed.*, (select count(*) from announced) as announced from claimed
  `.execute(db);
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
  return result;
}

/**
 * How long until the next queued row falls due (its earliest next_attempt_at), in milliseconds by
 * Postgres's clock (so a worker whose clock is off still wakes on time), 0 when one is due now,
 * or null when none is queued. One index probe per priority level.
 */
export async function nextDueInMs(db: Db): Promise<number | null> {
  const { rows } = await sql<{ due_in_ms: number | null }>`
    select ${dueInMs(sql`d.at`)} as due_in_ms
      from (
        select min(c.next_attempt_at) as at
          from generate_series(${PRIORITY_MAX}::int, ${PRIORITY_MIN}::int, -1) as p(priority)
          cross join lateral (
            select o.next_attempt_at from public.sms_outbox o
             where o.status = 'queued' and o.priority = p.priority
             order by o.next_attempt_at limit 1
          ) c
      ) d
  `.execute(db);
  const ms = rows[0]?.due_in_ms;
  return ms === null || ms === undefined ? null : Number(ms);
}

/** Milliseconds from now (the statement's clock) until the column `at`, rounded up; 0 when past; null for null. */
function dueInMs(at: RawBuilder<unknown>): RawBuilder<number | null> {
  // greatest() skips nulls: without the case, "no row" would read as "due now".
  return sql<number | null>`case when ${at} is not null then greatest(0, ceil(extract(epoch from ${at} - clock_timestamp()) * 1000))::float8 end`;
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

/** Extends the lease of every row this worker holds. */
export async function renewLeases(db: Db, workerId: string, leaseSeconds: number): Promise<number> {
  const r = await db
    .updateTable('sms_outbox')
    .set({ lease_until: sql`now() + make_interval(secs => ${leaseSeconds})` })
    .where('status', '=', 'sending')
    .where('worker_id', '=', workerId)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * Takes back rows whose worker stopped renewing its lease (killed, frozen, cut off): they return
 * to the queue, due now (every worker is woken), or fail when their attempts (since the last
 * sms_retry) are used up. Any worker runs this every few seconds.
 */
export async function reclaimExpiredLeases(db: Db): Promise<{ requeued: number; failed: number }> {
  const { rows } = await sql<{ status: MessageStatus }>`
    with taken as (
    update public.sms_outbox o
       set status = case when o.attempts - o.attempts_at_retry >= s.max_attempts then 'failed' else 'queued' end,
           done_at = case when o.attempts - o.attempts_at_retry >= s.max_attempts then now() end,
           error_code = case when o.attempts - o.attempts_at_retry >= s.max_attempts then 'LEASE_EXPIRED' else o.error_code end,
           error_message = case when o.attempts - o.attempts_at_retry >= s.max_attempts
                                then 'gave up after ' || (o.attempts - o.attempts_at_retry) || ' attempts: the worker holding it stopped (lease expired)'
                                else o.error_message end,
           next_attempt_at = now(),
           lease_until = null,
           worker_id = null,
           updated_at = now()
      from public.sms_settings s
     where o.status = 'sending' and o.lease_until < now()
    returning o.id, o.status
    ), announced as (
      select pg_notify('sms_status', json_build_object('id', id, 'status', status)::text) from taken where status = 'failed'
    ), woken as (
      select pg_notify(${WAKEUP_CHANNEL}, '') where exists (select from taken where status = 'queued')
    )
    select status, (select count(*) from announced) as announced, (select count(*) from woken) as woken from taken
  `.execute(db);
  const failed = rows.filter((r) => r.status === 'failed').length;
  return { requeued: rows.length - failed, failed };
}

// The batch writes below are fenced on "still held by this worker at this attempt", written as
// worker_id, attempts and `lease_until is not null`. lease_until is set exactly while a row is
// `sending` (every statement that moves a row in or out of sending sets or clears it; the tests
// check the invariant; a CHECK constraint would cost every sms_send insert). Naming the status
// instead would let the planner pick the partial index of sending rows, which on a busy queue is
// mostly dead entries it cannot see; this way each row is reached through the primary key. Status changes an app may care about are announced with pg_notify in
// the same statement (see migrations/0007_worker.sql).

/**
 * Returns claimed rows this worker never submitted (shutdown) to the queue, undoing the attempt,
 * and wakes the other workers for them.
 */
export async function releaseUnsent(db: Db, workerId: string, claims: { id: string; attempts: number }[]): Promise<number> {
  if (!claims.length) return 0;
  const batch = JSON.stringify(claims.map((c) => ({ id: c.id, attempts: c.attempts })));
  const { rows } = await sql<{ id: string }>`
    with released as (
    update public.sms_outbox o
       set status = 'queued', attempts = o.attempts - 1, lease_until = null, worker_id = null, updated_at = now()
      from jsonb_to_recordset(${batch}::jsonb) as r(id uuid, attempts int)
     where o.id = r.id and o.worker_id = ${workerId} and o.attempts = r.attempts and o.lease_until is not null
    returning o.id
    ), woken as (
      select pg_notify(${WAKEUP_CHANNEL}, '') where exists (select from released)
    )
    select id, (select count(*) from woken) as woken from released
  `.execute(db);
  return rows.length;
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
    with r as (
      select * from jsonb_to_recordset(${batch}::jsonb) as r(id uuid, attempts int, message_ids text[], parts text[])
    ), sent as (
      update public.sms_outbox o
         set status = 'sent', submitted_at = now(), message_ids = r.message_ids,
             smsc_message_id = case when o.segments = 1 and cardinality(r.parts) = 1 then r.parts[1] end,
             lease_until = null, error_code = null, error_message = null, updated_at = now()
        from r
       where o.id = r.id and o.worker_id = ${workerId} and o.attempts = r.attempts and o.lease_until is not null
      returning o.id, o.smsc_message_id is not null as single
    ), parts as (
      insert into public.sms_outbox_part (outbox_id, part_no, message_id)
      select r.id, p.part_no, p.message_id
        from r join sent using (id)
        cross join lateral unnest(r.parts) with ordinality as p(message_id, part_no)
       where not sent.single
      on conflict (outbox_id, part_no) do update
        set message_id = excluded.message_id, submitted_at = now(), receipt_state = null, receipt_error = null, done_at = null
    ), announced as (
      select pg_notify('sms_status', json_build_object('id', id, 'status', 'sent')::text) from sent
    )
    select id,
           (select count(*) from announced) as announced,
           (select coalesce(json_agg(json_build_object('id', w.id::text, 'rawId', w.raw_message_id, 'state', w.state, 'error', w.error)), '[]')
              from public.sms_receipt w
             where w.matched_at is null and w.message_id = any(${receiptCandidates}::text[])) as waiting
      from sent
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
  // final: a permanent error, or the attempts since the last sms_retry used up.
  const { rows } = await sql<{ id: string; status: MessageStatus; due_in_ms: number | null }>`
    with r as (
      select r.*, s.max_attempts
        from jsonb_to_recordset(${batch}::jsonb) as r(id uuid, attempts int, permanent boolean, code text, message text, delay_ms int),
             public.sms_settings s
    ), changed as (
      update public.sms_outbox o
         set status = case when r.permanent or r.attempts - o.attempts_at_retry >= r.max_attempts then 'failed' else 'queued' end,
             done_at = case when r.permanent or r.attempts - o.attempts_at_retry >= r.max_attempts then now() end,
             next_attempt_at = case when r.permanent or r.attempts - o.attempts_at_retry >= r.max_attempts then o.next_attempt_at
                                    else now() + r.delay_ms * interval '1 millisecond' end,
             error_code = r.code,
             error_message = case when not r.permanent and r.attempts - o.attempts_at_retry >= r.max_attempts
                                  then 'gave up after ' || (o.attempts - o.attempts_at_retry) || ' attempts: ' || r.message
                                  else r.message end,
             lease_until = null,
             worker_id = case when r.permanent or r.attempts - o.attempts_at_retry >= r.max_attempts then o.worker_id end,
             updated_at = now()
        from r
       where o.id = r.id and o.worker_id = ${workerId} and o.attempts = r.attempts and o.lease_until is not null
      returning o.id, o.status, o.next_attempt_at
    ), announced as (
      select pg_notify('sms_status', json_build_object('id', id, 'status', status)::text) from changed where status = 'failed'
    ), soonest as (
      select ${dueInMs(sql`q.at`)} as due_in_ms from (select min(next_attempt_at) as at from changed where status = 'queued') q
    ), woken as (
      select pg_notify(${WAKEUP_CHANNEL}, case when due_in_ms > 0 then json_build_object('due_in_ms', due_in_ms)::text else '' end)
        from soonest where due_in_ms is not null
    )
    select id, status, (select count(*) from announced) as announced,
           (select due_in_ms from soonest) as due_in_ms, (select count(*) from woken) as woken
      from changed
  `.execute(db);
  const due = rows[0]?.due_in_ms;
  return { statuses: new Map(rows.map((r) => [r.id, r.status])), nextDueInMs: due === null || due === undefined ? null : Number(due) };
}

/** Marks queued rows past expires_at as `expired` (the housekeeping sweep). */
export async function expireOverdue(db: Db, limit = 10_000): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    with overdue as (
      select id from public.sms_outbox
       where status = 'queued' and expires_at <= now()
       limit ${limit}
         for update skip locked
    ), expired as (
    update public.sms_outbox o
       set status = 'expired', done_at = now(), error_message = 'expired before it could be sent', updated_at = now()
      from overdue where o.id = overdue.id
    returning o.id
    ), announced as (
      select pg_notify('sms_status', json_build_object('id', id, 'status', 'expired')::text) from expired
    )
    select id, (select count(*) from announced) as announced from expired
  `.execute(db);
  return rows.length;
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
