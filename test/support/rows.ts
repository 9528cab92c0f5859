/**
 * Rows as the worker leaves them, written straight into the tables (the tests connect as the
 * database owner), for tests of the worker's queries and housekeeping tasks: messages in every
 * status, old and new; their parts; receipts matched, waiting and unknown; incoming SMS and staged
 * parts. Times are given as Postgres intervals relative to now() ('-31 days', '5 minutes').
 */
import type pg from 'pg';
import type { MessageStatus } from '../../src/db/schema.js';

type Queryable = pg.Pool | pg.ClientBase;

export interface MessageRow {
  /** Kept in metadata as {"label": ...}, to find the row again. */
  label: string;
  status: MessageStatus;
  recipient?: string;
  body?: string;
  segments?: number;
  priority?: number;
  attempts?: number;
  /** created_at; send_at and next_attempt_at default to it. */
  created?: string;
  nextAttempt?: string;
  expires?: string;
  /**
   * A `sending` row is stored as the claim leaves it (migration 0034): queued, with a row of
   * sms_private.outbox_lease for the attempt `attempts`, held until `lease` (default 1 minute
   * ahead) by `workerId`.
   */
  lease?: string;
  workerId?: string;
  /** submitted_at of a row that went out (sent and the receipt statuses). */
  submitted?: string;
  /** done_at of a finished row (default: the submit time, or created_at). */
  done?: string;
  /**
   * SMSC ids of the parts (sent and receipt statuses): one sms_outbox_part row each for a message
   * of several parts; a single-part message's id goes in sms_outbox.smsc_message_id (0017).
   */
  messageIds?: string[];
  /** A single-part message as the worker wrote it before migration 0017: with a part row. */
  legacyPart?: boolean;
  errorCode?: string;
  receiptState?: string;
}

const RECEIPT_STATE: Partial<Record<MessageStatus, string>> = { delivered: 'DELIVRD', undelivered: 'UNDELIV', rejected: 'REJECTD' };
const WENT_OUT: MessageStatus[] = ['sent', 'delivered', 'undelivered', 'rejected'];
const FINAL: MessageStatus[] = ['delivered', 'undelivered', 'expired', 'rejected', 'failed', 'cancelled'];

let nextNumber = 0;

/** Inserts one message row (and its parts) as the worker would have left it; returns its id. */
export async function insertMessage(db: Queryable, m: MessageRow): Promise<string> {
  const created = m.created ?? '-1 minute';
  const wentOut = WENT_OUT.includes(m.status) || (m.status === 'expired' && m.receiptState === 'EXPIRED');
  const submitted = wentOut ? (m.submitted ?? created) : null;
  const done = FINAL.includes(m.status) ? (m.done ?? submitted ?? created) : null;
  const segments = m.segments ?? m.messageIds?.length ?? 1;
  const messageIds = wentOut ? (m.messageIds ?? Array.from({ length: segments }, () => (0x5a000000 + ++nextNumber).toString(16).toUpperCase())) : null;
  const receiptState = m.receiptState ?? RECEIPT_STATE[m.status] ?? null;
  const { rows } = await db.query<{ id: string }>(
    `insert into public.sms_outbox
       (owner, created_at, updated_at, recipient, sender, body, encoding, segments, priority, send_at, expires_at,
        metadata, status, attempts, next_attempt_at, worker_id, submitted_at, done_at,
        message_ids, error_code, error_message, receipt_state, receipt_error)
     values (quote_ident(current_user), now() + $1::interval, now() + $1::interval, $2::text, 'Fixture', $3::text, 'gsm7', $4::int, $5::int, now() + $1::interval,
             now() + coalesce($6::interval, $1::interval + interval '1 day'),
             jsonb_build_object('label', $7::text), case when $8::text = 'sending' then 'queued' else $8::text end,
             $9::int - case when $8::text = 'sending' then 1 else 0 end, now() + coalesce($10::interval, $1::interval),
             case when $8::text in ('sent', 'delivered', 'undelivered', 'rejected') then coalesce($11::text, 'fixture-worker') end,
             now() + $12::interval, now() + $13::interval, $14::text[], $15::text,
             case when $15::text is not null then 'fixture error' end, $16::text, case when $16::text is not null then '000' end)
     returning id`,
    [
      created,
      m.recipient ?? `7999${String(3_000_000 + (++nextNumber % 1_000_000)).padStart(7, '0')}`,
      m.body ?? `fixture ${m.label}`,
      segments,
      m.priority ?? 0,
      m.expires ?? null,
      m.label,
      m.status,
      m.attempts ?? (m.status === 'queued' || m.status === 'cancelled' || (m.status === 'expired' && !wentOut) ? 0 : 1),
      m.nextAttempt ?? null,
      m.workerId ?? null,
      submitted,
      done,
      messageIds,
      m.errorCode ?? null,
      receiptState,
    ],
  );
  const id = rows[0]!.id;
  if (m.status === 'sending') await holdMessages(db, [id], { workerId: m.workerId ?? 'fixture-worker', lease: m.lease });
  if (messageIds && messageIds.length === 1 && segments === 1 && !m.legacyPart) {
    await db.query(`update public.sms_outbox set smsc_message_id = coalesce(nullif(ltrim(lower($2::text), '0'), ''), '0') where id = $1`, [id, messageIds[0]]);
  } else if (messageIds) {
    await db.query(
      `insert into public.sms_outbox_part (outbox_id, part_no, message_id, submitted_at, receipt_state, receipt_error, done_at)
       select $1::uuid, p.n, lower(p.id), now() + $2::interval, $3::text, case when $3::text is not null then '000' end,
              case when $3::text is not null then now() + $4::interval end
         from unnest($5::text[]) with ordinality as p(id, n)`,
      [id, submitted, receiptState, done ?? submitted, messageIds],
    );
  }
  return id;
}

