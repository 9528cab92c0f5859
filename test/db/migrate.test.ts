/**
 * The schema-version queries the worker runs at start (src/db/migrate.ts), in-process: the version
 * recorded, and the refusal of a schema that is missing, behind or ahead of the code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSchemaCurrent, loadMigrations, schemaVersion, SchemaVersionError } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let migrated: TestDatabase;
let empty: TestDatabase;

before(async () => {
  migrated = await createTestDatabase();
  empty = await createTestDatabase({ migrated: false });
});

after(async () => {
  await migrated?.drop();
  await empty?.drop();
});

test('schemaVersion: null before the first migrate, else the latest migration recorded', async () => {
  const latest = Math.max(...loadMigrations().map((m) => m.version));
  const e = await empty.connect();
  const m = await migrated.connect();
  try {
    assert.equal(await schemaVersion(e), null);
    assert.equal(await schemaVersion(m), latest);
  } finally {
    await e.end();
    await m.end();
  }
});

test('assertSchemaCurrent accepts the current schema and refuses a missing, older or newer one, saying what to do', async () => {
  const latest = Math.max(...loadMigrations().map((m) => m.version));
  const e = await empty.connect();
  const m = await migrated.connect();
  try {
    await assertSchemaCurrent(m);
    await assert.rejects(assertSchemaCurrent(e), (err: Error) => err instanceof SchemaVersionError && /not installed in this database: run `sms-outbox migrate`/.test(err.message));
    await m.query('begin');
    await m.query('delete from sms_schema_migrations where version = $1', [latest]);
    await assert.rejects(assertSchemaCurrent(m), new RegExp(`at migration ${latest - 1} but this sms-outbox needs ${latest}: run \`sms-outbox migrate\``));
    await m.query('rollback');
    await m.query('begin');
    await m.query(`insert into sms_schema_migrations (version, name, checksum) values ($1, 'future', 'x')`, [latest + 1]);
    await assert.rejects(assertSchemaCurrent(m), new RegExp(`at migration ${latest + 1}, newer than this sms-outbox \\(${latest}\\)`));
    await m.query('rollback');
  } finally {
    await e.end();
    await m.end();
  }
});
