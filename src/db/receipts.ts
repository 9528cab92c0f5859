/**
 * Delivery receipts: matched to the submitted part by SMSC message id, and the message's status
 * decided from all its parts. A receipt that matches nothing yet (it raced its own submit_sm_resp,
 * or the submit result is still being written, or by another worker) is kept in sms_receipt and
 * matched later: when the parts are written, and by the reconcile task.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { pgText } from './pg-text.js';
import type { Database, MessageStatus } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface IncomingReceipt {
  /** Raw id as received (TLV receipted_message_id or the `id:` text). */
  rawId: string;
  /** Normalised id first, then its hex/decimal reinterpretations. */
  candidates: string[];
  state: string | null;
  error: string | null;
  text: string;
  source: string | null;
  destination: string | null;
}

export interface ReceiptMatch {
  /** Index of the receipt in the batch. */
  index: number;
  outboxId: string;
  /** The message's new status when this batch made it final. */
  finalStatus: MessageStatus | null;
  /** Seconds from the part's submit result being stored to this receipt ending it; null unless this receipt ended the part. */
  latencySeconds: number | null;
}

/**
 * Matches receipts to submitted parts and applies them: each receipt's candidate ids in order
 * (the id as received, then its hex/decimal reinterpretations), and among parts sharing an id
 * (SMSCs recycle them) the most recently submitted; a final state is never replaced by a progress
 * state or by a later final one. Then each touched message's status from all its parts.
 * Returns the matches.
 */
export async function applyReceipts(db: Db, receipts: { candidates: string[]; state: string | null; error: string | null }[]): Promise<ReceiptMatch[]> {
  if (!receipts.length) return [];
  // Ids and states come from the SMSC: a NUL or an unpaired surrogate in them would make jsonb
  // refuse the whole batch (22P05).
  const batch = JSON.stringify(
    receipts.map((r, idx) => ({ idx, candidates: r.candidates.map((c) => pgText(c)), state: pgText(r.state), error: pgText(r.error) })),
  );
  // A single-part message's status follows from its one receipt, so it is set in this same
  // statement (and since migration 0017 the message is all there is: it has no part row);
  // messages of several parts need all their parts, read afterwards (refreshStatuses).
  const { rows } = await sql<{ idx: number; outbox_id: string; updated: boolean; final_status: MessageStatus | null; latency: number | null }>`
    with r as (
      select * from jsonb_to_recordset(${batch}::jsonb) as r(idx int, candidates text[], state text, error text)
    ), m as materialized (
      -- Each candidate id is looked up through the indexes (a lateral subquery): joined as sets,
      -- the planner may hash a whole table instead.
      select distinct on (r.idx) r.idx, r.state, r.error, x.outbox_id, x.part_no, x.old_state, x.submitted_at
        from r
        cross join lateral unnest(r.candidates) with ordinality as c(message_id, preference)
        cross join lateral (
          select p.outbox_id, p.part_no, p.receipt_state as old_state, p.submitted_at
            from public.sms_outbox_part p
           where p.message_id = c.message_id
          union all
          -- A single-part message has no part row (migration 0017); part_no 0 stands for its one
          -- part, whose final state is the message's receipt_state.
          select o.id, 0::smallint, o.receipt_state, o.submitted_at
            from public.sms_outbox o
           where o.smsc_message_id = c.message_id and o.message_ids is not null
        ) x
       order by r.idx, c.preference, x.submitted_at desc
    ), upd as (
      update public.sms_outbox_part p
         set receipt_state = m.state, receipt_error = m.error, done_at = now()
        from m
       where p.outbox_id = m.outbox_id and p.part_no = m.part_no and m.state is not null
         and (p.receipt_state is null or p.receipt_state in ('ACCEPTD', 'ENROUTE'))
      returning p.outbox_id, p.part_no
    ), single as (
      update public.sms_outbox o
         set status = case m.state when 'DELIVRD' then 'delivered' when 'EXPIRED' then 'expired'
                                   when 'REJECTD' then 'rejected' else 'undelivered' end,
             receipt_state = m.state,
             receipt_error = m.error,
             error_code = case when m.state <> 'DELIVRD' then m.error else o.error_code end,
             error_message = case when m.state <> 'DELIVRD' then 'receipt: ' || m.state else o.error_message end,
             done_at = now(),
             updated_at = now()
        from m
       where o.id = m.outbox_id and o.segments = 1
         and coalesce(o.status, '') = 'sent'
         and m.state in ('DELIVRD', 'UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN')
         and (m.old_state is null or m.old_state in ('ACCEPTD', 'ENROUTE'))
      returning o.id, o.status
    ), announced as (
      select pg_notify('sms_status', json_build_object('id', id, 'status', status)::text) from single
    )
    select m.idx, m.outbox_id, u.outbox_id is not null as updated, s.status as final_status,
           case when (u.outbox_id is not null or (m.part_no = 0 and s.id is not null))
                 and m.state in ('DELIVRD', 'UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN')
                then extract(epoch from now() - m.submitted_at)::float8 end as latency,
           (select count(*) from announced) as announced
      from m
      left join upd u on u.outbox_id = m.outbox_id and u.part_no = m.part_no
      left join single s on s.id = m.outbox_id
  `.execute(db);
  const finals = new Map<string, MessageStatus>(rows.filter((r) => r.final_status).map((r) => [r.outbox_id, r.final_status!]));
  // Messages of several parts (and the rare single-part one whose receipt was only progress).
  const rest = [...new Set(rows.filter((r) => r.updated && !finals.has(r.outbox_id)).map((r) => r.outbox_id))];
  for (const f of await refreshStatuses(db, rest)) finals.set(f.id, f.status);
  return rows.map((r) => ({ index: r.idx, outboxId: r.outbox_id, finalStatus: finals.get(r.outbox_id) ?? null, latencySeconds: r.latency }));
}