/**
 * Holds queued messages as a worker's claim does (migration 0034): a lease each in
 * sms_private.outbox_lease, for the attempt after those counted on the row, held by `workerId`
 * until `lease` from now (default 1 minute). Messages not queued are left alone.
 */
export async function holdMessages(db: Queryable, ids: string[], o: { workerId: string; lease?: string }): Promise<void> {
  await db.query(
    `insert into sms_private.outbox_lease (outbox_id, worker_id, attempt, lease_until)
     select o.id, $2, o.attempts + 1, now() + coalesce($3::interval, interval '1 minute')
       from public.sms_outbox o
      where o.id = any($1::uuid[]) and o.status = 'queued'`,
    [ids, o.workerId, o.lease ?? null],
  );
}

/** Inserts several messages; returns label → id. */
export async function insertMessages(db: Queryable, rows: MessageRow[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const r of rows) ids.set(r.label, await insertMessage(db, r));
  return ids;
}

export interface ReceiptRow {
  /** The id as the SMSC sent it; message_id is its normalised form (lower case, no leading zeros). */
  rawId: string;
  state?: string;
  error?: string;
  received?: string;
  /** Matched to this message. */
  outboxId?: string;
}

export async function insertReceipt(db: Queryable, r: ReceiptRow): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into public.sms_receipt (received_at, message_id, raw_message_id, state, error, source_addr, destination_addr, text, outbox_id, matched_at)
     values (now() + $1::interval, coalesce(nullif(ltrim(lower($2::text), '0'), ''), '0'), $2::text, $3::text, $4::text, '79990000000', 'Fixture',
             'id:' || $2::text || ' stat:' || coalesce($3::text, '') || ' err:' || coalesce($4::text, ''), $5::uuid,
             case when $5 is not null then now() + $1::interval end)
     returning id::text`,
    [r.received ?? '-1 minute', r.rawId, r.state ?? 'DELIVRD', r.error ?? '000', r.outboxId ?? null],
  );
  return rows[0]!.id;
}

export async function insertInbox(db: Queryable, m: { sender: string; body: string; received?: string; parts?: number }): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into public.sms_inbox (received_at, sender, recipient, body, encoding, parts)
     values (now() + $1::interval, $2::text, 'Fixture', $3::text, 'gsm7', $4::int) returning id`,
    [m.received ?? '-1 minute', m.sender, m.body, m.parts ?? 1],
  );
  return rows[0]!.id;
}

export interface PartRow {
  sender: string;
  ref: number;
  total: number;
  seq: number;
  /** The part's text, stored as GSM-7 unpacked septets (data_coding 0) like the worker does. */
  text: string;
  received?: string;
}

export async function insertInboxPart(db: Queryable, p: PartRow): Promise<void> {
  await db.query(
    `insert into public.sms_inbox_part (sender, recipient, ref, total, seq, data_coding, payload, received_at)
     values ($1, 'Fixture', $2, $3, $4, 0, $5, now() + $6::interval)`,
    [p.sender, p.ref, p.total, p.seq, Buffer.from(p.text, 'latin1'), p.received ?? '-1 minute'],
  );
}

