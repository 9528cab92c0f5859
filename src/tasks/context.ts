/**
 * What the Graphile Worker tasks of this process stand on, declared here so the tasks depend on
 * these small shapes and not on the worker that provides them (src/worker/main.ts builds one).
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../logger.js';
import type { Database } from '../db/schema.js';
import type { ReplyHandlerOptions } from '../db/reply-handlers.js';

/** The process's sender of due messages (the worker's pump): one drain of what is due. */
export interface Drainer {
  /** Resolves when it has run out of due work. */
  drainOnce(): Promise<void>;
}

/** How long finished rows are kept (SMS_RETENTION_DAYS and its siblings). */
export interface RetentionSettings {
  retentionDays: number;
  inboxRetentionDays: number;
  unmatchedReceiptRetentionDays: number;
}

export interface TaskContext {
  db: Kysely<Database>;
  logger: Logger;
  pump: Drainer;
  config: RetentionSettings;
  /**
   * Reply handlers (the worker's pool for them, and how to call them): the incoming SMS the
   * reconcile task stores get their handlers called, and failed calls marked for replay are made
   * again. Without it, neither happens.
   */
  replies?: { db: Kysely<Database>; options: ReplyHandlerOptions };
  /** Queued messages the expiry sweep marked expired (for metrics). */
  onExpired?: (count: number) => void;
}
