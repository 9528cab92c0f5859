/**
 * sms_inbound_parked: incoming traffic Postgres refused to store (a constraint, a trigger, a value
 * it cannot hold), kept whole with the error so nothing the SMSC sent is lost and nothing behind it
 * waits. Only bytes, numbers and text this code produces are written here, so parking itself
 * cannot be refused for what the SMSC sent. sms_inbound_replay() (migration 0009) marks rows; the
 * reconcile task replays them.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { pgText } from './pg-text.js';
import type { PartKey, StoredPart } from './inbox.js';
import type { Database, ParkedKind } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Error messages are cut to this length (a trigger's message may be long). */
const MAX_ERROR_MESSAGE = 2000;

export interface ParkError {
  code: string;
  message: string;
}

/** One deliver_sm / data_sm, whole. */
export interface ParkedPdu {
  kind: 'receipt' | 'mo';
  pdu: Buffer;
  sender: string | null;
  recipient: string | null;
}

export interface ParkedRow {
  id: string;
  kind: ParkedKind;
  pdu: Buffer | null;
  key: PartKey | null;
  dataCoding: number | null;
  parts: StoredPart[];
}

function errorColumns(error: ParkError): { error_code: string; error_message: string } {
  return { error_code: pgText(error.code).slice(0, 64), error_message: pgText(error.message).slice(0, MAX_ERROR_MESSAGE) };
}

export async function parkPdu(db: Db, parked: ParkedPdu, error: ParkError): Promise<string> {
  const row = await db
    .insertInto('sms_inbound_parked')
    .values({
      kind: parked.kind,
      command_id: parked.pdu.readUInt32BE(4) | 0,
      pdu: parked.pdu,
      sender: pgText(parked.sender),
      recipient: pgText(parked.recipient),
      ...errorColumns(error),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The parts of a concatenated incoming SMS whose assembly was refused. */
export async function parkSet(db: Db, key: PartKey, parts: StoredPart[], error: ParkError): Promise<string> {
  const row = await db
    .insertInto('sms_inbound_parked')
    .values({
      kind: 'mo_set',
      sender: pgText(key.sender),
      recipient: pgText(key.recipient),
      concat_ref: key.ref,
      concat_total: key.total,
      data_coding: parts[0]?.dataCoding ?? 0,
      part_seqs: parts.map((p) => p.seq),
      part_payloads: parts.map((p) => p.payload),
      ...errorColumns(error),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The oldest row marked for replay, locked for this transaction (skipping rows another worker holds). */
export async function nextMarkedForReplay(db: Db): Promise<ParkedRow | null> {
  const r = await db
    .selectFrom('sms_inbound_parked')
    .select(['id', 'kind', 'pdu', 'sender', 'recipient', 'concat_ref', 'concat_total', 'data_coding', 'part_seqs', 'part_payloads'])
    .where('replay_requested_at', 'is not', null)
    .orderBy('replay_requested_at')
    .orderBy('id')
    .limit(1)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  if (!r) return null;
  const seqs = r.part_seqs ?? [];
  const payloads = r.part_payloads ?? [];
  return {
    id: r.id,
    kind: r.kind,
    pdu: r.pdu,
    key: r.kind === 'mo_set' ? { sender: r.sender ?? '', recipient: r.recipient ?? '', ref: r.concat_ref ?? 0, total: r.concat_total ?? 1 } : null,
    dataCoding: r.data_coding,
    parts: seqs.map((seq, i) => ({ seq, dataCoding: r.data_coding ?? 0, payload: payloads[i] ?? Buffer.alloc(0) })),
  };
}

export async function deleteParked(db: Db, id: string): Promise<void> {
  await db.deleteFrom('sms_inbound_parked').where('id', '=', id).execute();
}

/** A replay failed again: keep the row with the new error, unmarked, one attempt more. */
export async function recordReplayFailure(db: Db, id: string, error: ParkError): Promise<void> {
  await db
    .updateTable('sms_inbound_parked')
    .set({ ...errorColumns(error), attempts: sql`attempts + 1`, last_attempt_at: sql`now()`, replay_requested_at: null })
    .where('id', '=', id)
    .execute();
}
