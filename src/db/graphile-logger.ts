/** Routes Graphile Worker's log lines into our pino logger (or drops the chatty ones). */
import { Logger as GraphileLogger, type LogLevel } from 'graphile-worker';
import type { Logger } from '../logger.js';

export function graphileLogger(logger?: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level: LogLevel, message: string, meta?: unknown) => {
    if (!logger) {
      if (level === 'error' || level === 'warning') process.stderr.write(`graphile-worker: ${message}\n`);
      return;
    }
    // Graphile attaches whole pg clients to its log meta; keep only what an operator reads.
    const error = meta && typeof meta === 'object' ? (meta as { error?: { message?: string; code?: string } }).error : undefined;
    const fields = { graphile: scope, ...(error ? { err: { message: error.message, code: error.code } } : {}) };
    if (level === 'error') logger.error(fields, message);
    else if (level === 'warning') logger.warn(fields, message);
    else if (level === 'info') logger.debug(fields, message); // Graphile's info is our debug: job-level chatter
    else logger.trace(fields, message);
  });
}
