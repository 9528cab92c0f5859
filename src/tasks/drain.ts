/**
 * `sms_drain`: drain the due rows of the outbox through this worker's session.
 *
 * The pump runs continuously and is woken within milliseconds by the outbox NOTIFY; this task is
 * how Graphile Worker drives it besides: from the crontab every minute (a safety net for a
 * missed wake-up), or when anyone runs `select graphile_worker.add_job('sms_drain')` after, say,
 * a bulk import. The job ends when the pump runs out of due work, after `maxMs` under a
 * sustained backlog (the pump keeps going; the job need not), or at once when the worker is
 * stopping.
 */
import type { Task } from 'graphile-worker';
import type { TaskContext } from './context.js';

/** Kicks the pump; resolves when it has run out of due work, or after `maxMs`. */
export async function drainDue(ctx: TaskContext, maxMs = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ctx.pump.drainOnce(), new Promise<void>((r) => (timer = setTimeout(r, maxMs)))]);
  clearTimeout(timer);
}

export function drainTask(ctx: TaskContext, maxMs = 30_000): Task {
  return async () => {
    await drainDue(ctx, maxMs);
  };
}
