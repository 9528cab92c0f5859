/**
 * `sms-outbox migrate` (src/db/migrate.ts) with our migrations/ and sql/: a re-run is a no-op,
 * two concurrent runs both succeed with one application, an edited migration and a newer schema
 * are refused while a released migration's checksum is accepted, a changed file of sql/ is
 * applied again (alone) and a removed one forgotten, settings come from the environment, a
 * non-superuser owner (as on Supabase) can run it, and a non-UTF8 database is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadMigrations, migrate, releasedChecksums, SchemaVersionError, SettingRefusedError } from '../../src/db/migrate.js';
import { loadSqlFiles } from '../../src/db/sql-files.js';
import { roleNames } from '../../src/db/roles.js';
import { createTestDatabase, serverUrl, withDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles } from './helpers.js';

const migrations = loadMigrations();
const files = loadSqlFiles();
let tdb: TestDatabase;
const roles = new TestRoles();

before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb.drop();
  await roles.dropAll();
});

async function applied(db: pg.Pool): Promise<{ version: number; name: string }[]> {
  return (await db.query<{ version: number; name: string }>('select version, name from public.sms_schema_migrations order by version')).rows;
}

test('the migrations are numbered files, in order, without gaps', () => {
  assert.ok(migrations.length >= 6);
  migrations.forEach((m, i) => assert.equal(m.version, i + 1, m.name));
});

describe('re-running', () => {
  test('is a no-op: nothing applied, nothing changed', async () => {
    await tdb.pool.query(`update sms_settings set default_sender = 'Kept'`);
    const id = (await tdb.pool.query<{ id: string }>(`select public.sms_send('+79991234567', 'survives') as id`)).rows[0]!.id;
    const before = await applied(tdb.pool);
    const result = await migrate(tdb.url);
    assert.deepEqual(result, { applied: [], alreadyApplied: migrations.length, objects: [], roles: roleNames() });
    assert.deepEqual(await applied(tdb.pool), before);
    const settings = await tdb.pool.query<{ default_sender: string }>('select default_sender from sms_settings');
    assert.equal(settings.rows[0]?.default_sender, 'Kept', 'settings are left alone when the environment sets none');
    assert.equal((await tdb.pool.query('select 1 from public.sms_outbox where id = $1', [id])).rowCount, 1);
  });

  test('sms_grant_worker_graphile() can be called again and again', async () => {
    await tdb.pool.query('select public.sms_grant_worker_graphile()');
    await tdb.pool.query('select public.sms_grant_worker_graphile()');
    const r = await tdb.pool.query(`select 1 from pg_policies where schemaname = 'graphile_worker' and policyname = 'sms_worker_all'`);
    assert.ok((r.rowCount ?? 0) > 0);
  });
});

describe('two concurrent runs on an empty database', () => {
  test('both succeed; each migration is applied once', async () => {
    const fresh = await createTestDatabase({ migrated: false });
    try {
      const [a, b] = await Promise.all([migrate(fresh.url), migrate(fresh.url)]);
      assert.equal(a.applied.length + b.applied.length, migrations.length);
      assert.ok(a.applied.length === 0 || b.applied.length === 0, 'one run applied everything, the other found it done');
      assert.deepEqual([...a.objects, ...b.objects], files.map((f) => f.file), 'and every file of sql/, once');
      assert.deepEqual(
        (await applied(fresh.pool)).map((r) => r.name),
        migrations.map((m) => m.name),
      );
      const gw = await fresh.pool.query(`select to_regnamespace('graphile_worker') is not null as ok`);
      assert.equal(gw.rows[0]?.ok, true, "Graphile Worker's schema is installed too");
      const id = (await fresh.pool.query<{ id: string }>(`select public.sms_send('+79991234567', 'works', sender => 'Fresh') as id`)).rows[0]!.id;
      assert.ok(id);
    } finally {
      await fresh.drop();
    }
  });
});

describe('refusals', () => {
  test('a migration whose content changed after it was applied', async () => {
    const fresh = await createTestDatabase();
    try {
      await fresh.pool.query(`update public.sms_schema_migrations set checksum = 'edited' where version = 3`);
      await assert.rejects(migrate(fresh.url), /migration 0003_\w+\.sql was applied with different content \(checksum mismatch\)/);
    } finally {
      await fresh.drop();
    }
  });

  test("a migration applied as a release shipped it is accepted (migrations/released.json), another checksum is not", async () => {
    const fresh = await createTestDatabase();
    try {
      const released = releasedChecksums();
      for (const m of migrations.filter((x) => released.has(x.name))) {
        await fresh.pool.query('update public.sms_schema_migrations set checksum = $1 where version = $2', [[...released.get(m.name)!][0], m.version]);
      }
      const result = await migrate(fresh.url);
      assert.deepEqual(result.applied, []);
      assert.deepEqual(result.objects, [], 'nothing to apply: no numbered migration ran, no file changed');
      await fresh.pool.query(`update public.sms_schema_migrations set checksum = 'edited' where version = 5`);
      await assert.rejects(migrate(fresh.url), /migration 0005_\w+\.sql was applied with different content/);
    } finally {
      await fresh.drop();
    }
  });

  test('a database migrated by a newer release', async () => {
    const fresh = await createTestDatabase();
    try {
      await fresh.pool.query(`insert into public.sms_schema_migrations (version, name, checksum) values (9999, '9999_future.sql', 'x')`);
      await assert.rejects(migrate(fresh.url), (err: Error) => {
        assert.ok(err instanceof SchemaVersionError);
        assert.match(err.message, /has migration 9999, newer than this sms-outbox knows/);
        return true;
      });
    } finally {
      await fresh.drop();
    }
  });

  test('a database that is not UTF8', async () => {
    const name = `sms_t_ascii_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      await admin.query(`create database ${name} encoding 'SQL_ASCII' lc_collate 'C' lc_ctype 'C' template template0`);
      await assert.rejects(migrate(withDatabase(serverUrl(), name), { skipGraphile: true }), /needs a UTF8 database; this one is SQL_ASCII/);
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});

describe('the files of sql/', () => {
  test('a file whose recorded checksum differs is applied again, alone; the record of a file no longer in sql/ goes', async () => {
    const fresh = await createTestDatabase();
    try {
      const file = 'functions/public.sms_status.sql';
      // As an older release left it: another body, another checksum, and a file since removed.
      await fresh.pool.query(`create or replace function public.sms_status(id uuid) returns setof public.sms_status_row
                                language sql stable security definer set search_path = pg_catalog, pg_temp as 'select null::public.sms_status_row where false'`);
      await fresh.pool.query(`update public.sms_schema_objects set checksum = 'older' where file = $1`, [file]);
      await fresh.pool.query(`insert into public.sms_schema_objects (file, checksum) values ('functions/public.sms_gone.sql', 'x')`);
      const result = await migrate(fresh.url);
      assert.deepEqual(result.applied, []);
      assert.deepEqual(result.objects, [file]);
      const recorded = await fresh.pool.query<{ file: string; checksum: string }>('select file, checksum from public.sms_schema_objects order by file');
      assert.deepEqual(recorded.rows, files.map((f) => ({ file: f.file, checksum: f.checksum })).sort((x, y) => (x.file < y.file ? -1 : 1)));
      const lang = await fresh.pool.query(`select l.lanname from pg_proc p join pg_language l on l.oid = p.prolang where p.oid = 'public.sms_status(uuid)'::regprocedure`);
      assert.equal(lang.rows[0].lanname, 'plpgsql', "the file's definition is back");
      const acl = await fresh.pool.query(`select has_function_privilege('sms_sender', 'public.sms_status(uuid)', 'execute') as sender,
                                                 has_function_privilege('public', 'public.sms_status(uuid)', 'execute') as public`);
      assert.deepEqual(acl.rows[0], { sender: true, public: false });
    } finally {
      await fresh.drop();
    }
  });

  test('a file that fails leaves the database as it was, and names the file', async () => {
    const fresh = await createTestDatabase();
    try {
      // A column a function reads is gone: its body no longer checks out.
      await fresh.pool.query(`update public.sms_schema_objects set checksum = 'older' where file = 'functions/sms_private.body_hash.sql'`);
      await fresh.pool.query('alter table sms_private.redaction_key rename column key to key_renamed');
      await assert.rejects(migrate(fresh.url), /the body of sms_private\.body_hash\(text\) failed: column k\.key does not exist/);
      const r = await fresh.pool.query(`select checksum from public.sms_schema_objects where file = 'functions/sms_private.body_hash.sql'`);
      assert.equal(r.rows[0].checksum, 'older', 'nothing was recorded');
    } finally {
      await fresh.drop();
    }
  });
});

describe('settings from the environment', () => {
  test('SMS_DEFAULT_SENDER, SMS_DEFAULT_VALIDITY and SMS_MAX_SEGMENTS are written to sms_settings', async () => {
    await migrate(tdb.url, { settings: { defaultSender: '+7 999', defaultValidity: '12 hours', maxSegments: 5 } }).then(
      () => assert.fail('an invalid sender must be refused'),
      (err: Error & { code?: string; column?: string }) => {
        assert.ok(err instanceof SettingRefusedError, 'a SettingRefusedError, which `sms-outbox migrate` names by its variable');
        assert.equal(err.code, '22023');
        assert.equal(err.column, 'default_sender');
        assert.match(err.message, /^default_sender '\+7 999' has no letter/);
      },
    );
    await migrate(tdb.url, { settings: { defaultSender: 'Brand', defaultValidity: '12 hours', maxSegments: 5 } });
    const r = await tdb.pool.query<{ default_sender: string; validity: string; max_segments: number }>(
      `select default_sender, default_validity::text as validity, max_segments from sms_settings`,
    );
    assert.deepEqual(r.rows[0], { default_sender: 'Brand', validity: '12:00:00', max_segments: 5 });
    await migrate(tdb.url, { settings: { defaultSender: '+79990001122' } });
    const n = await tdb.pool.query<{ default_sender: string }>('select default_sender from sms_settings');
    assert.equal(n.rows[0]?.default_sender, '79990001122');
    await rejectsWith(migrate(tdb.url, { settings: { defaultValidity: 'soon' } }), '22007');
  });
});

test('a non-superuser database owner with CREATEROLE (as on Supabase) can migrate, and its app can send', async () => {
  const password = randomBytes(8).toString('hex');
  const owner = await roles.create({ login: password });
  const app = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  const name = `sms_t_owner_${randomBytes(4).toString('hex')}`;
  try {
    await admin.query(`alter role ${owner} createrole`);
    await admin.query(`create database ${name} owner ${owner}`);
    const asUser = (user: string) => {
      const u = new URL(withDatabase(serverUrl(), name));
      u.username = user;
      u.password = password;
      return u.toString();
    };
    const result = await migrate(asUser(owner), { settings: { defaultSender: 'Owner' } });
    assert.equal(result.applied.length, migrations.length);
    const c = new pg.Client({ connectionString: asUser(app) });
    await c.connect();
    try {
      const id = (await c.query<{ id: string }>(`select public.sms_send('+79991234567', 'from the app') as id`)).rows[0]!.id;
      const s = await c.query<{ sender: string }>('select sender from public.sms_status($1)', [id]);
      assert.equal(s.rows[0]?.sender, 'Owner');
      await rejectsWith(c.query('select * from public.sms_outbox'), '42501');
    } finally {
      await c.end();
    }
    const super_ = await admin.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = $1', [owner]);
    assert.equal(super_.rows[0]?.rolsuper, false);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
