/**
 * The console's inbox and the conversation with one number, read through the login's grants:
 * sms_inbox (incoming SMS) newest first by keyset on its UUIDv7 id, and both directions with one
 * number. The conversation is built from sms_outbox rows to the number and sms_inbox rows from
 * it; `conversationFromTables` is the one source there is until public.sms_conversation(phone)
 * exists, and the page takes whichever `ConversationSource` it is given.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, MessageStatus } from '../schema.js';
import { SIGN_IN_CODE_VIA, type Page, type PageRequest } from './messages.js';

type Db = Kysely<Database>;

export interface InboxRow {
  id: string;
  receivedAt: Date;
  sender: string;
  recipient: string;
  parts: number;
  missingParts: number;
  encoding: string;
  keywordAction: string | null;
  bodyReplaced: boolean;
  redacted: boolean;
}

/** sms_inbox.sender as the SMSC sent it: international digits, with or without "+". */
function senderForms(phone: string): string[] {
  return [phone, `+${phone}`];
}

export async function listInbox(db: Db, filter: { sender?: string }, page: PageRequest): Promise<Page<InboxRow>> {
  let q = db
    .selectFrom('sms_inbox')
    .select(['id', 'received_at', 'sender', 'recipient', 'parts', 'missing_parts', 'encoding', 'keyword_action', 'body_replaced', 'redacted_at']);
  if (filter.sender) q = q.where('sender', 'in', senderForms(filter.sender));
  if (page.after) q = q.where('id', '>', page.after).orderBy('id', 'asc');
  else {
    if (page.before) q = q.where('id', '<', page.before);
    q = q.orderBy('id', 'desc');
  }
  const rows = (await q.limit(page.limit + 1).execute()).map(
    (r): InboxRow => ({
      id: r.id,
      receivedAt: r.received_at,
      sender: r.sender,
      recipient: r.recipient,
      parts: r.parts,
      missingParts: r.missing_parts,
      encoding: r.encoding,
      keywordAction: r.keyword_action,
      bodyReplaced: r.body_replaced,
      redacted: r.redacted_at !== null,
    }),
  );
  const more = rows.length > page.limit;
  if (more) rows.pop();
  if (page.after) {
    rows.reverse();
    return { rows, hasNewer: more, hasOlder: true };
  }
  return { rows, hasOlder: more, hasNewer: page.before !== undefined };
}

/** The text of one incoming SMS, or null when not visible; '' with redacted set after redaction. */
export async function inboxText(db: Db, id: string): Promise<{ text: string; redacted: boolean } | null> {
  const r = await db.selectFrom('sms_inbox').select(['body', 'redacted_at']).where('id', '=', id).executeTakeFirst();
  return r ? { text: r.body, redacted: r.redacted_at !== null } : null;
}

export interface ConversationItem {
  direction: 'out' | 'in';
  id: string;
  at: Date;
  /** Outgoing: the message's status. */
  status: MessageStatus | null;
  /** Incoming: what the text did as a keyword (opt_out, opt_in, ignored). */
  keywordAction: string | null;
  /** The text when asked for (`withTexts`), else null; never a sign-in code's. */
  text: string | null;
  signInCode: boolean;
  redacted: boolean;
}

export interface Conversation {
  phone: string;
  /** Oldest first. */
  items: ConversationItem[];
  /** There is more before the first item. */
  hasEarlier: boolean;
}

export type ConversationSource = (db: Db, phone: string, options: { withTexts: boolean; limit: number; before?: Date }) => Promise<Conversation>;

/** Both directions with `phone` from the tables (the login needs the reader role), oldest first. */
export const conversationFromTables: ConversationSource = async (db, phone, { withTexts, limit, before }) => {
  const { rows } = await sql<{
    direction: 'out' | 'in';
    id: string;
    at: Date;
    status: MessageStatus | null;
    keyword_action: string | null;
    text: string | null;
    sign_in_code: boolean;
    redacted: boolean;
  }>`
    select * from (
      (select 'out' as direction, o.id, o.created_at as at, o.status, null::text as keyword_action,
              case when ${withTexts} and o.redacted_at is null and coalesce(o.metadata ->> 'via' <> ${SIGN_IN_CODE_VIA}, true) then o.body end as text,
              coalesce(o.metadata ->> 'via' = ${SIGN_IN_CODE_VIA}, false) as sign_in_code,
              o.redacted_at is not null as redacted
         from public.sms_outbox o
        where o.recipient = ${phone} and (${before ?? null}::timestamptz is null or o.created_at < ${before ?? null}::timestamptz)
        order by o.recipient, o.id desc
        limit ${limit + 1})
      union all
      (select 'in', i.id, i.received_at, null, i.keyword_action,
              case when ${withTexts} and i.redacted_at is null then i.body end,
              false, i.redacted_at is not null
         from public.sms_inbox i
        where i.sender in (${phone}, ${`+${phone}`}) and (${before ?? null}::timestamptz is null or i.received_at < ${before ?? null}::timestamptz)
        order by i.id desc
        limit ${limit + 1})
    ) x
    order by x.at desc, x.id desc
    limit ${limit + 1}
  `.execute(db);
  const hasEarlier = rows.length > limit;
  if (hasEarlier) rows.pop();
  rows.reverse();
  return {
    phone,
    hasEarlier,
    items: rows.map((r) => ({
      direction: r.direction,
      id: r.id,
      at: r.at,
      status: r.status,
      keywordAction: r.keyword_action,
      text: r.text,
      signInCode: r.sign_in_code,
      redacted: r.redacted,
    })),
  };
};