/**
 * Every row of the sms_ tables a task can touch, keyed so two snapshots can be compared:
 * messages by label, parts by label and number, receipts, inbox rows and staged parts by content.
 */
export async function snapshot(db: Queryable): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  const add = (key: string, row: Record<string, unknown>) => {
    assert(!out.has(key), `two rows keyed ${key}`);
    out.set(key, row);
  };
  for (const r of (await db.query(`select * from public.sms_outbox`)).rows) add(`outbox ${(r.metadata as { label?: string })?.label ?? r.id}`, r);
  for (const r of (await db.query(`select p.*, o.metadata->>'label' as label from public.sms_outbox_part p join public.sms_outbox o on o.id = p.outbox_id`)).rows) {
    add(`part ${r.label ?? r.outbox_id} #${r.part_no}`, r);
  }
  for (const r of (await db.query(`select * from public.sms_receipt`)).rows) add(`receipt ${r.raw_message_id} ${r.id}`, r);
  for (const r of (await db.query(`select * from public.sms_inbox`)).rows) add(`inbox ${r.sender} ${r.body}`, r);
  for (const r of (await db.query(`select * from public.sms_inbox_part`)).rows) add(`inbox part ${r.sender} ${r.ref}/${r.total} #${r.seq}`, r);
  return out;
}

/** What changed between two snapshots: keys added, removed, and changed (with the columns that did). */
export function diff(before: Map<string, Record<string, unknown>>, after: Map<string, Record<string, unknown>>) {
  const added = [...after.keys()].filter((k) => !before.has(k)).sort();
  const removed = [...before.keys()].filter((k) => !after.has(k)).sort();
  const changed = new Map<string, string[]>();
  for (const [k, b] of before) {
    const a = after.get(k);
    if (!a) continue;
    const columns = Object.keys(b).filter((c) => JSON.stringify(a[c]) !== JSON.stringify(b[c]));
    if (columns.length) changed.set(k, columns.sort());
  }
  return { added, removed, changed };
}