/**
 * Sets each `sent` message's status from its parts: `delivered` once every part is delivered;
 * `undelivered` / `expired` / `rejected` as soon as one part ends that way (the first to end
 * decides). Messages with parts still pending stay `sent`. The status test is written
 * `coalesce(status, '') = 'sent'` so the planner reaches rows by primary key rather than through
 * the partial index of sent rows (see src/db/outbox.ts).
 */
async function refreshStatuses(db: Db, outboxIds: string[]): Promise<{ id: string; status: MessageStatus }[]> {
  if (!outboxIds.length) return [];
  // Receipts for two parts of one message can be applied at once by two transactions (the store's
  // inbound flush and a re-match behind an outcome flush, or two workers). Each would see only its
  // own part delivered and leave the message `sent` for good. So the messages are locked first, in
  // one order: the second waits for the first to commit, and its next statement sees both parts.
  await sql`select 1 from public.sms_outbox where id = any(${outboxIds}::uuid[]) order by id for update`.execute(db);
  const { rows } = await sql<{ id: string; status: MessageStatus }>`
    with agg as materialized (
      select p.outbox_id,
             count(*) filter (where p.receipt_state = 'DELIVRD') as delivered,
             (array_agg(p.receipt_state order by p.done_at, p.part_no)
                filter (where p.receipt_state in ('UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN')))[1] as bad_state,
             (array_agg(p.receipt_error order by p.done_at, p.part_no)
                filter (where p.receipt_state in ('UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN')))[1] as bad_error,
             (array_agg(p.receipt_error order by p.done_at desc, p.part_no)
                filter (where p.receipt_state = 'DELIVRD'))[1] as ok_error
        from public.sms_outbox_part p
       where p.outbox_id = any(${outboxIds}::uuid[])
       group by p.outbox_id
    ), changed as (
      update public.sms_outbox o
         set status = case
                        when agg.bad_state = 'EXPIRED' then 'expired'
                        when agg.bad_state = 'REJECTD' then 'rejected'
                        when agg.bad_state is not null then 'undelivered'
                        else 'delivered'
                      end,
             receipt_state = coalesce(agg.bad_state, 'DELIVRD'),
             receipt_error = case when agg.bad_state is not null then agg.bad_error else agg.ok_error end,
             error_code = case when agg.bad_state is not null then agg.bad_error else o.error_code end,
             error_message = case when agg.bad_state is not null then 'receipt: ' || agg.bad_state else o.error_message end,
             done_at = now(),
             updated_at = now()
        from agg
       where o.id = agg.outbox_id
         and coalesce(o.status, '') = 'sent'
         and (agg.bad_state is not null or agg.delivered >= o.segments)
      returning o.id, o.status
    ), announced as (
      select pg_notify('sms_status', json_build_object('id', id, 'status', status)::text) from changed
    )
    select id, status, (select count(*) from announced) as announced from changed
  `.execute(db);
  return rows;
}

