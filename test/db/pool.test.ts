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
    const settings = async (pool: typeof durable) => {
      const { rows } = await sql<{ app: string; sync: string }>`select current_setting('application_name') as app, current_setting('synchronous_commit') as sync`.execute(createDb(pool));
      return rows[0];
    };
    assert.deepEqual(await settings(durable), { app: 'pool test durable', sync: 'on' });
    assert.deepEqual(await settings(claims), { app: 'pool test claims', sync: 'off' });
  } finally {
    await durable.end();
    await claims.end();
  }
});
