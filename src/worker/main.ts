/**
 * `sms-outbox worker`: one process holding one SMPP session, a Graphile Worker runner for the
 * tasks in src/tasks, and the pump that drains the outbox through the session.
 *
 *   app: sms_send ─► sms_outbox (queued) ─NOTIFY─► WakeupListener ─► Pump.claim ─► SmppSession.submit
 *        ─► OutboxStore (sent / queued / failed) ◄─ receipts and MO from the session (ack after commit)
 */
import { run, type Runner } from 'graphile-worker';
import pg from 'pg';
import type { Config, SmppConfig, WorkerConfig } from '../config.js';
import { required } from '../config.js';
import { connectOrExplain, describeDatabase, explainDatabaseError } from '../db/connect.js';
import { EXIT_CONFIG, StartupError } from '../errors.js';
import type { Logger } from '../logger.js';
import { assertSchemaCurrent, SchemaVersionError } from '../db/migrate.js';
import { createDb, createPool } from '../db/pool.js';
import type { ReplyHandlerOptions } from '../db/reply-handlers.js';
import { graphileLogger } from '../db/graphile-logger.js';
import { visibleRoleNames } from '../db/roles.js';
import { SmppSession, type SessionOptions } from '../smpp/session.js';
import { createTaskList, CRONTAB } from '../tasks/index.js';
import { Binds } from './binds.js';
import { LeaseKeeper } from './leases.js';
import { Pump, type PumpEvents } from './pump.js';
import { PostgresRateLimiter } from './rate-limiter.js';
import { OutboxStore, type StoreEvents } from './store.js';
import { WakeupListener } from './wakeup.js';
import { packageVersion, WorkerMetrics } from './metrics.js';
import { WorkerReporter } from './reporter.js';
import { startHttpServer } from './http.js';
import { WORKER_EVENT_NAMES, WorkerEvents } from './events.js';
import { workerTiming, type WorkerTiming } from './timing.js';

export interface WorkerHandle {
  /** The first SMPP session (the only one unless SMPP_BINDS is above 1). */
  session: SmppSession;
  /** Every SMPP session of this worker (SMPP_BINDS). */
  sessions: readonly SmppSession[];
  pump: Pump;
  store: OutboxStore;
  pool: pg.Pool;
  metrics: WorkerMetrics;
  /** What the worker's parts did (claimed, submitted, flushed, idle, ...): src/worker/events.ts. */
  events: WorkerEvents;
  /** Port of the /metrics, /healthz, /readyz server, when METRICS_PORT is set. */
  httpPort: number | undefined;
  /** Stops claiming, drains the window, writes results, unbinds and closes everything (bounded). */
  stop(): Promise<void>;
}

export interface WorkerHooks {
  pump?: PumpEvents;
  store?: StoreEvents;
  /** Delays, intervals and timeouts other than the defaults (src/worker/timing.ts): for tests. */
  timing?: Partial<WorkerTiming>;
  /**
   * false: no job is queued on the schedule (CRONTAB), for tests that queue each job themselves
   * and must not meet one queued at a minute boundary. Jobs queued otherwise still run.
   */
  crontab?: boolean;
}

