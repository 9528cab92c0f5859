/**
 * Incoming (MO) SMS. A single-part message goes straight into sms_inbox. Each part of a
 * concatenated one is stored in sms_inbox_part first (so it can be acknowledged to the SMSC once
 * durable); when the last part arrives the set is assembled into one sms_inbox row. Sets that stay
 * incomplete are assembled with what arrived after a timeout (the reconcile task). A part
 * delivered again after its set was assembled is counted, not staged.
 *
 * The worker role writes neither table itself: it calls sms_inbound_part and sms_inbound_store
 * (sql/functions/), so a stop or start keyword is acted on only for what the worker decoded.
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
  /** A concatenated SMS: its parts' reference (the set's key is sender, recipient, ref and parts). */
  concatRef?: number;
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
  const cols = {
    sender: [] as (string | null)[],
    recipient: [] as (string | null)[],
    body: [] as string[],
    replaced: [] as boolean[],
    payload: [] as Buffer[],
    encoding: [] as string[],
    parts: [] as number[],
    missing: [] as number[],
    ref: [] as (number | null)[],
  };
  for (const m of messages) {
    const body = storableText(m.body);
    cols.sender.push(pgText(m.sender));
    cols.recipient.push(pgText(m.recipient));
    cols.body.push(body.text);
    cols.replaced.push(body.replaced);
    cols.payload.push(m.payload);
    cols.encoding.push(m.encoding);
    cols.parts.push(m.parts);
    cols.missing.push(m.missingParts);
    cols.ref.push(m.concatRef ?? null);
  }
  // One statement for the batch, stored in the order given; a redelivery counted on an earlier
  // row returns no id.
  const { rows } = await sql<{ id: string | null }>`
    select public.sms_inbound_store(m.sender, m.recipient, m.body, m.replaced, m.payload, m.encoding, m.parts, m.missing, m.ref) as id
      from unnest(${cols.sender}::text[], ${cols.recipient}::text[], ${cols.body}::text[], ${cols.replaced}::boolean[],
                  ${cols.payload}::bytea[], ${cols.encoding}::text[], ${cols.parts}::integer[], ${cols.missing}::integer[],
                  ${cols.ref}::integer[]) with ordinality as m(sender, recipient, body, replaced, payload, encoding, parts, missing, ref, n)
     order by m.n`.execute(db);
  return rows.flatMap((r) => (r.id === null ? [] : [r.id]));
}

/** What became of a part: staged until the rest comes, a duplicate of a set already assembled, or the last of its set. */
export type PartOutcome = { status: 'staged' | 'duplicate' } | { status: 'complete'; parts: StoredPart[] };

/**
 * Stores one part (sms_inbound_part: a duplicate of a staged part is kept once, a part delivered
 * again after its set was assembled is counted, not staged) and returns the whole set when it is
 * now complete: the caller stores the SMS (insertInboxMessages with `concatRef`) in the same
 * transaction. Parts of one set are serialised by a transaction-level advisory lock there, so two
 * workers receiving the last two parts at once cannot both miss completing it.
 */
export async function storePart(db: Db, rawKey: PartKey, part: StoredPart): Promise<PartOutcome> {
  const key = storableKey(rawKey);
  const { rows } = await sql<{ status: 'staged' | 'duplicate' | 'complete'; seqs: number[] | null; data_codings: number[] | null; payloads: Buffer[] | null }>`
    select status, seqs, data_codings, payloads
      from public.sms_inbound_part(${key.sender}, ${key.recipient}, ${key.ref}, ${key.total}, ${part.seq}, ${part.dataCoding}, ${part.payload})`.execute(db);
  const r = rows[0]!;
  if (r.status !== 'complete') return { status: r.status };
  return { status: 'complete', parts: (r.seqs ?? []).map((seq, i) => ({ seq, dataCoding: r.data_codings![i]!, payload: r.payloads![i]! })) };
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
