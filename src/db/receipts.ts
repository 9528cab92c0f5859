/**
 * Delivery receipts: matched to the submitted part by SMSC message id, and the message's status
 * decided from all its parts, by sms_private.apply_receipts (sql/). A receipt that matches nothing
 * yet (it raced its own submit_sm_resp, or the submit result is still being written, or by
 * another worker) is kept in sms_receipt and matched later: when the parts are written, and by
 * the reconcile task.
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
 * Matches receipts to submitted parts and applies them (sms_private.apply_receipts): each
 * receipt's candidate ids in order (the id as received, then its hex/decimal reinterpretations),
 * and among parts sharing an id (SMSCs recycle them) the most recently submitted; a final state
 * is never replaced by a progress state or by a later final one. Then each touched message's
 * status from all its parts. Returns the matches.
 */
export async function applyReceipts(db: Db, receipts: { candidates: string[]; state: string | null; error: string | null }[]): Promise<ReceiptMatch[]> {
  if (!receipts.length) return [];
  // Ids and states come from the SMSC: a NUL or an unpaired surrogate in them would make jsonb
  // refuse the whole batch (22P05).
  const batch = JSON.stringify(
    receipts.map((r, idx) => ({ idx, candidates: r.candidates.map((c) => pgText(c)), state: pgText(r.state), error: pgText(r.error) })),
  );
  const { rows } = await sql<{ idx: number; outbox_id: string; final_status: MessageStatus | null; latency: number | null }>`
    select idx, outbox_id, final_status, latency from sms_private.apply_receipts(${batch}::jsonb)
  `.execute(db);
  return rows.map((r) => ({ index: r.idx, outboxId: r.outbox_id, finalStatus: r.final_status, latencySeconds: r.latency }));
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
