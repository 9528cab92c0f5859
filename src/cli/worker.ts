import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startWorker } from '../worker/main.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox worker

Runs the worker against DATABASE_URL and SMPP_URL until SIGTERM or SIGINT: one SMPP session,
the outbox drain, receipts and incoming SMS, and the housekeeping tasks. On SIGTERM it stops
claiming, lets the window drain, writes the results, unbinds and exits 0 (bounded by
SMS_SHUTDOWN_TIMEOUT_S). See README.md for every variable.
`;

export async function workerCommand(args: string[]): Promise<number> {
  if (!parseCommandArgs('worker', args, {}, HELP)) return 0;
  const config = loadConfig();
  const logger = createLogger(config.log);
  const worker = await startWorker(config, logger);
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      logger.info({ signal }, 'shutting down');
      worker.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
