/**
 * docs/reference/schema.sql is the installed schema as `npm run schema:dump` writes it: a change to
 * a table, function or view that was not dumped again fails here, so every change to the SQL
 * interface shows in review as a diff of that file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { describeCatalog, renderSchemaDump, serverMajor } from '../../src/db/catalog.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const DUMP = fileURLToPath(new URL('../../docs/reference/schema.sql', import.meta.url));

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb.drop();
});

test('docs/reference/schema.sql is up to date (npm run schema:dump writes it)', async (t) => {
  const file = readFileSync(DUMP, 'utf8');
  const client = await tdb.connect();
  try {
    const major = await serverMajor(client);
    const dumpedOn = Number(/read back from PostgreSQL (\d+)'s catalog/.exec(file)?.[1]);
    if (dumpedOn !== major) {
      // pg_get_functiondef and pg_get_viewdef word things differently across major versions.
      t.skip(`the dump was made on PostgreSQL ${dumpedOn}; this server is ${major}`);
      return;
    }
    const current = renderSchemaDump(await describeCatalog(client), major);
    assert.ok(current === file, 'docs/reference/schema.sql is out of date: run npm run schema:dump (and review its diff)');
  } finally {
    await client.end();
  }
});
