/**
 * Incoming (MO) SMS. A single-part message goes straight into sms_inbox. Each part of a
 * concatenated one is stored in sms_inbox_part first (so it can be acknowledged to the SMSC once
 * durable); when the last part arrives the set is assembled into one sms_inbox row. Sets that stay
 * incomplete are assembled with what arrived after a timeout (the reconcile task).
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { pgText, storableText } from './pg-text.js';
import type { Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface InboxMessage {
  sender: string;
  recipient: string;
  /** The decoded text; characters Postgres cannot store are replaced on insert (body_replaced). */
  body: string;
  /** The user data as received, without UDH (a concatenated message's parts joined in order). */
  payload: Buffer;
  encoding: string;
  parts: number;
  missingParts: number;
}

export interface StoredPart {
  seq: number;
  dataCoding: number;
  payload: Buffer;
}

export interface PartKey {
  sender: string;
  recipient: string;
  ref: number;
  total: number;
}

export async function insertInboxMessages(db: Db, messages: InboxMessage[]): Promise<string[]> {
  if (!messages.length) return [];
  const rows = await db
    .insertInto('sms_inbox')
    .values(
      messages.map((m) => {
        const body = storableText(m.body);
        return {
          sender: pgText(m.sender),
          recipient: pgText(m.recipient),
          body: body.text,
          body_replaced: body.replaced,
          payload: m.payload,
          encoding: m.encoding,
          parts: m.parts,
          missing_parts: m.missingParts,
        };
      }),
    )
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Stores one part (a duplicate of a stored part is ignored) and returns the whole set when it is
 * now complete. Parts of one set are serialised by a transaction-level advisory lock, so two
 * workers receiving the last two parts at once cannot both miss completing it.
 */
export async function storePart(db: Db, rawKey: PartKey, part: StoredPart): Promise<StoredPart[] | null> {
  const key = storableKey(rawKey);
  await sql`select pg_advisory_xact_lock(hashtextextended(${`${key.sender}|${key.recipient}|${key.ref}|${key.total}`}, 1163))`.execute(db);
  await db
    .insertInto('sms_inbox_part')
    .values({ ...key, seq: part.seq, data_coding: part.dataCoding, payload: part.payload })
    .onConflict((oc) => oc.columns(['sender', 'recipient', 'ref', 'total', 'seq']).doNothing())
    .execute();
  const parts = await partsOf(db, key);
  return parts.length >= key.total ? parts : null;
}

/** The key as stored: addresses are C-strings and hold no NUL, but a replayed row is checked too. */
function storableKey(key: PartKey): PartKey {
  return { sender: pgText(key.sender), recipient: pgText(key.recipient), ref: key.ref, total: key.total };
}

async function partsOf(db: Db, key: PartKey): Promise<StoredPart[]> {
  const rows = await db
    .selectFrom('sms_inbox_part')
    .select(['seq', 'data_coding', 'payload'])
    .where('sender', '=', key.sender)
    .where('recipient', '=', key.recipient)
    .where('ref', '=', key.ref)
    .where('total', '=', key.total)
    .orderBy('seq')
    .execute();
  return rows.map((r) => ({ seq: r.seq, dataCoding: r.data_coding, payload: r.payload }));
}

export async function deleteParts(db: Db, rawKey: PartKey): Promise<void> {
  const key = storableKey(rawKey);
  await db
    .deleteFrom('sms_inbox_part')
    .where('sender', '=', key.sender)
    .where('recipient', '=', key.recipient)
    .where('ref', '=', key.ref)
    .where('total', '=', key.total)
    .execute();
}

/**
 * Incomplete sets whose first part arrived more than `timeoutSeconds` ago, locked for this
 * transaction (skipping sets another worker is assembling).
 */
export async function staleSets(db: Db, timeoutSeconds: number, limit: number): Promise<{ key: PartKey; parts: StoredPart[] }[]> {
  const { rows } = await sql<{ sender: string; recipient: string; ref: number; total: number }>`
    select sender, recipient, ref, total
      from public.sms_inbox_part
     group by sender, recipient, ref, total
    having min(received_at) < now() - make_interval(secs => ${timeoutSeconds})
     limit ${limit}
  `.execute(db);
  const sets: { key: PartKey; parts: StoredPart[] }[] = [];
  for (const key of rows) {
    const { rows: locked } = await sql<{ ok: boolean }>`
      select pg_try_advisory_xact_lock(hashtextextended(${`${key.sender}|${key.recipient}|${key.ref}|${key.total}`}, 1163)) as ok
    `.execute(db);
    if (!locked[0]?.ok) continue;
    const parts = await partsOf(db, key);
    if (parts.length) sets.push({ key, parts });
  }
  return sets;
}

export async function purgeInbox(db: Db, retentionDays: number): Promise<number> {
  const r = await db
    .deleteFrom('sms_inbox')
    .where('received_at', '<', sql<Date>`now() - make_interval(days => ${retentionDays})`)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
