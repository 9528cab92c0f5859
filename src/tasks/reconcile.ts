/**
 * `sms_reconcile` (every minute): matches receipts that arrived before their message's parts
 * were known to this database (a receipt delivered on another worker's session while the first
 * worker was still writing the submit result, or one that raced two transactions), and assembles
 * concatenated incoming SMS whose missing parts never came, after SMS_MO_REASSEMBLY_TIMEOUT.
 */
import type { Task } from 'graphile-worker';
import { applyReceipts, markMatched, oldestUnmatched } from '../db/receipts.js';
import { deleteParts, insertInboxMessages, staleSets } from '../db/inbox.js';
import { reassemble } from '../smpp/mo.js';
import { encodingName, matchFields } from '../worker/inbound-format.js';
import type { TaskContext } from './context.js';

/** Incomplete incoming sets are assembled with what arrived after this long. */
export const MO_REASSEMBLY_TIMEOUT_S = 600;

/**
 * Matches the last day's unmatched receipts, `batch` at a time, and assembles the incoming sets
 * that waited past the timeout. Returns how many receipts matched and how many SMS were assembled.
 */
export async function reconcile(ctx: TaskContext, batch = 1000): Promise<{ matched: number; assembled: number }> {
  let matched = 0;
  // Only look at each unmatched receipt once per run (they stay until the retention purge).
  let offsetGuard = 0;
  for (;;) {
    const n = await ctx.db.transaction().execute(async (tx) => {
      const waiting = await oldestUnmatched(tx, batch, offsetGuard);
      if (!waiting.length) return { seen: 0, matched: 0 };
      const matches = await applyReceipts(
        tx,
        waiting.map((w) => matchFields(w.rawId, w.state, w.error)),
      );
      await markMatched(tx, matches.map((m) => ({ receiptId: waiting[m.index]!.id, outboxId: m.outboxId })));
      return { seen: waiting.length, matched: matches.length };
    });
    matched += n.matched;
    offsetGuard += n.seen - n.matched;
    if (n.seen < batch) break;
  }
  if (matched) ctx.logger.info({ matched }, 'matched receipts that had arrived before their message was known');

  const assembled = await ctx.db.transaction().execute(async (tx) => {
    const sets = await staleSets(tx, MO_REASSEMBLY_TIMEOUT_S, 500);
    const messages = sets.map(({ key, parts }) => {
      const { text, missing } = reassemble(parts, key.total, parts[0]!.dataCoding);
      return { sender: key.sender, recipient: key.recipient, body: text, encoding: encodingName(parts[0]!.dataCoding), parts: key.total, missingParts: missing.length };
    });
    await insertInboxMessages(tx, messages);
    for (const { key } of sets) await deleteParts(tx, key);
    return messages;
  });
  for (const m of assembled) {
    ctx.logger.warn({ sender: m.sender, parts: m.parts, missing: m.missingParts }, 'incoming SMS assembled with parts missing after the reassembly timeout');
  }
  return { matched, assembled: assembled.length };
}

export function reconcileTask(ctx: TaskContext): Task {
  return async () => {
    await reconcile(ctx);
  };
}
