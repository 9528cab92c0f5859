/**
 * The console's message list: sms_outbox read through the signed-in login's grants (the reader
 * role), newest first, a page at a time by keyset on the id (a UUIDv7, so time order), filtered by
 * status, recipient, time, category and owner. Bodies are never part of a list; one is read on
 * request (messageText), and a sign-in code's never is.
 *
 * Index use (migration 0018): no filter or a time range is a scan of the primary key; a recipient
 * reads sms_outbox_recipient_idx; a status that ended badly reads sms_outbox_ended_badly_idx.
 *
 * A message a worker is sending is queued in sms_outbox with a lease (migration 0034): the view
 * sms_sending lists those, and the list shows them `sending`, as sms_status does.
 */
import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { Database, MessageCategory, MessageStatus } from '../schema.js';

type Db = Kysely<Database>;

/** Statuses a message ends badly with: what the failures page lists (and the partial index holds, with cancelled). */
export const ENDED_BADLY: readonly MessageStatus[] = ['undelivered', 'expired', 'rejected', 'failed'];
/** Statuses sms_retry puts back in the queue. */
export const RETRYABLE: readonly MessageStatus[] = ENDED_BADLY;

/** metadata.via of the messages sms_auth_send_sms_hook queues: sign-in codes, never shown. */
export const SIGN_IN_CODE_VIA = 'supabase_auth_hook';

export interface MessageFilter {
  status?: MessageStatus | 'ended_badly';
  /** International digits, as sms_outbox.recipient stores them. */
  recipient?: string;
  /** Created at or after / before (by the id's time). */
  from?: Date;
  to?: Date;
  category?: MessageCategory;
  /** sms_outbox.owner exactly (quoted like an identifier: my_app, "MyApp", authenticated:<uuid>). */
  owner?: string;
}

export interface PageRequest {
  /** Older than this id (the next page). */
  before?: string;
  /** Newer than this id (the previous page, or rows that arrived since). */
  after?: string;
  limit: number;
}

export interface MessageListRow {
  id: string;
  createdAt: Date;
  recipient: string;
  sender: string;
  owner: string;
  category: MessageCategory;
  status: MessageStatus;
  segments: number;
  encoding: string;
  attempts: number;
  errorCode: string | null;
  receiptState: string | null;
  submittedAt: Date | null;
  doneAt: Date | null;
  /** Queued by Supabase Auth's Send SMS Hook: its text is a one-time code. */
  signInCode: boolean;
  redacted: boolean;
}

export interface Page<T> {
  rows: T[];
  /** There are rows past the last one (older) / before the first one (newer). */
  hasOlder: boolean;
  hasNewer: boolean;
}