export async function startWorker(config: Config, logger: Logger, hooks: WorkerHooks = {}): Promise<WorkerHandle> {
  const databaseUrl = required(config.databaseUrl, 'DATABASE_URL', 'postgres://user:password@host:port/database');
  const smpp: SmppConfig = required(config.smpp, 'SMPP_URL', 'smpp://system_id:password@host:port (or smpps:// for TLS)');
  const w: WorkerConfig = config.worker;
  const timing = workerTiming(hooks.timing);
  const events = new WorkerEvents();
  if (logger.isLevelEnabled('trace')) {
    // LOG_LEVEL=trace: each event as a log line `worker event` (how tests follow a worker process).
    const traced = logger.child({ worker: w.workerId, component: 'events' });
    for (const name of WORKER_EVENT_NAMES) {
      events.on(name, (...args: unknown[]) => traced.trace({ event: name, ...(args[0] as object | undefined) }, 'worker event'));
    }
  }

  // Every connection names this worker (application_name), so pg_stat_activity shows whose it is.
  const appName = `sms-outbox worker ${w.workerId}`;
  await checkDatabase(databaseUrl, `${appName} (start-up check)`);

  const pool = createPool(databaseUrl, { max: 12, applicationName: appName });
  const db = createDb(pool);
  // Claims, leases and the wake-up switch commit without waiting for the WAL flush: a Postgres
  // crash may lose the last of them, which only returns rows to the queue (and the outcome
  // commits, which are synchronous, flush them anyway). Outcomes and receipts use `db`.
  const bookkeepingPool = createPool(databaseUrl, { max: 3, applicationName: `${appName} (claims)`, asyncCommit: true });
  const bookkeeping = createDb(bookkeepingPool);
  const log = logger.child({ worker: w.workerId });
  // Incoming SMS are stored, and their reply handlers called, on connections of their own: each
  // is reset after a transaction that called handlers (prepared statements, cursors, LISTEN,
  // advisory locks), which would drop Graphile Worker's prepared statements on a shared one.
  const handlerPool = createPool(databaseUrl, { max: 2, applicationName: `${appName} (incoming SMS)` });
  const replies = { db: createDb(handlerPool), options: await replyHandlerOptions(pool, w.handlerTimeoutMs) };

  const metrics = new WorkerMetrics();
  const measured = metrics.hooks();
  const rateLimiter = smpp.tps > 0 ? new PostgresRateLimiter(db, smpp.tps, log, (s) => metrics.onRateWait(s)) : undefined;
  // SMPP_BINDS sessions share the account-wide rate limiter; the metrics' state and window gauges follow the first.
  const sessions = Array.from(
    { length: smpp.binds },
    (_, i) => new SmppSession({ ...sessionOptions(smpp), ...(rateLimiter ? { rateLimiter } : {}) }, smpp.binds > 1 ? log.child({ bind: i + 1 }) : log),
  );
  const session = sessions[0]!;
  metrics.attachSession(session, smpp.window, smpp.tps);
  for (const other of sessions.slice(1)) metrics.attachCounters(other);
  // Scrapes and probes use their own two connections, so a busy pool never delays (or fails) them.
  const probePool = createPool(databaseUrl, { max: 2, applicationName: `${appName} (metrics)` });
  metrics.attachDatabase(createDb(probePool), { cacheMs: timing.metricsCacheMs });
  const store = new OutboxStore(db, log.child({ component: 'store' }), { workerId: w.workerId, replies, timing }, {
    onCommitted: (summary, kind) => {
      measured.store.onCommitted?.(summary, kind);
      hooks.store?.onCommitted?.(summary, kind);
      events.emit('flushed', { kind, summary });
    },
    onRematched: (rematch) => {
      hooks.store?.onRematched?.(rematch);
      events.emit('rematched', rematch);
    },
    onWriteRetry: (what) => {
      measured.store.onWriteRetry?.(what);
      hooks.store?.onWriteRetry?.(what);
    },
    onParked: (parked) => {
      measured.store.onParked?.(parked);
      hooks.store?.onParked?.(parked);
    },
  });
  for (const s of sessions) s.setInboundHandler((event) => store.recordInbound(event));

  const pump = new Pump(
    bookkeeping,
    sessions.length > 1 ? new Binds(sessions) : session,
    store,
    log.child({ component: 'pump' }),
    { workerId: w.workerId, window: smpp.window * smpp.binds, maxUncommitted: w.maxUncommitted, leaseSeconds: w.leaseSeconds, timing },
    {
      ...hooks.pump,
      onDispatch: (m) => {
        measured.pump.onDispatch?.(m);
        hooks.pump?.onDispatch?.(m);
        events.emit('dispatched', { id: m.id });
      },
      onClaimed: (count, expired) => {
        measured.pump.onClaimed?.(count, expired);
        hooks.pump?.onClaimed?.(count, expired);
        events.emit('claimed', { count, expired });
      },
      onSubmitted: (m, outcome) => {
        hooks.pump?.onSubmitted?.(m, outcome);
        events.emit('submitted', { id: m.id, outcome });
      },
      onIdle: (idle) => {
        hooks.pump?.onIdle?.(idle);
        events.emit('idle', idle);
      },
    },
  );
  for (const s of sessions) s.on('state', () => pump.poke());

  const leases = new LeaseKeeper(bookkeeping, log, { workerId: w.workerId, leaseSeconds: w.leaseSeconds, timing }, (requeued, failed) => {
    if (failed) metrics.messages.inc({ status: 'failed' }, failed);
    if (requeued) pump.kick();
    events.emit('reclaimed', { requeued, failed });
  });
  // Bind state and heartbeat in sms_worker_state, on the probe connections (never behind the pool's writes).
  const reporter = new WorkerReporter(createDb(probePool), log.child({ component: 'reporter' }), {
    workerId: w.workerId,
    smsc: smpp.displayUrl,
    bindMode: smpp.bindMode,
    version: packageVersion(),
    heartbeatMs: timing.heartbeatMs,
  }, metrics);
  const wakeup = new WakeupListener(databaseUrl, log, (dueInMs) => pump.wakeIn(dueInMs), `${appName} (wakeup)`, timing.listenRetry);

  let stopping: Promise<void> | undefined;
  // The pools themselves, not the Kysely instances over them: Kysely's destroy() ends a pool only
  // if a query went through it, and a pool left open keeps its idle connections, and with them
  // the process, alive for another 10 s (node-postgres's idle timeout) after `worker stopped`.
  const endPool = (p: pg.Pool) => (p.ending ? Promise.resolve() : p.end().catch(() => {}));
  const closeDatabases = async () => {
    await Promise.all([pool, bookkeepingPool, probePool, handlerPool].map(endPool));
  };
  // Before anything starts: a port that is taken fails the start cleanly.
  const http =
    config.metricsPort !== undefined
      ? await startHttpServer(
          config.metricsPort,
          metrics.registry,
          { checkDatabase: () => probePool.query('select 1').then(() => {}), smpp: () => metrics.sessionStatus(), stopping: () => stopping !== undefined },
          config.metricsHost,
        ).catch(async (err: NodeJS.ErrnoException) => {
          await closeDatabases();
          const why = err.code === 'EADDRINUSE' ? 'the port is already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
          throw new StartupError(`METRICS_PORT: cannot listen on ${config.metricsHost}:${config.metricsPort}: ${why} (${err.code ?? 'error'})`, EXIT_CONFIG, {
            cause: err,
          });
        })
      : undefined;

  let runner: Runner;
  try {
    runner = await run({
      pgPool: pool,
      taskList: createTaskList({
        db,
        logger: log.child({ component: 'tasks' }),
        pump,
        config: w,
        replies,
        onExpired: (n) => metrics.messages.inc({ status: 'expired' }, n),
      }),
      ...(hooks.crontab === false ? { parsedCronItems: [] } : { crontab: CRONTAB }),
      concurrency: 2,
      noHandleSignals: true,
      pollInterval: timing.jobPollMs,
      logger: graphileLogger(log.child({ component: 'graphile' })),
    });
  } catch (err) {
    await http?.close();
    await closeDatabases();
    throw err;
  }

  reporter.start(session);
  for (const s of sessions) s.start();
  wakeup.start();
  leases.start();
  pump.start();
  log.info(
    { smsc: smpp.displayUrl, window: smpp.window, binds: smpp.binds, maxUncommitted: w.maxUncommitted, tps: smpp.tps || 'unlimited', bindMode: smpp.bindMode, metricsPort: http?.port, metricsHost: http ? config.metricsHost : undefined },
    'worker started',
  );

  return {
    session,
    sessions,
    pump,
    store,
    pool,
    metrics,
    events,
    httpPort: http?.port,
    stop() {
      stopping ??= (async () => {
        const deadline = Date.now() + w.shutdownTimeoutMs;
        const left = () => Math.max(0, deadline - Date.now());
        log.info('stopping: no new claims; draining the window');
        // Graphile Worker starts no job from now on; one running finishes (sms_drain at once,
        // since the pump is stopping) while the pump and the session drain.
        const runnerStopped = runner.stop().catch((err: unknown) => log.warn({ err }, 'stopping Graphile Worker failed'));
        await pump.stop(left() * 0.6);
        const drainTimeoutMs = left() * 0.5;
        await Promise.all(sessions.map((s) => s.stop({ drainTimeoutMs })));
        await store.close(left());
        leases.stop(); // renewed until every outcome is written, so no other worker takes them over
        await wakeup.stop();
        await runnerStopped;
        await reporter.stop();
        await http?.close();
        await closeDatabases();
        log.info('worker stopped');
      })();
      return stopping;
    },
  };
}

