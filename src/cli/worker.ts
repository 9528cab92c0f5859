import { configWarnings, loadConfig } from '../config.js';
import { redactSecrets } from '../secrets.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_SOFTWARE } from '../errors.js';
import { createLogger } from '../logger.js';
import type { WorkerHooks } from '../worker/main.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox worker

Runs the worker against DATABASE_URL and SMPP_URL until SIGTERM or SIGINT: one SMPP session,
the outbox drain, receipts and incoming SMS, and the housekeeping tasks. On SIGTERM it stops
claiming, lets the window drain, writes the results, unbinds and exits 0 (bounded by
SMS_SHUTDOWN_TIMEOUT_S); a second signal exits at once. With METRICS_PORT set it serves
/metrics, /healthz and /readyz. docs/reference/configuration.md lists every variable.

Exit codes: 0 stopped cleanly; 1 unexpected error; 69 the database is unreachable (retry later);
78 the configuration or the database schema must be fixed first (the message says which).
`;

/** Past the drain's own bound, a stuck shutdown is cut short so systemd never needs SIGKILL. */
export const SHUTDOWN_GRACE_MS = 5000;

/**
 * After `worker stopped` every socket and timer of the worker is closed, so the process ends by
 * itself within milliseconds. Should anything still hold it (a bug, or a library's handle), it
 * exits anyway this long after, logging what was left open.
 */
export const EXIT_AFTER_STOP_MS = 1000;

/**
 * SMS_TEST_WORKER_HOOKS (tests only; unset, the worker is as documented): JSON with the worker
 * hooks a test gives a worker process, `timing` (src/worker/timing.ts) and `crontab`, e.g.
 * {"timing": {"metricsCacheMs": 0}, "crontab": false}. Anything else in it is refused.
 */
export function testWorkerHooks(value: string | undefined): WorkerHooks {
  if (!value) return {};
  const { timing, crontab, ...rest } = JSON.parse(value) as Pick<WorkerHooks, 'timing' | 'crontab'>;
  if (Object.keys(rest).length) throw new Error(`SMS_TEST_WORKER_HOOKS: unknown ${Object.keys(rest).join(', ')}`);
  return { ...(timing ? { timing } : {}), ...(crontab !== undefined ? { crontab } : {}) };
}

export async function workerCommand(args: string[]): Promise<number> {
  if (!parseCommandArgs('worker', args, {}, HELP)) return 0;
  const config = loadConfig();
  const logger = createLogger(config.log);
  for (const warning of configWarnings(process.env, config)) logger.warn(warning);

  // A bug that escapes every handler: log it as JSON (secrets scrubbed) and exit non-zero,
  // so the supervisor restarts a clean process instead of one in an unknown state.
  const fatal = (kind: string) => (err: unknown) => {
    logger.fatal({ err: { message: redactSecrets(String((err as Error)?.message ?? err)), stack: redactSecrets(String((err as Error)?.stack ?? '')) } }, `${kind}; exiting`);
    process.exit(EXIT_SOFTWARE);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled promise rejection'));

  // Loaded once the configuration is known good: a configuration error exits without loading
  // the worker (Graphile Worker, kysely, the SMPP stack), about half a CPU-second sooner.
  const { startWorker } = await import('../worker/main.js');
  const worker = await startWorker(config, logger, testWorkerHooks(process.env.SMS_TEST_WORKER_HOOKS));
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now without waiting for the drain');
        process.exit(EXIT_FAILURE);
      }
      const boundMs = config.worker.shutdownTimeoutMs + SHUTDOWN_GRACE_MS;
      logger.info({ signal, shutdownTimeoutS: config.worker.shutdownTimeoutMs / 1000 }, 'shutting down');
      setTimeout(() => {
        logger.error({ afterMs: boundMs }, 'shutdown did not finish in time; exiting without it');
        process.exit(EXIT_FAILURE);
      }, boundMs).unref();
      const exitSoon = (code: number) => {
        setTimeout(() => {
          logger.warn({ open: process.getActiveResourcesInfo() }, 'still running after the worker stopped; exiting');
          process.exit(code);
        }, EXIT_AFTER_STOP_MS).unref();
        resolve(code);
      };
      worker.stop().then(
        () => exitSoon(EXIT_OK),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          exitSoon(EXIT_FAILURE);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
