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
import { insertInboxMessages, storePart, type InboxMessage, type PartKey, type StoredPart } from './inbox.js';
import { callReplyHandlers, type HandlerCalls, type ReplyHandlerOptions } from './reply-handlers.js';
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
  /** Rows added to sms_inbox (a redelivered copy adds none: sms_private.inbox_arrival). */
  inbox: number;
  /** Parts of concatenated SMS delivered again after their set was assembled: counted, not stored. */
  duplicateParts: number;
  /** Reply handler calls made for them. */
  handlers: HandlerCalls;
}

/** How to call the reply handlers of the SMS stored (src/db/reply-handlers.ts). */
export interface ReplyRun {
  options: ReplyHandlerOptions;
  /** One handler call per statement (after a statement had to be ended). */
  onePerStatement?: boolean;
  /** Called before the first handler runs: the connection must be reset afterwards. */
  ran: () => void;
  /** Called when a handler statement had to be ended (src/db/reply-handlers.ts), with the rule suspended, if known. */
  onStuck?: (ruleId: string | null) => void;
}

/** Calls the reply handlers of the SMS just stored, when there is a transaction to call them in. */
export async function handleStored(db: Db, inboxIds: string[], replies: ReplyRun | undefined): Promise<HandlerCalls> {
  if (!replies || !inboxIds.length) return { calls: 0, failed: 0 };
  if (!db.isTransaction) throw new Error('reply handlers run in the transaction that stores the SMS: pass one');
  replies.ran();
  return callReplyHandlers(db as Transaction<Database>, inboxIds, replies.options, replies.onePerStatement, replies.onStuck);
}

/**
 * Writes receipts and incoming SMS parts; a part that completes its set adds the whole message,
 * and, with `replies`, the reply handlers of the messages stored are called in the same
 * transaction.
 */
export async function writeInbound(db: Db, events: InboundContent[], replies?: ReplyRun): Promise<InboundWritten> {
  const receipts: IncomingReceipt[] = [];
  const complete: InboxMessage[] = [];
  const parts: InboundContent[] = [];
  let duplicateParts = 0;
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
    const outcome = await storePart(db, key, { seq: part.concat.seq, dataCoding: part.dataCoding, payload: part.payload });
    if (outcome.status === 'complete') complete.push(assembledMessage(key, outcome.parts));
    else if (outcome.status === 'duplicate') duplicateParts++;
  }
  const stored = await insertInboxMessages(db, complete);
  const handlers = await handleStored(db, stored, replies);
  return { matches, unmatchedIds, inbox: stored.length, duplicateParts, handlers };
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
    concatRef: key.ref,
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
