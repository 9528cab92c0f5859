/** Connecting a command to DATABASE_URL (src/db/connect.ts): a connected client, or one line that says why not. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectOrExplain } from '../../src/db/connect.js';
import { StartupError } from '../../src/errors.js';
import { createTestDatabase, withDatabase, type TestDatabase } from '../support/db.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase({ migrated: false });
});

after(async () => {
  await tdb?.drop();
});

test('connectOrExplain returns a client named as asked', async () => {
  const client = await connectOrExplain(tdb.url, 'connect test');
  try {
    const { rows } = await client.query<{ app: string }>(`select current_setting('application_name') as app`);
    assert.equal(rows[0]?.app, 'connect test');
  } finally {
    await client.end();
  }
});

test('connectOrExplain names the database it could not reach, with the exit code that says what to do', async () => {
  const missing = withDatabase(tdb.url, `no_such_db_${process.pid}`);
  await assert.rejects(connectOrExplain(missing, 'connect test'), (err: unknown) => {
    assert.ok(err instanceof StartupError);
    assert.equal(err.exitCode, 78, 'a database that does not exist is a configuration to fix');
    assert.match(err.message, /^DATABASE_URL \(database "no_such_db_\d+" on .*\): .*\[3D000\]: check the database name in DATABASE_URL$/);
    return true;
  });
  const refused = new URL(tdb.url);
  refused.port = '1'; // nothing listens on port 1 of loopback
  await assert.rejects(connectOrExplain(refused.toString(), 'connect test'), (err: unknown) => {
    assert.ok(err instanceof StartupError);
    assert.equal(err.exitCode, 69, 'Postgres unreachable: a restart later may work');
    assert.match(err.message, /cannot connect: .*ECONNREFUSED.*is Postgres running and reachable from this host\?$/);
    return true;
  });
});
