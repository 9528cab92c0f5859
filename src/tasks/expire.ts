/**
 * `sms_expire`: marks queued messages past their expires_at as `expired` (the crontab runs it
 * every minute; the claim also expires rows it meets, so this catches rows no worker reached,
 * e.g. scheduled far ahead or while every worker was down or had no SMPP session).
 */
import type { Task } from 'graphile-worker';
import { expireOverdue } from '../db/outbox.js';
import type { TaskContext } from './context.js';

/** Expires every overdue queued row, `batch` rows per statement; returns how many. */
export async function expireQueued(ctx: Pick<TaskContext, 'db' | 'logger' | 'onExpired'>, batch = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await expireOverdue(ctx.db, batch);
    total += n;
    if (n < batch) break;
  }
  if (total) {
    ctx.logger.info({ count: total }, 'expired queued messages past their expires_at');
    ctx.onExpired?.(total);
  }
  return total;
}

export function expireTask(ctx: TaskContext): Task {
  return async () => {
    await expireQueued(ctx);
  };
}