/** The smallest UUIDv7 of a millisecond: ids of rows made at or after `at` are not smaller. */
export function uuidv7Floor(at: Date): string {
  const hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** Held by a worker now (a row of sms_sending): shown as sending. */
const beingSent = sql<boolean>`exists (select from public.sms_sending s where s.id = sms_outbox.id)`;

function filtered<O>(q: SelectQueryBuilder<Database, 'sms_outbox', O>, f: MessageFilter): SelectQueryBuilder<Database, 'sms_outbox', O> {
  if (f.status === 'ended_badly') q = q.where('status', 'in', [...ENDED_BADLY]);
  else if (f.status === 'sending') q = q.where('status', '=', 'queued').where(beingSent);
  else if (f.status === 'queued') q = q.where('status', '=', 'queued').where(sql<boolean>`not ${beingSent}`);
  else if (f.status) q = q.where('status', '=', f.status);
  if (f.recipient) q = q.where('recipient', '=', f.recipient);
  if (f.from) q = q.where('id', '>=', uuidv7Floor(f.from));
  if (f.to) q = q.where('id', '<', uuidv7Floor(f.to));
  if (f.category) q = q.where('category', '=', f.category);
  if (f.owner) q = q.where('owner', '=', f.owner);
  return q;
}

const LIST_COLUMNS = [
  'id',
  'created_at',
  'recipient',
  'sender',
  'owner',
  'category',
  sql<MessageStatus>`case when status = 'queued' and ${beingSent} then 'sending' else status end`.as('status'),
  'segments',
  'encoding',
  'attempts',
  'error_code',
  'receipt_state',
  'submitted_at',
  'done_at',
  'redacted_at',
] as const;

function toRow(r: Record<string, any>): MessageListRow {
  return {
    id: r.id,
    createdAt: r.created_at,
    recipient: r.recipient,
    sender: r.sender,
    owner: r.owner,
    category: r.category,
    status: r.status,
    segments: r.segments,
    encoding: r.encoding,
    attempts: r.attempts,
    errorCode: r.error_code,
    receiptState: r.receipt_state,
    submittedAt: r.submitted_at,
    doneAt: r.done_at,
    signInCode: r.sign_in_code === true,
    redacted: r.redacted_at !== null,
  };
}

/** The query of one page (limit + 1 rows, to know whether there is more); `bench:console` EXPLAINs it. */
export function messageListQuery(db: Db, filter: MessageFilter, page: PageRequest) {
  let q = filtered(
    db.selectFrom('sms_outbox').select([...LIST_COLUMNS, sql<boolean>`coalesce(metadata ->> 'via' = ${SIGN_IN_CODE_VIA}, false)`.as('sign_in_code')]),
    filter,
  );
  if (page.after) {
    q = q.where('id', '>', page.after).orderBy('id', 'asc');
  } else {
    if (page.before) q = q.where('id', '<', page.before);
    q = q.orderBy('id', 'desc');
  }
  return q.limit(page.limit + 1);
}

/** One page of messages, newest first. */
export async function listMessages(db: Db, filter: MessageFilter, page: PageRequest): Promise<Page<MessageListRow>> {
  const rows = (await messageListQuery(db, filter, page).execute()).map(toRow);
  const more = rows.length > page.limit;
  if (more) rows.pop();
  if (page.after) {
    rows.reverse();
    return { rows, hasNewer: more, hasOlder: true };
  }
  return { rows, hasOlder: more, hasNewer: page.before !== undefined };
}

/** One message as a list row (a live update of a row on screen), or null when not visible. */
export async function messageRow(db: Db, id: string): Promise<MessageListRow | null> {
  const r = await db
    .selectFrom('sms_outbox')
    .select([...LIST_COLUMNS, sql<boolean>`coalesce(metadata ->> 'via' = ${SIGN_IN_CODE_VIA}, false)`.as('sign_in_code')])
    .where('id', '=', id)
    .executeTakeFirst();
  return r ? toRow(r) : null;
}

export type MessageText =
  | { kind: 'text'; text: string }
  | { kind: 'sign_in_code' }
  | { kind: 'redacted'; length: number | null; at: Date }
  | { kind: 'not_found' };

/**
 * The body of one message, for the login that asked to see it: never a sign-in code's (the
 * database does not even return it), nor a redacted one.
 */
export async function messageText(db: Db, id: string): Promise<MessageText> {
  const r = await db
    .selectFrom('sms_outbox')
    .select([
      sql<boolean>`coalesce(metadata ->> 'via' = ${SIGN_IN_CODE_VIA}, false)`.as('sign_in_code'),
      sql<string | null>`case when coalesce(metadata ->> 'via' = ${SIGN_IN_CODE_VIA}, false) or redacted_at is not null then null else body end`.as('text'),
      'redacted_at',
      'body_length',
    ])
    .where('id', '=', id)
    .executeTakeFirst();
  if (!r) return { kind: 'not_found' };
  if (r.sign_in_code) return { kind: 'sign_in_code' };
  if (r.redacted_at) return { kind: 'redacted', length: r.body_length, at: r.redacted_at };
  return { kind: 'text', text: r.text ?? '' };
}

/** sms_explain(id): the decision trail (migration 0018), or null for an unknown id or another's. */
export async function explainMessage(db: Db, id: string): Promise<Record<string, any> | null> {
  const { rows } = await sql<{ t: Record<string, any> | null }>`select public.sms_explain(${id}::uuid) as t`.execute(db);
  return rows[0]?.t ?? null;
}
