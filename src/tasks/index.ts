/**
 * The Graphile Worker tasks of sms-outbox and their schedule. Cron items run once per minute
 * across all workers sharing the database (Graphile Worker de-duplicates them).
 */
import type { TaskList } from 'graphile-worker';
import type { TaskContext } from './context.js';
import { drainTask } from './drain.js';
import { expireTask } from './expire.js';
import { purgeTask } from './purge.js';
import { reconcileTask } from './reconcile.js';
import { redactTask } from './redact.js';

export type { TaskContext } from './context.js';

export function createTaskList(ctx: TaskContext): TaskList {
  return {
    sms_drain: drainTask(ctx),
    sms_expire: expireTask(ctx),
    sms_reconcile: reconcileTask(ctx),
    sms_purge: purgeTask(ctx),
    sms_redact: redactTask(ctx),
  };
}

export const CRONTAB = [
  '* * * * * sms_drain ?max=1',
  '* * * * * sms_expire ?max=1',
  '* * * * * sms_reconcile ?max=1',
  '17 * * * * sms_purge ?max=1',
  '* * * * * sms_redact ?max=1',
].join('\n');
