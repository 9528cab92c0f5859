/**
 * `sms_purge` (hourly): deletes finished outbox rows, inbox rows and receipts older than their
 * retention (SMS_RETENTION_DAYS, SMS_INBOX_RETENTION_DAYS, SMS_UNMATCHED_RECEIPT_RETENTION_DAYS).
 */
import type { Task } from 'graphile-worker';
import { purgeFinished } from '../db/outbox.js';
import { purgeInbox } from '../db/inbox.js';
import { purgeReceipts } from '../db/receipts.js';
import { isTransientConflict } from '../db/row-errors.js';
import type { TaskContext } from './context.js';

/** Batches of the outbox purge tried again after a deadlock, in one run. */
const PURGE_CONFLICT_TRIES = 3;

/** Deletes what is past its retention; returns how many rows of each kind. */
export async function purgeExpiredRows(ctx: Pick<TaskContext, 'db' | 'logger' | 'config'>, outboxBatch = 5000): Promise<{ outbox: number; inbox: number; receipts: number }> {
  const { retentionDays, inboxRetentionDays, unmatchedReceiptRetentionDays } = ctx.config;
  let outbox = 0;
  let conflicts = 0;
  for (;;) {
    let n: number;
    try {
      n = await purgeFinished(ctx.db, retentionDays, outboxBatch);
    } catch (err) {
      // A re-match applying a receipt to a part of a message in this batch, then locking the
      // message, deadlocks with it: Postgres aborts one of the two. The batch goes again.
      if (!isTransientConflict(err) || ++conflicts > PURGE_CONFLICT_TRIES) throw err;
      continue;
    }
    outbox += n;
    if (n === 0) break;
  }
  const inbox = await purgeInbox(ctx.db, inboxRetentionDays);
  const receipts = await purgeReceipts(ctx.db, unmatchedReceiptRetentionDays);
  if (outbox || inbox || receipts) ctx.logger.info({ outbox, inbox, receipts }, 'purged rows past their retention');
  return { outbox, inbox, receipts };
}

export function purgeTask(ctx: TaskContext): Task {
  return async () => {
    await purgeExpiredRows(ctx);
  };
}
