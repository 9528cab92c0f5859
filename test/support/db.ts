/**
 * A private, fully migrated database per test file (cloned from the runner's template), dropped
 * when the file's tests finish. Tests never share tables, so files run in parallel.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDb, createPool } from '../../src/db/pool.js';
import type { Database } from '../../src/db/schema.js';
import { migrate } from '../../src/db/migrate.js';

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  db: Kysely<Database>;
  /** A fresh single connection (for LISTEN, SET ROLE, explicit transactions). */
  connect(): Promise<pg.Client>;
  drop(): Promise<void>;
}

/**
 * Runs `sql` (any number of statements) in one transaction on a connection of its own, as the
 * Supabase CLI applies a migration file; rolls back and rethrows on error.
 */
export async function runInOneTransaction(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('begin');
    try {
      await c.query(sql);
      await c.query('commit');
    } catch (err) {
      await c.query('rollback');
      throw err;
    }
  } finally {
    await c.end();
  }
}

/**
 * A pg.Pool for a test's own login or settings. Like the product's pools (src/db/pool.ts) it
 * ignores an error on an idle connection: pool.end() resolves before its connections have closed,
 * and a database dropped WITH (FORCE) ends one still closing with 57P01, which pg raises on the
 * pool as an uncaught error without a listener (it failed test/db/console-queries.test.ts once,
 * under load). An error on a connection in use still reaches its query.
 */
export function testPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => {});
  return pool;
}

/** A new connection to the database of `databaseUrl`, logged in as `user` (the caller ends it). */
export async function connectAs(databaseUrl: string, user: string, password: string): Promise<pg.Client> {
  const u = new URL(databaseUrl);
  u.username = user;
  u.password = password;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  return c;
}

/** `url` with its database name replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function serverUrl(): string {
  const url = process.env.SMS_TEST_SERVER_URL || process.env.DATABASE_URL;
  if (!url) throw new Error('no Postgres for tests: run them with `npm test` (which starts one) or set DATABASE_URL');
  return url;
}

/** Whether a database of that name exists on the tests' server (a benchmark's scratch database is dropped after). */
export async function databaseExists(database: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    return (await admin.query(`select 1 from pg_database where datname = $1`, [database])).rowCount === 1;
  } finally {
    await admin.end();
  }
}

export interface CreateOptions {
  /** Apply the migrations (default). With false the database is empty. */
  migrated?: boolean;
}

export async function createTestDatabase(options: CreateOptions = {}): Promise<TestDatabase> {
  const server = serverUrl();
  const caller = path.basename(process.argv[1] ?? 'test').replace(/\.test\.[jt]s$/, '').replace(/[^a-z0-9]/gi, '_').toLowerCase();
  const name = `sms_t_${caller.slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  const template = process.env.SMS_TEST_TEMPLATE;
  const migrated = options.migrated ?? true;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    if (migrated && template) {
      // Cloning needs the template idle; parallel clones can collide briefly, so retry.
      for (let attempt = 0; ; attempt++) {
        try {
          await admin.query(`create database ${name} template ${template}`);
          break;
        } catch (err) {
          if (attempt >= 20 || !/being accessed by other users/.test((err as Error).message)) throw err;
          await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
        }
      }
    } else {
      await admin.query(`create database ${name}`);
    }
  } finally {
    await admin.end();
  }
  const url = withDatabase(server, name);
  if (migrated && !template) await migrate(url);
  const pool = createPool(url, { max: 20, applicationName: `test ${caller}` });
  const db = createDb(pool);
  let dropped = false;
  return {
    name,
    url,
    pool,
    db,
    async connect() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await db.destroy().catch(() => {});
      const a = new pg.Client({ connectionString: server });
      await a.connect();
      try {
        await a.query(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
