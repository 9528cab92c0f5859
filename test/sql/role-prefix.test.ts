/**
 * Two databases on one server with different SMS_ROLE_PREFIX, migrated with the real CLI: roles
 * are server-wide, so each database must grant only its own roles. Every cross-database attempt
 * (sender, reader, worker) is refused with 42501, the owner's own calls work unchanged, a later
 * migrate keeps the recorded names and refuses another prefix unless asked to switch, and a
 * switch moves every grant and policy of an installed database to the new roles. Plus the
 * Supabase CLI migration generated for a prefix, and the worker's start-up hint.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { roleNames, visibleRoleNames, type RoleNames } from '../../src/db/roles.js';
import { renderSupabaseMigration } from '../../src/db/supabase-migration.js';
import { connectAs, createTestDatabase, runInOneTransaction, serverUrl, type TestDatabase } from '../support/db.js';
import { runCli } from '../ops/helpers.js';
import { TestRoles } from './helpers.js';

const password = randomBytes(8).toString('hex');
const defaults = roleNames();
const second = roleNames(`sms_t${process.pid}_${randomBytes(2).toString('hex')}_`);
const third = roleNames(`sms_u${process.pid}_${randomBytes(2).toString('hex')}_`);
const logins = new TestRoles();
const databases: TestDatabase[] = [];
const clients: pg.Client[] = [];

let db1: TestDatabase; // the default roles (the runner's template)
let db2: TestDatabase; // migrated with SMS_ROLE_PREFIX = second.prefix
let db2Migrate: Awaited<ReturnType<typeof runCli>>;

async function database(migrated: boolean): Promise<TestDatabase> {
  const d = await createTestDatabase({ migrated });
  databases.push(d);
  return d;
}

function migrateCli(d: TestDatabase, prefix: string | null, args: string[] = []) {
  return runCli({ DATABASE_URL: d.url, ...(prefix === null ? {} : { SMS_ROLE_PREFIX: prefix }) }, ['migrate', ...args], 120_000);
}

async function connect(d: TestDatabase, user: string): Promise<pg.Client> {
  const c = await connectAs(d.url, user, password);
  clients.push(c);
  return c;
}

/** Every privilege or policy in `d` that names one of `roles` (sms_ objects, sms_private, graphile_worker). */
async function mentions(d: TestDatabase, roles: RoleNames): Promise<string[]> {
  const r = await d.pool.query<{ what: string }>(
    `with ours as (select oid from pg_roles where rolname = any($1::text[])),
     objects as (
       select c.oid::regclass::text as name, c.relacl as acl from pg_class c
        where (c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%')
           or c.relnamespace in ('sms_private'::regnamespace, coalesce(to_regnamespace('graphile_worker'), 0))
       union all
       select p.oid::regprocedure::text, p.proacl from pg_proc p
        where (p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_%')
           or p.pronamespace in ('sms_private'::regnamespace, coalesce(to_regnamespace('graphile_worker'), 0))
       union all
       select 'schema ' || n.nspname, n.nspacl from pg_namespace n where n.nspname in ('public', 'sms_private', 'graphile_worker')
       union all
       select c.oid::regclass::text || '.' || a.attname, a.attacl from pg_attribute a join pg_class c on c.oid = a.attrelid
        where c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%' and a.attacl is not null
     )
     select distinct o.name || ' to ' || x.grantee::regrole::text as what
       from objects o, aclexplode(o.acl) x where x.grantee in (select oid from ours)
     union
     select distinct 'policy ' || p.polname || ' on ' || p.polrelid::regclass::text
       from pg_policy p, unnest(p.polroles) r where r in (select oid from ours)
     order by 1`,
    [[roles.sender, roles.reader, roles.worker]],
  );
  return r.rows.map((row) => row.what);
}

before(async () => {
  db1 = await database(true);
  db2 = await database(false);
  db2Migrate = await migrateCli(db2, second.prefix);
  assert.equal(db2Migrate.code, 0, db2Migrate.stderr);
});

after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  for (const d of databases) await d.drop();
  await logins.dropAll();
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    for (const r of [second, third]) for (const name of [r.sender, r.reader, r.worker]) await admin.query(`drop role if exists ${name}`);
  } finally {
    await admin.end();
  }
});

type Kind = 'sender' | 'reader' | 'worker';

