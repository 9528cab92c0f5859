/**
 * How receipts and incoming SMS are written to Postgres: by the worker's store (its group commit)
 * as they arrive, and by the reconcile task when it replays a parked PDU, assembles a set whose
 * parts stopped coming, or matches receipts stored before their message's parts. The caller
 * decides the transaction: incoming SMS parts are stored and assembled under a transaction-level
 * advisory lock (src/db/inbox.ts), so a write with parts must be in one.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';
import { applyReceipts, markMatched, storeUnmatched, type IncomingReceipt, type ReceiptMatch, type StoredReceipt } from './receipts.js';
import { deleteParts, insertInboxMessages, storePart, type InboxMessage, type PartKey, type StoredPart } from './inbox.js';
import { encodingName } from '../smpp/data-coding.js';
import type { InboundContent } from '../smpp/inbound.js';
import { receiptIdCandidates } from '../smpp/message-id.js';
import { reassemble } from '../smpp/mo.js';
import { isTransientConflict } from './row-errors.js';
import { normalizeReceiptState } from '../smpp/receipt-state.js';

type Db = Kysely<Database> | Transaction<Database>;

/** What receipt matching needs from a receipt: its id in every form, its state normalised. */
function matchFields(rawId: string, state: string | null, error: string | null): Pick<IncomingReceipt, 'candidates' | 'state' | 'error'> {
  return { candidates: receiptIdCandidates(rawId), state: normalizeReceiptState(state), error };
}

export interface InboundWritten {
  /** Receipts matched to a submitted part. */
  matches: ReceiptMatch[];
  /** sms_receipt ids of the receipts that matched nothing yet. */
  unmatchedIds: string[];
  /** Rows added to sms_inbox. */
  inbox: number;
}

/** Writes receipts and incoming SMS parts; a part that completes its set adds the whole message. */
export async function writeInbound(db: Db, events: InboundContent[]): Promise<InboundWritten> {
  const receipts: IncomingReceipt[] = [];
  const complete: InboxMessage[] = [];
  const parts: InboundContent[] = [];
  for (const event of events) {
    if (event.kind === 'mo') {
      parts.push(event);
      continue;
    }
    const r = event.receipt;
    receipts.push({
      rawId: r.messageId,
      ...matchFields(r.messageId, r.state, r.error),
      text: r.text,
      source: r.source || null,
      destination: r.destination || null,
    });
  }

  let matches: ReceiptMatch[] = [];
  let unmatchedIds: string[] = [];
  if (receipts.length) {
    matches = await applyReceipts(db, receipts);
    const matched = new Set(matches.map((m) => m.index));
    unmatchedIds = await storeUnmatched(db, receipts.filter((_, i) => !matched.has(i)));
  }

  for (const event of parts) {
    if (event.kind !== 'mo') continue;
    const part = event.part;
    if (!part.concat) {
      complete.push({
        sender: part.source,
        recipient: part.destination,
        body: part.text,
        payload: part.payload,
        encoding: encodingName(part.dataCoding),
        parts: 1,
        missingParts: 0,
      });
      continue;
    }
    const key: PartKey = { sender: part.source, recipient: part.destination, ref: part.concat.ref, total: part.concat.total };
    const set = await storePart(db, key, { seq: part.concat.seq, dataCoding: part.dataCoding, payload: part.payload });
    if (set) {
      complete.push(assembledMessage(key, set));
      await deleteParts(db, key);
    }
  }
  const inbox = (await insertInboxMessages(db, complete)).length;
  return { matches, unmatchedIds, inbox };
}

/** The sms_inbox row for a set of stored parts (complete, or what arrived of it). */
export function assembledMessage(key: PartKey, parts: StoredPart[]): InboxMessage {
  const dataCoding = parts[0]?.dataCoding ?? 0;
  const { text, missing, payload } = reassemble(parts, key.total, dataCoding);
  return {
    sender: key.sender,
    recipient: key.recipient,
    body: text,
    payload,
    encoding: encodingName(dataCoding),
    parts: key.total,
    missingParts: missing.length,
  };
}

/** Tries of one re-match that raced the purge or another writer (see rematchReceipts). */
const REMATCH_TRIES = 3;

/**
 * Matches receipts stored unmatched (sms_receipt) to the parts now known, and marks each match;
 * returns the matches (`index` into `waiting`). Run by the store after an outcome flush and by the
 * reconcile task, in a transaction of its own.
 *
 * The purge may be deleting a matched message at that moment: its DELETE is in flight when the
 * match reads the message, and marking the receipt as that message's then fails on sms_receipt's
 * foreign key (23503) once the purge commits; or the two lock the same rows in another order
 * (a deadlock, 40P01). Both are races, not errors of the receipts: the match is tried again in a
 * fresh transaction, where a purged message matches nothing and the receipt stays unmatched.
 */
export async function rematchReceipts(db: Kysely<Database>, waiting: StoredReceipt[]): Promise<ReceiptMatch[]> {
  if (!waiting.length) return [];
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(async (tx) => {
        const matches = await applyReceipts(
          tx,
          waiting.map((w) => matchFields(w.rawId, w.state, w.error)),
        );
        await markMatched(tx, matches.map((m) => ({ receiptId: waiting[m.index]!.id, outboxId: m.outboxId })));
        return matches;
      });
    } catch (err) {
      if (attempt >= REMATCH_TRIES || !racedThePurge(err)) throw err;
    }
  }
}

/** A message deleted under a receipt being matched to it, or a deadlock with the deleting transaction. */
function racedThePurge(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string };
  return (e.code === '23503' && e.constraint === 'sms_receipt_outbox_id_fkey') || isTransientConflict(err);
}
