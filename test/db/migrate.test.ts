/**
 * The schema-version queries the worker runs at start (src/db/migrate.ts), in-process: the version
 * recorded, and the refusal of a schema that is missing, behind or ahead of the code, or whose
 * functions are not the code's (sql/).
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
    // A function whose file changed since the database was migrated (a new release that
    // changed no table), a file missing, and one this code does not have.
    await m.query('begin');
    await m.query(`update sms_schema_objects set checksum = 'older' where file = 'functions/public.sms_send.sql'`);
    await assert.rejects(
      assertSchemaCurrent(m),
      /functions and views are not those of this sms-outbox \(sql\/functions\/public\.sms_send\.sql differs from what it installed\): run `sms-outbox migrate`/,
    );
    await m.query(`delete from sms_schema_objects where file = 'views/public.sms_stats.sql'`);
    await m.query(`insert into sms_schema_objects (file, checksum) values ('functions/public.sms_newer.sql', 'x')`);
    await assert.rejects(assertSchemaCurrent(m), /\(sql\/functions\/public\.sms_newer\.sql, sql\/functions\/public\.sms_send\.sql, sql\/views\/public\.sms_stats\.sql differ from/);
    await m.query('rollback');
  } finally {
    await e.end();
    await m.end();
  }
});