/** Each statement a role of `kind` may run; all must pass where it holds the database's role, all fail with 42501 elsewhere. */
const STATEMENTS: Record<Kind, string[]> = {
  sender: [
    `select public.sms_send('+79991234567', 'hi', sender => 'Shop')`,
    `select * from public.sms_status('00000000-0000-7000-8000-000000000000')`,
    `select public.sms_cancel('00000000-0000-7000-8000-000000000000')`,
    `select * from public.sms_segments('hi')`,
    `select public.sms_retry('00000000-0000-7000-8000-000000000000')`,
    `select public.sms_opt_out('+79991234567')`,
  ],
  reader: [
    'select count(*) from public.sms_outbox',
    'select * from public.sms_stats',
    'select count(*) from public.sms_inbox',
    'select * from public.sms_opt_out_stats',
  ],
  worker: [
    `update public.sms_outbox set updated_at = now() where false`,
    'select count(*) from graphile_worker.jobs',
    'select public.sms_rate_reserve(1, 10, 1)',
    'select * from public.sms_settings',
    'select * from public.sms_redact(1)',
  ],
};

async function attempt(c: pg.Client, sql: string): Promise<string> {
  try {
    await c.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  }
}

describe('two databases, two prefixes', () => {
  test('migrate names the roles it installed', () => {
    assert.match(db2Migrate.stdout, new RegExp(`roles ${second.sender}, ${second.reader}, ${second.worker}\n`));
  });

  test("each database lets in only its own roles' members (42501 for the other's)", async () => {
    const results: string[] = [];
    for (const kind of ['sender', 'reader', 'worker'] as const) {
      const first = await logins.create({ login: password, memberOf: [defaults[kind]] });
      const other = await logins.create({ login: password, memberOf: [second[kind]] });
      for (const [login, home] of [
        [first, db1],
        [other, db2],
      ] as const) {
        for (const d of [db1, db2]) {
          const c = await connect(d, login);
          for (const sql of STATEMENTS[kind]) {
            const want = d === home ? 'ok' : '42501';
            const got = await attempt(c, sql);
            if (got !== want) results.push(`${kind} of ${home === db1 ? 'db1' : 'db2'} in ${d === db1 ? 'db1' : 'db2'}: ${sql} -> ${got}, want ${want}`);
          }
        }
      }
    }
    assert.deepEqual(results, []);
  });

  test("db2 grants nothing to the default roles, and its own roles everything they need", async () => {
    assert.deepEqual(await mentions(db2, defaults), []);
    const own = await mentions(db2, second);
    for (const want of [
      `sms_send(text,text,text,timestamp with time zone,timestamp with time zone,integer,text,jsonb,text) to ${second.sender}`,
      `sms_retry(uuid) to ${second.sender}`,
      `sms_opt_out(text) to ${second.sender}`,
      `sms_opt_out to ${second.reader}`,
      `sms_opt_out to ${second.worker}`,
      `sms_redact(integer) to ${second.worker}`,
      `sms_outbox to ${second.reader}`,
      `policy sms_reader_select on sms_outbox`,
      `policy sms_worker_all on graphile_worker._private_jobs`,
      `schema graphile_worker to ${second.worker}`,
    ]) {
      assert.ok(own.some((m) => m.endsWith(want) || m.startsWith(want)), `${want} in:\n${own.join('\n')}`);
    }
    const recorded = await db2.pool.query('select sender, reader, worker from sms_private.roles');
    assert.deepEqual(recorded.rows[0], { sender: second.sender, reader: second.reader, worker: second.worker });
  });

  test("an app's own calls are unchanged in a database with a prefix", async () => {
    const app = await logins.create({ login: password, memberOf: [second.sender] });
    const c = await connect(db2, app);
    const id = (await c.query<{ id: string }>(`select public.sms_send('+79991234567', 'Code 1', sender => 'Shop', idempotency_key => 'k1') as id`)).rows[0]!.id;
    assert.equal((await c.query<{ id: string }>(`select public.sms_send('+79991234567', 'Code 1', sender => 'Shop', idempotency_key => 'k1') as id`)).rows[0]!.id, id);
    assert.equal((await c.query('select status from public.sms_status($1)', [id])).rows[0].status, 'queued');
    assert.equal((await c.query('select public.sms_cancel($1) as ok', [id])).rows[0].ok, true);
  });

  test('any login can read which reader and worker roles a database uses (for start-up hints)', async () => {
    const nobody = await logins.create({ login: password });
    assert.deepEqual(await visibleRoleNames(await connect(db2, nobody)), { reader: second.reader, worker: second.worker });
    assert.deepEqual(await visibleRoleNames(await connect(db1, nobody)), { reader: defaults.reader, worker: defaults.worker });
  });

  test("`sms-outbox worker` as a login without the worker role names the database's worker role", async () => {
    const nobody = await logins.create({ login: password });
    const u = new URL(db2.url);
    u.username = nobody;
    u.password = password;
    const r = await runCli({ DATABASE_URL: u.toString(), SMPP_URL: 'smpp://acme:secret@127.0.0.1:2775' });
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, new RegExp(`grant ${second.worker} to <login role>`));
  });
});