function assert(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

/** Empties the tables the fixtures fill. */
export async function truncateAll(db: Queryable): Promise<void> {
  // CASCADE: the tables that reference sms_outbox (sms_outbox_retry, ...) are emptied with it.
  await db.query('truncate public.sms_outbox, public.sms_outbox_part, public.sms_receipt, public.sms_inbox, public.sms_inbox_part, public.sms_inbox_set cascade');
  // The leases (migration 0034) have no foreign key to sms_outbox: CASCADE does not reach them.
  await db.query('truncate sms_private.outbox_lease');
}

/**
 * A database holding messages in every status, old and new (the default retentions: finished
 * messages 30 days, incoming SMS 90, receipts 7), receipts matched, waiting for their message and
 * unknown, incoming SMS, and staged incoming parts: complete, incomplete, stale and fresh. Labels
 * say what each row is; the housekeeping tests check what each task does to every one of them.
 */
export async function seedEveryStatus(db: Queryable): Promise<{ ids: Map<string, string>; receipts: Map<string, string> }> {
  const ids = await insertMessages(db, [
    { label: 'queued due', status: 'queued', created: '-5 minutes' },
    { label: 'queued scheduled', status: 'queued', created: '-5 minutes', nextAttempt: '1 hour', expires: '1 day' },
    { label: 'queued retry', status: 'queued', attempts: 1, created: '-5 minutes', nextAttempt: '1 hour', errorCode: 'ESME_RSYSERR' },
    { label: 'queued overdue', status: 'queued', created: '-2 days', expires: '-1 hour' },
    { label: 'queued overdue scheduled', status: 'queued', created: '-1 day', nextAttempt: '1 hour', expires: '-1 minute' },
    { label: 'sending live lease', status: 'sending', lease: '1 hour', workerId: 'other-worker' },
    { label: 'sending lapsed lease', status: 'sending', lease: '-1 minute', workerId: 'dead-worker', expires: '-1 minute' },
    { label: 'sent new', status: 'sent', submitted: '-1 minute' },
    { label: 'sent old', status: 'sent', created: '-32 days', submitted: '-31 days' },
    { label: 'sent waiting (hex)', status: 'sent', messageIds: ['5B00A1'], submitted: '-30 seconds' },
    // Two single-part messages as written before migration 0017, with a part row each.
    { label: 'sent waiting (decimal receipt)', status: 'sent', messageIds: ['5B00A2'], submitted: '-30 seconds', legacyPart: true },
    { label: 'sent two parts, one receipt waiting', status: 'sent', messageIds: ['5B00A3', '5B00A4'], submitted: '-30 seconds' },
    { label: 'sent, receipt too old to match', status: 'sent', messageIds: ['5B00A5'], created: '-3 days', submitted: '-3 days' },
    { label: 'delivered new', status: 'delivered', messageIds: ['5B00B1'], submitted: '-2 minutes', done: '-1 minute' },
    { label: 'delivered old', status: 'delivered', messageIds: ['5B00B2'], created: '-40 days', submitted: '-40 days', done: '-40 days', legacyPart: true },
    { label: 'delivered just inside retention', status: 'delivered', created: '-30 days', submitted: '-30 days', done: '-29 days -23 hours' },
    { label: 'delivered just past retention', status: 'delivered', created: '-31 days', submitted: '-31 days', done: '-30 days -1 hour' },
    { label: 'undelivered new', status: 'undelivered' },
    { label: 'undelivered old', status: 'undelivered', created: '-35 days', done: '-35 days' },
    { label: 'expired unsent new', status: 'expired', created: '-2 days' },
    { label: 'expired by receipt old', status: 'expired', receiptState: 'EXPIRED', created: '-33 days', done: '-33 days' },
    { label: 'rejected new', status: 'rejected' },
    { label: 'rejected old', status: 'rejected', created: '-60 days', done: '-60 days' },
    { label: 'failed new', status: 'failed', attempts: 1, errorCode: 'ESME_RINVDSTADR' },
    { label: 'failed old', status: 'failed', attempts: 10, errorCode: 'ESME_RSYSERR', created: '-31 days', done: '-31 days' },
    { label: 'cancelled new', status: 'cancelled' },
    { label: 'cancelled old', status: 'cancelled', created: '-45 days', done: '-45 days' },
  ]);
  const receipts = new Map<string, string>();
  const receipt = async (label: string, r: ReceiptRow) => receipts.set(label, await insertReceipt(db, r));
  await receipt('matched, new', { rawId: '5B00B1', outboxId: ids.get('delivered new')!, received: '-1 minute' });
  await receipt('matched, old', { rawId: '5B00B2', outboxId: ids.get('delivered old')!, received: '-40 days' });
  await receipt('waiting (hex)', { rawId: '5B00A1', received: '-40 seconds' });
  await receipt('waiting (decimal)', { rawId: String(0x5b00a2), state: 'UNDELIV', error: '011', received: '-40 seconds' });
  await receipt('waiting, first of two parts', { rawId: '005B00A3', received: '-40 seconds' });
  await receipt('waiting but too old', { rawId: '5B00A5', received: '-2 days' });
  await receipt('unknown, new', { rawId: 'FFFF0001', received: '-1 hour' });
  await receipt('unknown, just inside retention', { rawId: 'FFFF0002', received: '-6 days -23 hours' });
  await receipt('unknown, past retention', { rawId: 'FFFF0003', received: '-8 days' });

  await insertInbox(db, { sender: '79995550101', body: 'inbox new', received: '-1 day' });
  await insertInbox(db, { sender: '79995550102', body: 'inbox just inside retention', received: '-89 days -23 hours' });
  await insertInbox(db, { sender: '79995550103', body: 'inbox past retention', received: '-91 days' });

  // Staged parts of incoming SMS: the reassembly timeout is 10 minutes.
  await insertInboxPart(db, { sender: '79995550201', ref: 7, total: 3, seq: 1, text: 'stale first ', received: '-11 minutes' });
  await insertInboxPart(db, { sender: '79995550201', ref: 7, total: 3, seq: 3, text: ' stale third', received: '-11 minutes' });
  await insertInboxPart(db, { sender: '79995550202', ref: 8, total: 2, seq: 1, text: 'complete but ', received: '-12 minutes' });
  await insertInboxPart(db, { sender: '79995550202', ref: 8, total: 2, seq: 2, text: 'never assembled', received: '-12 minutes' });
  await insertInboxPart(db, { sender: '79995550203', ref: 9, total: 2, seq: 1, text: 'fresh first', received: '-1 minute' });
  return { ids, receipts };
}
