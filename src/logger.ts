/**
 * pino logging: JSON lines in production, pretty in development (LOG_PRETTY=1 or `sms-outbox dev`).
 * Passwords are redacted by key wherever they appear, and connection strings are masked.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type { LogConfig } from './config.js';

export type { Logger };

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
