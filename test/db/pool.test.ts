/** The worker's connection pools (src/db/pool.ts): named connections, and async commit only where asked. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createDb, createPool } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
});

after(async () => {
  await tdb?.drop();
});

test('createPool names its connections and turns synchronous_commit off only with asyncCommit', async () => {
  const durable = createPool(tdb.url, { max: 1, applicationName: 'pool test durable' });
  const claims = createPool(tdb.url, { max: 1, applicationName: 'pool test claims', asyncCommit: true });
  try {
    // The setting and where it came from: `client` when the connection asked for it.
    const settings = async (pool: typeof durable) => {
      const { rows } = await sql<{ app: string; sync: string; source: string }>`
        select current_setting('application_name') as app, setting as sync, source from pg_settings where name = 'synchronous_commit'`.execute(createDb(pool));
      return rows[0];
    };
    const server = (await tdb.pool.query<{ sync: string }>(`select setting as sync from pg_settings where name = 'synchronous_commit'`)).rows[0]!.sync;
    const d = await settings(durable);
    assert.deepEqual([d?.app, d?.sync], ['pool test durable', server], 'outcomes and receipts commit as the server is configured');
    assert.notEqual(d?.source, 'client');
    assert.deepEqual(await settings(claims), { app: 'pool test claims', sync: 'off', source: 'client' });
  } finally {
    await durable.end();
    await claims.end();
  }
});
