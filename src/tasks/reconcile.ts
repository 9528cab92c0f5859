/**
 * `sms_reconcile` (every minute, and at once after `select sms_inbound_replay(...)`):
 *
 * - matches receipts that arrived before their message's parts were known to this database (a
 *   receipt delivered on another worker's session while the first worker was still writing the
 *   submit result, or one that raced two transactions);
 * - assembles concatenated incoming SMS whose missing parts never came, after
 *   MO_REASSEMBLY_TIMEOUT_S. A set whose assembly Postgres refuses (a trigger on sms_inbox, say)
 *   is parked in sms_inbound_parked with its parts, and the others are assembled all the same;
 * - replays the parked rows an operator marked with sms_inbound_replay(): each is written the way
 *   the worker writes it and deleted, or, refused again, kept with the new error.
 */
import type { Task } from 'graphile-worker';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from '../logger.js';
import type { Database } from '../db/schema.js';
import { assembledMessage, rematchReceipts, writeInbound } from '../db/inbound-writes.js';
import { oldestUnmatched } from '../db/receipts.js';
import { deleteParts, insertInboxMessages, staleSets } from '../db/inbox.js';
import { deleteParked, nextMarkedForReplay, parkSet, recordReplayFailure, type ParkedRow } from '../db/parked.js';
import { errorCode, tryRow } from '../db/row-errors.js';
import { decodeInboundPdu } from '../smpp/inbound.js';
import type { TaskContext } from './context.js';

/** Incomplete incoming sets are assembled with what arrived after this long. */
export const MO_REASSEMBLY_TIMEOUT_S = 600;

/** Parked rows replayed per run at most (the rest wait for the next run). */
const REPLAY_BATCH = 1000;

/**
 * Matches the last day's unmatched receipts, `batch` at a time, assembles the incoming sets that
 * waited past the timeout, and replays parked rows an operator marked. Returns how many receipts
 * matched and how many SMS were assembled.
 */
export async function reconcile(ctx: Pick<TaskContext, 'db' | 'logger'>, batch = 1000): Promise<{ matched: number; assembled: number }> {
  let matched = 0;
  // Only look at each unmatched receipt once per run (they stay until the retention purge).
  let offsetGuard = 0;
  for (;;) {
    const waiting = await oldestUnmatched(ctx.db, batch, offsetGuard);
    const n = (await rematchReceipts(ctx.db, waiting)).length;
    matched += n;
    offsetGuard += waiting.length - n;
    if (waiting.length < batch) break;
  }
  if (matched) ctx.logger.info({ matched }, 'matched receipts that had arrived before their message was known');

  const assembled = await assembleStaleSets(ctx.db, ctx.logger);
  await replayParked(ctx.db, ctx.logger);
  return { matched, assembled };
}

export function reconcileTask(ctx: TaskContext): Task {
  return async () => {
    await reconcile(ctx);
  };
}

/** Assembles incomplete sets past the timeout, each in a savepoint; a set Postgres refuses is parked. */
async function assembleStaleSets(db: Kysely<Database>, logger: Logger): Promise<number> {
  const outcome = await db.transaction().execute(async (tx) => {
    const sets = await staleSets(tx, MO_REASSEMBLY_TIMEOUT_S, 500);
    const assembled: { sender: string; parts: number; missing: number }[] = [];
    const parked: { id: string; code: string }[] = [];
    for (const { key, parts } of sets) {
      const message = assembledMessage(key, parts);
      const written = await tryRow(tx, () => insertInboxMessages(tx, [message]));
      if (written.ok) {
        assembled.push({ sender: message.sender, parts: message.parts, missing: message.missingParts });
      } else {
        const code = errorCode(written.error);
        parked.push({ id: await parkSet(tx, key, parts, { code, message: (written.error as Error).message }), code });
      }
      await deleteParts(tx, key);
    }
    return { assembled, parked };
  });
  for (const m of outcome.assembled) {
    logger.warn({ sender: m.sender, parts: m.parts, missing: m.missing }, 'incoming SMS assembled with parts missing after the reassembly timeout');
  }
  for (const p of outcome.parked) {
    logger.warn({ parkedId: p.id, code: p.code }, 'Postgres refused an incomplete incoming SMS: its parts are parked in sms_inbound_parked (after fixing the cause: select sms_inbound_replay(id))');
  }
  return outcome.assembled.length;
}

/**
 * Replays rows marked by sms_inbound_replay(), one transaction each: stored and deleted, or, when
 * Postgres refuses it again (or it no longer decodes), kept with the new error and unmarked.
 * Any other failure (the database) ends the run; the row stays marked for the next.
 */
async function replayParked(db: Kysely<Database>, logger: Logger): Promise<void> {
  let replayed = 0;
  let failed = 0;
  for (let i = 0; i < REPLAY_BATCH; i++) {
    const done = await db.transaction().execute(async (tx) => {
      const row = await nextMarkedForReplay(tx);
      if (!row) return null;
      let write: () => Promise<unknown>;
      try {
        write = replayWrite(tx, row);
      } catch (err) {
        await recordReplayFailure(tx, row.id, { code: errorCode(err), message: (err as Error).message });
        return { id: row.id, ok: false, code: errorCode(err) };
      }
      const written = await tryRow(tx, write);
      if (written.ok) {
        await deleteParked(tx, row.id);
        return { id: row.id, ok: true, code: '' };
      }
      await recordReplayFailure(tx, row.id, { code: errorCode(written.error), message: (written.error as Error).message });
      return { id: row.id, ok: false, code: errorCode(written.error) };
    });
    if (!done) break;
    if (done.ok) {
      replayed++;
    } else {
      failed++;
      logger.warn({ parkedId: done.id, code: done.code }, 'a parked incoming PDU was refused again; it stays in sms_inbound_parked with the new error');
    }
  }
  if (replayed || failed) logger.info({ replayed, failed }, 'replayed parked incoming traffic');
}

/** How a parked row is written: a PDU decoded afresh (throws if it no longer decodes), or a set assembled. */
function replayWrite(tx: Transaction<Database>, row: ParkedRow): () => Promise<unknown> {
  if (row.kind === 'mo_set') {
    const key = row.key!;
    return () => insertInboxMessages(tx, [assembledMessage(key, row.parts)]);
  }
  const event = decodeInboundPdu(row.pdu!);
  return () => writeInbound(tx, [event]);
}