/** Keeps receipts that matched no part yet, for later matching and for inspection. Returns their ids. */
export async function storeUnmatched(db: Db, receipts: IncomingReceipt[]): Promise<string[]> {
  if (!receipts.length) return [];
  const rows = await db
    .insertInto('sms_receipt')
    .values(
      receipts.map((r) => ({
        message_id: pgText(r.candidates[0] ?? r.rawId),
        raw_message_id: pgText(r.rawId),
        state: pgText(r.state),
        error: pgText(r.error),
        source_addr: pgText(r.source),
        destination_addr: pgText(r.destination),
        text: pgText(r.text),
      })),
    )
    .returning('id')
    .execute();
  return rows.map((r) => String(r.id));
}

export interface StoredReceipt {
  id: string;
  rawId: string;
  state: string | null;
  error: string | null;
}

/** Stored receipts by id that are still unmatched. */
export async function receiptsById(db: Db, ids: string[]): Promise<StoredReceipt[]> {
  if (!ids.length) return [];
  const rows = await db
    .selectFrom('sms_receipt')
    .select(['id', 'raw_message_id', 'state', 'error'])
    .where('id', '=', sql<string>`any(${ids}::bigint[])`)
    .where('matched_at', 'is', null)
    .execute();
  return rows.map((r) => ({ id: String(r.id), rawId: r.raw_message_id, state: r.state, error: r.error }));
}

/**
 * Unmatched receipts of the last day, oldest first (skipping the first `offset`), for the
 * reconcile task. Older ones will not match any more: they stay for inspection until purged.
 */
export async function oldestUnmatched(db: Db, limit: number, offset = 0): Promise<StoredReceipt[]> {
  const rows = await db
    .selectFrom('sms_receipt')
    .select(['id', 'raw_message_id', 'state', 'error'])
    .where('matched_at', 'is', null)
    .where('received_at', '>', sql<Date>`now() - interval '1 day'`)
    .orderBy('received_at')
    .orderBy('id')
    .offset(offset)
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: String(r.id), rawId: r.raw_message_id, state: r.state, error: r.error }));
}

export async function markMatched(db: Db, matches: { receiptId: string; outboxId: string }[]): Promise<void> {
  if (!matches.length) return;
  const batch = JSON.stringify(matches.map((m) => ({ id: m.receiptId, outbox_id: m.outboxId })));
  // The text: field of a receipt repeats the first characters of its message: a redacted
  // message's go, as sms_redact takes them (a sign-in code is redacted once the SMSC has it).
  await sql`
    update public.sms_receipt r
       set matched_at = now(), outbox_id = m.outbox_id,
           text = case when o.redacted_at is not null then regexp_replace(r.text, '(text:).*$', '\\1', 'i') else r.text end
      from jsonb_to_recordset(${batch}::jsonb) as m(id bigint, outbox_id uuid)
      left join public.sms_outbox o on o.id = m.outbox_id
     where r.id = m.id and r.id = any(${matches.map((m) => m.receiptId)}::bigint[])
  `.execute(db);
}

/**
 * Deletes unmatched receipts older than the retention, and matched ones as they age out too. A
 * receipt a re-match is marking is skipped (and deleted by a later run): two statements locking
 * the same receipts in different orders would deadlock.
 */
export async function purgeReceipts(db: Db, unmatchedRetentionDays: number): Promise<number> {
  const r = await sql`
    delete from public.sms_receipt
     where id in (select id from public.sms_receipt
                   where received_at < now() - make_interval(secs => ${unmatchedRetentionDays * 86_400})
                     for update skip locked)
  `.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
