/**
 * `sms_purge` (hourly): deletes finished outbox rows, inbox rows and receipts older than their
 * retention (SMS_RETENTION_DAYS, SMS_INBOX_RETENTION_DAYS, SMS_UNMATCHED_RECEIPT_RETENTION_DAYS).
 */
import type { Task } from 'graphile-worker';
import { purgeFinished } from '../db/outbox.js';
import { purgeInbox } from '../db/inbox.js';
import { purgeReceipts } from '../db/receipts.js';
import type { TaskContext } from './context.js';

/** Deletes what is past its retention; returns how many rows of each kind. */
export async function purgeExpiredRows(ctx: Pick<TaskContext, 'db' | 'logger' | 'config'>, outboxBatch = 5000): Promise<{ outbox: number; inbox: number; receipts: number }> {
  const { retentionDays, inboxRetentionDays, unmatchedReceiptRetentionDays } = ctx.config;
  let outbox = 0;
  for (;;) {
    const n = await purgeFinished(ctx.db, retentionDays, outboxBatch);
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
