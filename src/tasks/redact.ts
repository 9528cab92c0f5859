/**
 * `sms_redact` (every minute): blanks the bodies of finished messages and incoming SMS older than
 * sms_settings.redact_after / inbox_redact_after, keeping a keyed hash, the length and the
 * segment count (see migrations/0013_redaction.sql). Nothing happens while both are unset. The
 * purge of whole rows (`sms_purge`) is separate and follows the SMS_*_RETENTION_DAYS.
 */
import type { Task } from 'graphile-worker';
import { redactDue } from '../db/redaction.js';
import type { TaskContext } from './context.js';

/** Redacts everything past its redaction age, `batch` rows of each kind per statement; returns how many. */
export async function redactAll(ctx: Pick<TaskContext, 'db' | 'logger'>, batch = 1000): Promise<{ messages: number; inbox: number }> {
  let messages = 0;
  let inbox = 0;
  for (;;) {
    const n = await redactDue(ctx.db, batch);
    messages += n.messages;
    inbox += n.inbox;
    if (n.messages < batch && n.inbox < batch) break;
  }
  if (messages || inbox) ctx.logger.info({ messages, inbox }, 'redacted the bodies of messages past their redaction age');
  return { messages, inbox };
}

export function redactTask(ctx: TaskContext, batch = 1000): Task {
  return async () => {
    await redactAll(ctx, batch);
  };
}
