/**
 * Graphile Worker jobs run the way a worker runs them: queued with graphile_worker.add_job (what
 * the crontab and an operator do), picked up by a running worker's runner, and followed in
 * graphile_worker.jobs until they complete (the row is deleted) or fail (last_error is set).
 */
import type pg from 'pg';
import { waitFor } from './wait.js';

/** Queues `task` and waits until a worker has run it; throws with Graphile's error if it failed. */
export async function runJob(db: pg.Pool, task: string, timeoutMs = 30_000): Promise<void> {
  const { rows } = await db.query<{ id: string }>('select id::text from graphile_worker.add_job($1)', [task]);
  const id = rows[0]!.id;
  let failed: string | undefined;
  await waitFor(
    `job ${task} run`,
    async () => {
      const { rows: left } = await db.query<{ attempts: number; last_error: string | null }>(
        'select attempts, last_error from graphile_worker.jobs where id = $1',
        [id],
      );
      if (left.length && left[0]!.last_error !== null) failed = `job ${task} failed (attempt ${left[0]!.attempts}): ${left[0]!.last_error}`;
      return left.length === 0 || failed !== undefined;
    },
    { timeoutMs },
  );
  if (failed) throw new Error(failed);
}

/** Jobs that failed at least once and are waiting for a retry: task and error. */
export async function failedJobs(db: pg.Pool): Promise<{ task_identifier: string; attempts: number; last_error: string }[]> {
  const { rows } = await db.query<{ task_identifier: string; attempts: number; last_error: string }>(
    'select task_identifier, attempts, last_error from graphile_worker.jobs where last_error is not null order by id',
  );
  return rows;
}
