/**
 * The console's inbox and the conversation with one number, read through the login's grants:
 * sms_inbox (incoming SMS) newest first by keyset on its UUIDv7 id, and both directions with one
 * number through public.sms_conversation(phone), the function psql users call: its ownership
 * rules decide which rows a login sees (its own messages and the answers to them; every row for
 * the reader role).
 */
import { sql, type Kysely } from 'kysely';
import type { Database, MessageStatus } from '../schema.js';
import type { Page, PageRequest } from './messages.js';

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

/**
 * Both directions with `phone`, oldest first: the last `limit` rows of public.sms_conversation
 * (before `before`), texts only when asked for and never a sign-in code's.
 */
export async function readConversation(db: Db, phone: string, { withTexts, limit, before }: { withTexts: boolean; limit: number; before?: Date }): Promise<Conversation> {
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
    select c.direction, c.id, c.at, c.status, c.keyword_action,
           case when ${withTexts} and not c.redacted and not c.sign_in_code then c.body end as text,
           c.sign_in_code, c.redacted
      from public.sms_conversation(${phone}) c
     where ${before ?? null}::timestamptz is null or c.at < ${before ?? null}::timestamptz
     order by c.at desc, c.direction desc, c.id desc
     limit ${limit + 1}
  `.execute(db);
  const hasEarlier = rows.length > limit;
  if (hasEarlier) rows.pop();
  // The function's order (at, then an incoming SMS before the reply it got), newest last.
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
}
