/**
 * sms_worker_state (migration 0018): each worker's SMPP bind state and heartbeat, written by the
 * worker (src/worker/reporter.ts) and read by `sms-outbox status` and the console.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, WorkerBindState } from './schema.js';

type Db = Kysely<Database>;

export interface WorkerStateReport {
  workerId: string;
  host: string;
  pid: number;
  version: string;
  smsc: string;
  bindMode: string;
  bindState: WorkerBindState;
  bindStateSince: Date;
  lastBoundAt: Date | null;
  lastProblem: string | null;
  startedAt: Date;
  heartbeatIntervalMs: number;
  stoppedAt?: Date | null;
}

/** Writes the whole state of one worker (insert or replace), with a fresh heartbeat. */
export async function reportWorkerState(db: Db, r: WorkerStateReport): Promise<void> {
  const row = {
    worker_id: r.workerId,
    host: r.host,
    pid: r.pid,
    version: r.version,
    smsc: r.smsc,
    bind_mode: r.bindMode,
    bind_state: r.bindState,
    bind_state_since: r.bindStateSince,
    last_bound_at: r.lastBoundAt,
    last_problem: r.lastProblem === null ? null : r.lastProblem.slice(0, 500),
    started_at: r.startedAt,
    heartbeat_interval: `${r.heartbeatIntervalMs} milliseconds`,
    stopped_at: r.stoppedAt ?? null,
  };
  await db
    .insertInto('sms_worker_state')
    .values(row)
    .onConflict((oc) => oc.column('worker_id').doUpdateSet({ ...row, heartbeat_at: sql<Date>`now()` }))
    .execute();
}

/** The heartbeat alone; false when the row is gone (deleted by hand): the caller reports it whole. */
export async function touchWorkerHeartbeat(db: Db, workerId: string): Promise<boolean> {
  const r = await db.updateTable('sms_worker_state').set({ heartbeat_at: sql<Date>`now()` }).where('worker_id', '=', workerId).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Deletes the rows of workers whose last heartbeat is older than `olderThanMs` (gone long ago); returns how many. */
export async function forgetGoneWorkers(db: Db, olderThanMs: number): Promise<number> {
  const r = await db
    .deleteFrom('sms_worker_state')
    .where('heartbeat_at', '<', sql<Date>`now() - ${olderThanMs} * interval '1 millisecond'`)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

export interface WorkerStateRow {
  workerId: string;
  host: string;
  pid: number;
  version: string;
  smsc: string;
  bindMode: string;
  bindState: WorkerBindState;
  bindStateSince: Date;
  lastBoundAt: Date | null;
  lastProblem: string | null;
  startedAt: Date;
  heartbeatAt: Date;
  /** Seconds since the last heartbeat, by the database's clock. */
  heartbeatAgeSeconds: number;
  heartbeatIntervalSeconds: number;
  /** No heartbeat for three intervals, and not stopped: the process is gone (killed, host down). */
  gone: boolean;
  stoppedAt: Date | null;
}

/**
 * The workers seen in the last `withinMs` (default a day): running ones first, then by id.
 * Needs SELECT on sms_worker_state (the reader role).
 */
export async function listWorkers(db: Db, withinMs = 86_400_000): Promise<WorkerStateRow[]> {
  const rows = await db
    .selectFrom('sms_worker_state as w')
    .select([
      'w.worker_id',
      'w.host',
      'w.pid',
      'w.version',
      'w.smsc',
      'w.bind_mode',
      'w.bind_state',
      'w.bind_state_since',
      'w.last_bound_at',
      'w.last_problem',
      'w.started_at',
      'w.heartbeat_at',
      'w.stopped_at',
      sql<number>`extract(epoch from now() - w.heartbeat_at)::float8`.as('age'),
      sql<number>`extract(epoch from w.heartbeat_interval)::float8`.as('interval'),
    ])
    .where('w.heartbeat_at', '>', sql<Date>`now() - ${withinMs} * interval '1 millisecond'`)
    .orderBy(sql`w.stopped_at is not null`)
    .orderBy('w.worker_id')
    .execute();
  return rows.map((r) => ({
    workerId: r.worker_id,
    host: r.host,
    pid: r.pid,
    version: r.version,
    smsc: r.smsc,
    bindMode: r.bind_mode,
    bindState: r.bind_state,
    bindStateSince: r.bind_state_since,
    lastBoundAt: r.last_bound_at,
    lastProblem: r.last_problem,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    heartbeatAgeSeconds: Number(r.age),
    heartbeatIntervalSeconds: Number(r.interval),
    gone: r.stopped_at === null && Number(r.age) > 3 * Number(r.interval),
    stoppedAt: r.stopped_at,
  }));
}
