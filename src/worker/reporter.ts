/**
 * Tells Postgres how this worker is doing (sms_worker_state, migration 0018), so the console and
 * `sms-outbox status` show each worker's SMPP bind state and last heartbeat: the whole row at
 * start and on every change of the session's state, the heartbeat alone every `heartbeatMs`,
 * and `stopped` at a clean shutdown. A write that fails is logged and tried again with the next
 * change or heartbeat; it never holds up sending.
 */
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Database, WorkerBindState } from '../db/schema.js';
import { forgetGoneWorkers, reportWorkerState, touchWorkerHeartbeat } from '../db/workers.js';
import type { Logger } from '../logger.js';
import type { SessionState, SmppSession } from '../smpp/session.js';
import type { WorkerMetrics } from './metrics.js';

/** How often a running worker writes its heartbeat. */
export const HEARTBEAT_MS = 10_000;
/** Rows of workers not heard of for this long are deleted when a worker starts. */
const FORGET_AFTER_MS = 7 * 86_400_000;

export interface ReporterOptions {
  workerId: string;
  /** SMPP_URL without its password. */
  smsc: string;
  bindMode: string;
  version: string;
  heartbeatMs?: number;
}

export class WorkerReporter {
  private readonly startedAt = new Date();
  private readonly heartbeatMs: number;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private stopped = false;
  /** The session's state as last seen, since when, and when it last stopped being bound. */
  private session: { state: SessionState; since: Date; lastBoundAt: Date | null } = { state: 'disconnected', since: new Date(), lastBoundAt: null };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    private readonly options: ReporterOptions,
    private readonly metrics: WorkerMetrics,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  }

  /** Reports the state now and on every change of `session`'s, and the heartbeat from now on. */
  start(session: SmppSession): void {
    this.session = { state: session.state, since: new Date(), lastBoundAt: null };
    session.on('state', (state: SessionState) => {
      if (state === this.session.state) return;
      const now = new Date();
      if (this.session.state === 'bound') this.session.lastBoundAt = now;
      this.session = { ...this.session, state, since: now };
      this.changed();
    });
    // Registered after the metrics' own listeners, so the problem read (metrics.sessionStatus()) is the new one.
    for (const event of ['bound', 'disconnected', 'bind_failed'] as const) session.on(event, () => this.changed());
    forgetGoneWorkers(this.db, FORGET_AFTER_MS).catch((err: unknown) => this.log.debug({ err }, 'could not delete the rows of long-gone workers'));
    this.changed();
    this.timer = setInterval(() => this.beat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Writes `stopped` (after any write in flight); no more writes after it. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopped = true;
    await this.writing;
    await this.write('stopped').catch((err: unknown) => this.log.warn({ err }, 'could not report the worker stopped in sms_worker_state'));
  }

  /** The state changed: one write now, or one more after the write in flight. */
  private changed(): void {
    if (this.stopped) return;
    if (this.dirty) return;
    this.dirty = true;
    this.writing = this.writing.then(async () => {
      this.dirty = false;
      if (this.stopped) return;
      await this.write().catch((err: unknown) => this.log.warn({ err }, 'could not report the worker state in sms_worker_state'));
    });
  }

  private beat(): void {
    if (this.stopped) return;
    this.writing = this.writing.then(async () => {
      if (this.stopped) return;
      try {
        if (!(await touchWorkerHeartbeat(this.db, this.options.workerId))) await this.write();
      } catch (err) {
        this.log.warn({ err }, 'could not write the heartbeat to sms_worker_state');
      }
    });
  }

  private async write(stopped?: 'stopped'): Promise<void> {
    const s = this.session;
    const state: WorkerBindState = stopped ?? s.state;
    const lastProblem = this.metrics.sessionStatus().lastProblem ?? null;
    await reportWorkerState(this.db, {
      workerId: this.options.workerId,
      host: hostname(),
      pid: process.pid,
      version: this.options.version,
      smsc: this.options.smsc,
      bindMode: this.options.bindMode,
      bindState: state,
      bindStateSince: stopped ? new Date() : s.since,
      lastBoundAt: s.state === 'bound' && !stopped ? null : s.lastBoundAt,
      lastProblem,
      startedAt: this.startedAt,
      heartbeatIntervalMs: this.heartbeatMs,
      stoppedAt: stopped ? new Date() : null,
    });
  }
}