describe('migrating again', () => {
  test('without SMS_ROLE_PREFIX keeps the recorded roles', async () => {
    const r = await migrateCli(db2, null);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`roles ${second.sender}, `));
    assert.deepEqual(await mentions(db2, defaults), []);
  });

  test('with another SMS_ROLE_PREFIX is refused (exit 78) and changes nothing', async () => {
    const before = await mentions(db2, second);
    const r = await migrateCli(db2, defaults.prefix);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, new RegExp(`roles are ${second.sender}, ${second.reader} and ${second.worker} but SMS_ROLE_PREFIX is sms_: run \`sms-outbox migrate --switch-role-prefix\``));
    assert.deepEqual(await mentions(db2, second), before);
    assert.deepEqual(await mentions(db2, defaults), []);
  });

  test('--switch-role-prefix without SMS_ROLE_PREFIX is a usage mistake', async () => {
    const r = await migrateCli(db2, null, ['--switch-role-prefix']);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /--switch-role-prefix needs SMS_ROLE_PREFIX/);
  });

  test('a prefix that cannot name roles is refused before connecting', async () => {
    const r = await migrateCli(db2, 'Bad-Prefix');
    assert.equal(r.code, 78);
    assert.match(r.stderr, /SMS_ROLE_PREFIX: expected lower-case letters, digits and _/);
  });
});

describe('switching an installed database to other roles', () => {
  test('moves every grant and policy: the old roles are refused, the new ones work, messages keep their owners', async () => {
    const db3 = await database(true);
    const oldSender = await logins.create({ login: password, memberOf: [defaults.sender] });
    const before = await connect(db3, oldSender);
    const id = (await before.query<{ id: string }>(`select public.sms_send('+79991234567', 'before', sender => 'Shop') as id`)).rows[0]!.id;

    const refused = await migrateCli(db3, third.prefix);
    assert.equal(refused.code, 78, refused.stderr);

    // As docs/guides/production.md (Shared servers) advises: the new sender role created and granted before the switch.
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    await admin.query(`create role ${third.sender} nologin`).finally(() => admin.end());
    const early = await logins.create({ login: password, memberOf: [third.sender] });
    const earlyClient = await connect(db3, early);
    assert.equal(await attempt(earlyClient, STATEMENTS.sender[0]!), '42501', 'not before the switch');

    const r = await migrateCli(db3, third.prefix, ['--switch-role-prefix']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`moving this database's grants from ${defaults.sender}, ${defaults.reader} and ${defaults.worker} to ${third.sender}`));
    assert.deepEqual(await mentions(db3, defaults), [], 'nothing is left to the old roles');
    assert.equal(await attempt(earlyClient, STATEMENTS.sender[0]!), 'ok', 'the login granted the new role beforehand sends at once');

    const results: string[] = [];
    for (const kind of ['sender', 'reader', 'worker'] as const) {
      const oldLogin = await logins.create({ login: password, memberOf: [defaults[kind]] });
      const newLogin = await logins.create({ login: password, memberOf: [third[kind]] });
      for (const [login, want] of [
        [oldLogin, '42501'],
        [newLogin, 'ok'],
      ] as const) {
        const c = await connect(db3, login);
        for (const sql of STATEMENTS[kind]) {
          const got = await attempt(c, sql);
          if (got !== want) results.push(`${kind} ${login === oldLogin ? 'old' : 'new'}: ${sql} -> ${got}, want ${want}`);
        }
      }
    }
    assert.deepEqual(results, []);
    const owner = await db3.pool.query('select owner from sms_outbox where id = $1', [id]);
    assert.equal(owner.rows[0].owner, oldSender, 'ownership is about the login, not the group role');
    const policies = await db3.pool.query<{ roles: string[] }>(
      `select array_agg(distinct r::regrole::text) as roles from pg_policy p, unnest(p.polroles) r where p.polname = 'sms_worker_all'`,
    );
    assert.deepEqual(policies.rows[0]!.roles, [third.worker]);
  });
});

describe('the Supabase CLI migration for a prefix', () => {
  const applyFile = (d: TestDatabase, sql: string) => runInOneTransaction(d.url, sql);

  test('grants to the prefixed roles only, and refuses a database that uses other names', async () => {
    const forSecond = renderSupabaseMigration({ rolePrefix: second.prefix });
    const db4 = await database(false);
    await applyFile(db4, forSecond);
    assert.deepEqual(await mentions(db4, defaults), []);
    assert.ok((await mentions(db4, second)).length > 0);
    await applyFile(db4, forSecond); // again: nothing happens
    await assert.rejects(applyFile(db4, renderSupabaseMigration()), new RegExp(`sender role is ${second.sender}, but this file was generated for sms_sender`));
    await assert.rejects(applyFile(db1, forSecond), new RegExp(`sender role is sms_sender, but this file was generated for ${second.sender}`));
  });
});
