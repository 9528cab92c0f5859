/**
 * One home for each object of the SQL interface (ARCHITECTURE.md, "Where the SQL lives"): for
 * every function (trigger functions included) and view installed in the sms_ part of public and
 * in sms_private, `grep -lw "function <schema>.<name>" -r sql migrations` names exactly its file
 * in sql/ (and so for views), every trigger is created in exactly one file, its function's, and
 * the numbered migrations define no function, view or trigger. Also: the copies of the released
 * migrations in test/fixtures are byte for byte what migrations/released.json says they were.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadMigrations, releasedChecksums } from '../../src/db/migrate.js';
import { loadSqlFiles, sqlChecksum } from '../../src/db/sql-files.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { RELEASED_DIR, RELEASED_VERSION, releasedMigrations } from '../support/released.js';
import { ROOT } from '../support/compiled.js';

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((e) => {
    const rel = `${dir}/${e}`;
    return statSync(path.join(ROOT, rel)).isDirectory() ? filesUnder(rel) : [rel];
  });
}

const searched = [...filesUnder('sql'), ...filesUnder('migrations')].map((file) => ({ file, text: readFileSync(path.join(ROOT, file), 'utf8') }));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The files holding `<what> <schema>.<name>` as whole words (grep -lw), and as a plain substring (grep -l). */
function grep(what: string, qualified: string): { words: string[]; plain: string[] } {
  const words = new RegExp(`(?<![A-Za-z0-9_])${what} ${escape(qualified)}(?![A-Za-z0-9_])`, 'i');
  const plain = `${what} ${qualified}`.toLowerCase();
  return {
    words: searched.filter((f) => words.test(f.text)).map((f) => f.file),
    plain: searched.filter((f) => f.text.toLowerCase().includes(plain)).map((f) => f.file),
  };
}

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb.drop();
});

test('every function and view has exactly one home: grep -lw "function <schema>.<name>" -r sql migrations names its file', async () => {
  const { rows } = await tdb.pool.query<{ kind: 'function' | 'view'; name: string }>(`
    select distinct 'function' as kind, p.pronamespace::regnamespace::text || '.' || p.proname as name
      from pg_proc p
     where (p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_%') or p.pronamespace = 'sms_private'::regnamespace
    union
    select 'view', c.relnamespace::regnamespace::text || '.' || c.relname
      from pg_class c
     where c.relkind in ('v', 'm') and ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%') or c.relnamespace = 'sms_private'::regnamespace)
     order by 1, 2`);
  assert.ok(rows.length > 40, `found ${rows.length} functions and views`);
  const names = rows.map((r) => r.name);
  const problems: string[] = [];
  for (const { kind, name } of rows) {
    const home = `sql/${kind === 'function' ? 'functions' : 'views'}/${name}.sql`;
    const found = grep(kind, name);
    if (found.words.length !== 1 || found.words[0] !== home) problems.push(`${kind} ${name}: grep -lw names ${JSON.stringify(found.words)}, expected ["${home}"]`);
    // Without -w, a name that begins another's (sms_send, sms_send_to_self) also finds that one's file.
    const longer = names.filter((n) => n !== name && n.startsWith(name)).map((n) => `sql/${kind === 'function' ? 'functions' : 'views'}/${n}.sql`);
    const unexpected = found.plain.filter((f) => f !== home && !longer.includes(f));
    if (unexpected.length) problems.push(`${kind} ${name}: grep -l also names ${JSON.stringify(unexpected)}`);
  }
  assert.deepEqual(problems, []);
  // And every file of sql/ is installed.
  const installed = new Set(rows.map((r) => `${r.kind === 'function' ? 'functions' : 'views'}/${r.name}.sql`));
  assert.deepEqual(loadSqlFiles().map((f) => f.file).filter((f) => !installed.has(f)), []);
});

test("every trigger on our tables is created in one file, its function's", async () => {
  const { rows } = await tdb.pool.query<{ trigger: string; fn: string }>(`
    select t.tgname as trigger, p.pronamespace::regnamespace::text || '.' || p.proname as fn
      from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_proc p on p.oid = t.tgfoid
     where not t.tgisinternal and ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%') or c.relnamespace = 'sms_private'::regnamespace)
     order by 1`);
  assert.ok(rows.length >= 6);
  const problems = rows.flatMap(({ trigger, fn }) => {
    const found = searched.filter((f) => new RegExp(`create (or replace )?trigger ${trigger}\\b`, 'i').test(f.text)).map((f) => f.file);
    return found.length === 1 && found[0] === `sql/functions/${fn}.sql` ? [] : [`${trigger}: in ${JSON.stringify(found)}, expected sql/functions/${fn}.sql`];
  });
  assert.deepEqual(problems, []);
});

test('the numbered migrations define no function, view or trigger', () => {
  const defining = loadMigrations().flatMap((m) =>
    [...m.sql.matchAll(/^\s*create\s+(or\s+replace\s+)?(function|procedure|view|trigger)\s+(\S+)/gim)].map((x) => `${m.name}: ${x[0].trim()}`),
  );
  assert.deepEqual(defining, []);
});

test(`the released migrations (${RELEASED_VERSION}) are kept byte for byte, as migrations/released.json records them`, () => {
  const released = releasedChecksums();
  const copies = releasedMigrations();
  assert.deepEqual(
    copies.map((m) => m.name),
    loadMigrations().filter((m) => m.version <= 17).map((m) => m.name),
    'the same files, by name, as migrations 0001-0017',
  );
  for (const m of copies) {
    const bytes = readFileSync(path.join(RELEASED_DIR, m.name));
    assert.equal(sqlChecksum(bytes.toString('utf8')), m.checksum);
    assert.ok(released.get(m.name)?.has(m.checksum), `${m.name}: its checksum is in migrations/released.json`);
  }
});
