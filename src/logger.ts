/**
 * pino logging: JSON lines in production, pretty in development (LOG_PRETTY=1 or `sms-outbox dev`).
 * Passwords are redacted by key wherever they appear, and connection strings are masked.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

export type { Logger };

/** LOG_LEVEL and LOG_PRETTY (src/config.ts). */
export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  pretty: boolean;
}

const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'smpp.password',
  'databaseUrl',
  '*.databaseUrl',
  'connectionString',
  '*.connectionString',
  'SMPP_PASSWORD',
  '*.SMPP_PASSWORD',
];

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** Said once per process: LOG_PRETTY=1 asked for pino-pretty, which a production install does not have. */
let prettyMissingSaid = false;

export function createLogger(config: LogConfig, name = 'sms-outbox'): Logger {
  const pretty = config.pretty && prettyAvailable();
  const logger = pino({
    name,
    level: config.level,
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }
      : {}),
  });
  if (config.pretty && !pretty && !prettyMissingSaid) {
    prettyMissingSaid = true;
    logger.warn(
      'LOG_PRETTY=1 but pino-pretty is not installed (a development dependency, left out of production installs): logging JSON lines. Install it with `npm install pino-pretty`, or pipe the JSON through `npx pino-pretty`',
    );
  }
  return logger;
}

/**
 * An error as a log line should show it: its name, message and, for a Postgres error, the SQLSTATE
 * and the names of the constraint, table and column involved. Not the rest: a Postgres error's
 * `detail` repeats the refused row (message text included) and pino would print it.
 */
export function errorForLog(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  // pg names its errors 'error'; the class says more (DatabaseError).
  const out: Record<string, unknown> = { type: error.name === 'error' ? error.constructor.name : error.name, message: error.message };
  const e = error as Error & Record<string, unknown>;
  for (const key of ['code', 'constraint', 'table', 'column'] as const) {
    if (typeof e[key] === 'string') out[key] = e[key];
  }
  return out;
}
