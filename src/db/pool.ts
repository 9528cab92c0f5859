/** Postgres connection pools and the typed query builder over them. */
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.js';

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /**
   * Commit without waiting for the WAL flush (synchronous_commit = off) on this pool's
   * connections. Only for writes a Postgres crash may lose without losing a message: claims,
   * lease renewals, the wake-up switch. Never for outcomes or receipts.
   */
  asyncCommit?: boolean;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'sms-outbox',
    // A dead server must surface as an error quickly, not hang a drain for minutes.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    ...(options.asyncCommit ? { options: '-c synchronous_commit=off' } : {}),
  });
  // An idle client losing its connection (server restart) must not crash the process;
  // the pool drops it and the next checkout reconnects.
  pool.on('error', () => {});
  // A checked-out client's connection error fails its query; the listener only stops the
  // 'error' event from crashing the process.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export function createDb(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
