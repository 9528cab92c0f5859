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
import type { Logger } from '../logger.js';
import { assertSchemaCurrent } from '../db/migrate.js';
import { createDb, createPool } from '../db/pool.js';
import { graphileLogger } from '../db/graphile-logger.js';
import { SmppSession } from '../smpp/session.js';
import { createTaskList, CRONTAB } from '../tasks/index.js';
import { LeaseKeeper } from './leases.js';
import { Pump, type PumpEvents } from './pump.js';
import { PostgresRateLimiter } from './rate-limiter.js';
import { OutboxStore, type StoreEvents } from './store.js';
import { WakeupListener } from './wakeup.js';
import { WorkerMetrics } from './metrics.js';
import { startHttpServer } from './http.js';

export interface WorkerHandle {
  session: SmppSession;
  pump: Pump;
  store: OutboxStore;
  pool: pg.Pool;
  metrics: WorkerMetrics;
  /** Port of the /metrics, /healthz, /readyz server, when METRICS_PORT is set. */
  httpPort: number | undefined;
  /** Stops claiming, drains the window, writes results, unbinds and closes everything (bounded). */
  stop(): Promise<void>;
}

export interface WorkerHooks {
  pump?: PumpEvents;
  store?: StoreEvents;
}

export async function startWorker(config: Config, logger: Logger, hooks: WorkerHooks = {}): Promise<WorkerHandle> {
  const databaseUrl = required(config.databaseUrl, 'DATABASE_URL', 'postgres://user:password@host:port/database');
  const smpp: SmppConfig = required(config.smpp, 'SMPP_URL', 'smpp://system_id:password@host:port (or smpps:// for TLS)');
  const w: WorkerConfig = config.worker;

  await checkDatabase(databaseUrl);

  const pool = createPool(databaseUrl, { max: 12, applicationName: `sms-outbox worker ${w.workerId}` });
  const db = createDb(pool);
  const log = logger.child({ worker: w.workerId });

  const metrics = new WorkerMetrics();
  const measured = metrics.hooks();
  const rateLimiter = smpp.tps > 0 ? new PostgresRateLimiter(db, smpp.tps, log, (s) => metrics.rateWaits.inc(s)) : undefined;
  const session = new SmppSession({ ...smpp, ...(rateLimiter ? { rateLimiter } : {}) }, log);
  metrics.attachSession(session);
  metrics.attachDatabase(db);
  const store = new OutboxStore(db, log.child({ component: 'store' }), { workerId: w.workerId }, {
    onCommitted: (summary) => {
      measured.store.onCommitted?.(summary);
      hooks.store?.onCommitted?.(summary);
    },
  });
  session.setInboundHandler((event) => store.recordInbound(event));

  const pump = new Pump(
    db,
    session,
    store,
    log.child({ component: 'pump' }),
    { workerId: w.workerId, window: smpp.window, leaseSeconds: w.leaseSeconds },
    {
      ...hooks.pump,
      onDispatch: (m) => {
        measured.pump.onDispatch?.(m);
        hooks.pump?.onDispatch?.(m);
      },
    },
  );
  session.on('state', () => pump.poke());

  const leases = new LeaseKeeper(db, log, { workerId: w.workerId, leaseSeconds: w.leaseSeconds }, () => pump.kick());
  const wakeup = new WakeupListener(databaseUrl, log, () => pump.kick());

  let runner: Runner;
  try {
    runner = await run({
      pgPool: pool,
      taskList: createTaskList({ db, logger: log.child({ component: 'tasks' }), pump, config: w }),
      crontab: CRONTAB,
      concurrency: 2,
      noHandleSignals: true,
      pollInterval: 5000,
      logger: graphileLogger(log.child({ component: 'graphile' })),
    });
  } catch (err) {
    await db.destroy().catch(() => {});
    throw err;
  }

  const http =
    config.metricsPort !== undefined
      ? await startHttpServer(config.metricsPort, metrics.registry, { pool, isBound: () => session.isBound }).catch(async (err: Error) => {
          await runner.stop().catch(() => {});
          await db.destroy().catch(() => {});
          throw new Error(`METRICS_PORT: cannot listen on port ${config.metricsPort}: ${err.message}`, { cause: err });
        })
      : undefined;

  session.start();
  wakeup.start();
  leases.start();
  pump.start();
  log.info(
    { smsc: smpp.displayUrl, window: smpp.window, tps: smpp.tps || 'unlimited', bindMode: smpp.bindMode, metricsPort: http?.port },
    'worker started',
  );

  let stopping: Promise<void> | undefined;
  return {
    session,
    pump,
    store,
    pool,
    metrics,
    httpPort: http?.port,
    stop() {
      stopping ??= (async () => {
        const deadline = Date.now() + w.shutdownTimeoutMs;
        const left = () => Math.max(0, deadline - Date.now());
        log.info('stopping: no new claims; draining the window');
        await pump.stop(left() * 0.6);
        await session.stop({ drainTimeoutMs: left() * 0.5 });
        await store.close(left());
        leases.stop();
        await wakeup.stop();
        await runner.stop().catch((err: unknown) => log.warn({ err }, 'stopping Graphile Worker failed'));
        await http?.close();
        await db.destroy().catch(() => {});
        log.info('worker stopped');
      })();
      return stopping;
    },
  };
}

async function checkDatabase(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot connect to DATABASE_URL: ${(err as Error).message}`, { cause: err });
  }
  try {
    await assertSchemaCurrent(client);
  } finally {
    await client.end().catch(() => {});
  }
}