/**
 * How reply handlers are called: the database's worker role (SMS_ROLE_PREFIX names it; the
 * policies on sms_outbox show it to any login), and the two calls a handler that will not stop
 * needs from another connection: ending its session, suspending its rule.
 */
async function replyHandlerOptions(pool: pg.Pool, timeoutMs: number): Promise<ReplyHandlerOptions> {
  const client = await pool.connect();
  let workerRole: string;
  try {
    workerRole = (await visibleRoleNames(client)).worker ?? 'sms_worker';
  } finally {
    client.release();
  }
  return {
    workerRole,
    timeoutMs,
    terminate: async (pid) => {
      await pool.query('select pg_terminate_backend($1)', [pid]);
    },
    suspend: async (ruleId, reason) => {
      await pool.query('select sms_inbound_suspend($1, $2)', [ruleId, reason]);
    },
  };
}

/** The session's options from SMPP_URL and the SMPP_* variables: all of them but the URL shown in logs. */
function sessionOptions({ displayUrl: _displayUrl, ...options }: SmppConfig): SessionOptions {
  return options;
}

/**
 * Connects once and checks the schema version, turning each expected failure into one line that
 * names DATABASE_URL: exit 69 when Postgres may come back (restart later), 78 when the
 * configuration or the schema must be fixed first.
 */
async function checkDatabase(databaseUrl: string, applicationName: string): Promise<void> {
  const target = describeDatabase(databaseUrl);
  const client = await connectOrExplain(databaseUrl, applicationName);
  try {
    await assertSchemaCurrent(client);
  } catch (err) {
    if (err instanceof SchemaVersionError) throw new StartupError(`DATABASE_URL (${target}): ${err.message}`, EXIT_CONFIG, { cause: err });
    const e = err as Error & { code?: string };
    if (e.code === '42501') {
      // The database's worker role may have another prefix (SMS_ROLE_PREFIX); name the real one.
      const worker = (await visibleRoleNames(client).catch(() => null))?.worker ?? 'sms_worker';
      throw new StartupError(
        `DATABASE_URL (${target}): ${e.message}: connect as a role granted ${worker} (\`grant ${worker} to <login role>\`)`,
        EXIT_CONFIG,
        { cause: err },
      );
    }
    throw explainDatabaseError(e, databaseUrl);
  } finally {
    await client.end().catch(() => {});
  }
}
