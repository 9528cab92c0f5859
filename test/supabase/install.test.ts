/**
 * Installing on Supabase: as a non-superuser owner like Supabase's `postgres` (LOGIN CREATEROLE,
 * not a superuser, not the database's owner, only CREATE on the database and on schema public),
 * with Supabase's roles and default privileges in place, with `sms-outbox migrate` or with the
 * Supabase CLI migration `sms-outbox supabase-migration` writes, followed by `sms-outbox migrate`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { roleNames } from '../../src/db/roles.js';
import { loadSqlFiles } from '../../src/db/sql-files.js';
import { renderSupabaseMigration } from '../../src/db/supabase-migration.js';
import { runInOneTransaction } from '../support/db.js';
import { releasedSupabaseMigration } from '../support/released.js';
import { runCli } from '../ops/helpers.js';
import { createSupabaseDatabase, Postgrest, type SupabaseDatabase } from './support.js';

const migrations = loadMigrations();
const files = loadSqlFiles();

describe('sms-outbox migrate as a non-superuser owner with only CREATE', () => {
  let db: SupabaseDatabase;
  let api: Postgrest;
  before(async () => {
    db = await createSupabaseDatabase();
    api = await Postgrest.connect(db.adminUrl);
  });
  after(async () => {
    await api?.end();
    await db?.drop();
  });

  test('the owner is like Supabase\'s postgres: not a superuser, not the database owner, CREATEROLE', async () => {
    const r = await db.pool.query<{ rolsuper: boolean; rolcreaterole: boolean; owns_db: boolean; can_create: boolean }>(
      `select r.rolsuper, r.rolcreaterole, d.datdba = r.oid as owns_db, has_database_privilege(current_database(), 'create') as can_create
         from pg_roles r, pg_database d where r.rolname = current_user and d.datname = current_database()`,
    );
    assert.deepEqual(r.rows[0], { rolsuper: false, rolcreaterole: true, owns_db: false, can_create: true });
  });

  test('every migration and Graphile Worker\'s schema were installed', async () => {
    assert.deepEqual(db.migrateResult.applied, migrations.map((m) => m.name));
    assert.deepEqual(db.migrateResult.objects, files.map((f) => f.file));
    const gw = await db.pool.query(`select count(*)::int as n from pg_tables where schemaname = 'graphile_worker'`);
    assert.ok(gw.rows[0].n > 0);
  });

  test('service_role sends through the REST API; an app login with sms_sender sends with SQL', async () => {
    const res = await api.rpc('sms_send', { recipient: '+79991234567', body: 'installed' }, { role: 'service_role' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const app = `sms_t_app_${process.pid}_${Date.now() % 100000}`;
    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    try {
      await admin.query(`create role ${app} login password 'app' in role sms_sender`);
      const u = new URL(db.adminUrl);
      u.username = app;
      u.password = 'app';
      const c = new pg.Client({ connectionString: u.toString() });
      await c.connect();
      try {
        const id = (await c.query<{ id: string }>(`select sms_send('+79991234567', 'from the app') as id`)).rows[0]!.id;
        assert.equal((await c.query('select status from sms_status($1)', [id])).rows[0].status, 'queued');
      } finally {
        await c.end();
      }
    } finally {
      await admin.query(`drop role if exists ${app}`);
      await admin.end();
    }
  });

  test('running migrate again is a no-op, and restores service_role\'s grants (roles created after the install)', async () => {
    await db.pool.query('revoke execute on function sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) from service_role');
    const lost = await api.rpc('sms_send', { recipient: '+79991234567', body: 'x' }, { role: 'service_role' });
    assert.equal(lost.status, 403);
    const again = await migrate(db.ownerUrl);
    assert.deepEqual(again, { applied: [], alreadyApplied: migrations.length, objects: [], roles: roleNames() });
    const back = await api.rpc('sms_send', { recipient: '+79991234567', body: 'x' }, { role: 'service_role' });
    assert.equal(back.status, 200, JSON.stringify(back.body));
  });
});

describe('the Supabase CLI migration (sms-outbox supabase-migration)', () => {
  const generated = renderSupabaseMigration();

  /** Applies the file as the Supabase CLI does: all of it in one transaction, as the owner. */
  const applyFile = (url: string, sql = generated) => runInOneTransaction(url, sql);

  test('`sms-outbox supabase-migration --out-dir DIR` writes it under the current UTC time, after the project\'s migrations', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sms-supabase-'));
    try {
      const before = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
      const r = await runCli({}, ['supabase-migration', '--out-dir', dir]);
      assert.equal(r.code, 0, r.stderr);
      const written = readdirSync(dir);
      assert.equal(written.length, 1);
      assert.match(written[0]!, /^\d{14}_sms_outbox\.sql$/);
      assert.ok(written[0]!.slice(0, 14) >= before, `${written[0]} is stamped now`);
      assert.equal(readFileSync(path.join(dir, written[0]!), 'utf8'), generated);
      const stdout = await runCli({}, ['supabase-migration', '--role-prefix', 'app2_sms_']);
      assert.equal(stdout.code, 0, stdout.stderr);
      assert.equal(stdout.stdout, renderSupabaseMigration({ rolePrefix: 'app2_sms_' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('applied to a fresh Supabase database, then `sms-outbox migrate` finds everything applied and adds Graphile Worker', async () => {
    const db = await createSupabaseDatabase({ migrated: false });
    const api = await Postgrest.connect(db.adminUrl);
    try {
      await applyFile(db.ownerUrl);
      const recorded = await db.pool.query<{ version: number; name: string; checksum: string }>(
        'select version, name, checksum from sms_schema_migrations order by version',
      );
      assert.deepEqual(recorded.rows, migrations.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));
      const objects = await db.pool.query<{ file: string; checksum: string }>('select file, checksum from sms_schema_objects order by file');
      assert.deepEqual(objects.rows, files.map((f) => ({ file: f.file, checksum: f.checksum })).sort((a, b) => (a.file < b.file ? -1 : 1)));
      assert.equal((await db.pool.query(`select to_regnamespace('graphile_worker') as s`)).rows[0].s, null);
      await db.pool.query(`update sms_settings set default_sender = 'CliBrand'`);
      const res = await api.rpc<string>('sms_send', { recipient: '+79991234567', body: 'via the CLI migration' }, { role: 'service_role' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal((await api.rpc('sms_send', { recipient: '+79991234567', body: 'x' }, { role: 'anon' })).status, 401);

      const result = await migrate(db.ownerUrl);
      assert.deepEqual(result, { applied: [], alreadyApplied: migrations.length, objects: [], roles: roleNames() });
      assert.notEqual((await db.pool.query(`select to_regnamespace('graphile_worker') as s`)).rows[0].s, null);
      const policies = await db.pool.query(`select count(*)::int as n from pg_policies where schemaname = 'graphile_worker' and policyname = 'sms_worker_all'`);
      assert.ok(policies.rows[0].n > 0, 'the worker role was granted Graphile Worker\'s tables');

      await applyFile(db.ownerUrl); // applying it again changes nothing
      assert.equal((await db.pool.query('select count(*)::int as n from sms_schema_migrations')).rows[0].n, migrations.length);
    } finally {
      await api.end();
      await db.drop();
    }
  });

  test('applying it, again, and the switches in the SQL editor print no NOTICE', async () => {
    const db = await createSupabaseDatabase({ migrated: false });
    const c = new pg.Client({ connectionString: db.ownerUrl });
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? String(n)));
    await c.connect();
    try {
      for (let i = 0; i < 2; i++) {
        await c.query('begin');
        await c.query(generated);
        await c.query('commit');
      }
      assert.equal((await c.query('select count(*)::int as n from sms_schema_migrations')).rows[0].n, migrations.length);
      // As the docs tell the owner to, in the SQL editor (each calls sms_grant_supabase_roles()).
      await c.query('select sms_allow_service_role_read(true)');
      await c.query('select sms_allow_service_role_read(false)');
      await c.query('update sms_auth_hook_settings set users_see_own_codes = true');
      await c.query('update sms_auth_hook_settings set users_see_own_codes = false');
      assert.equal((await c.query(`select count(*)::int as n from pg_policy where polname = 'sms_auth_code_own_select'`)).rows[0].n, 0);
      assert.deepEqual(notices, []);
    } finally {
      await c.end();
      await db.drop();
    }
  });

  test('applied to a database `sms-outbox migrate` set up: nothing happens', async () => {
    const db = await createSupabaseDatabase();
    try {
      const before = (await db.pool.query('select version, applied_at from sms_schema_migrations order by 1')).rows;
      await applyFile(db.ownerUrl);
      assert.deepEqual((await db.pool.query('select version, applied_at from sms_schema_migrations order by 1')).rows, before);
    } finally {
      await db.drop();
    }
  });

  test('an upgrade applies only the new migrations; an edited or a newer one is refused', async () => {
    const db = await createSupabaseDatabase({ migrated: false });
    try {
      // The file an older release generated: the first six migrations, as released.
      await applyFile(db.ownerUrl, releasedSupabaseMigration(6));
      assert.equal((await db.pool.query('select max(version)::int as v from sms_schema_migrations')).rows[0].v, 6);
      await applyFile(db.ownerUrl);
      assert.equal((await db.pool.query('select max(version)::int as v from sms_schema_migrations')).rows[0].v, migrations.at(-1)!.version);

      await db.pool.query(`update sms_schema_migrations set checksum = 'edited' where version = 3`);
      await assert.rejects(applyFile(db.ownerUrl), /migration 0003_\w+\.sql was applied with different content/);
      await db.pool.query(`update sms_schema_migrations set checksum = $1 where version = 3`, [migrations[2]!.checksum]);

      await db.pool.query(`insert into sms_schema_migrations (version, name, checksum) values (9999, '9999_future.sql', 'x')`);
      await assert.rejects(applyFile(db.ownerUrl), /has migration 9999, newer than this file knows/);
    } finally {
      await db.drop();
    }
  });
});
