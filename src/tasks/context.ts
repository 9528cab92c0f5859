/** What the Graphile Worker tasks of this process share: its database handle, pump and settings. */
import type { Kysely } from 'kysely';
import type { WorkerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Database } from '../db/schema.js';
import type { Pump } from '../worker/pump.js';

export interface TaskContext {
  db: Kysely<Database>;
  logger: Logger;
  pump: Pump;
  config: WorkerConfig;
  /** Queued messages the expiry sweep marked expired (for metrics). */
  onExpired?: (count: number) => void;
}
