/**
 * The Send SMS Hook on a PostgreSQL without Supabase: a cluster of its own (the shared test
 * server's roles are server-wide and may already include Supabase's), where schema public is
 * closed to PUBLIC as on Supabase. Migrating works without Supabase's roles and grants the hook to
 * no one; once supabase_auth_admin exists, the next `sms-outbox migrate` grants it EXECUTE (and
 * USAGE on schema public), and only it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { connectAs, withDatabase } from '../support/db.js';
import { callSendSmsHook, hookExecuteGrantees, randomOtp, sendSmsEvent } from './support.js';

let cluster: EmbeddedPostgresHandle;
let url: string;
let admin: pg.Client;

before(async () => {
  cluster = await startEmbeddedPostgres({ settings: { fsync: 'off' } });
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  await c.query('create database plain');
  await c.end();
  url = withDatabase(cluster.url, 'plain');
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('revoke all on schema public from public');
});
after(async () => {
  await admin?.end();
  await cluster?.stop();
});

const grantees = () => hookExecuteGrantees(admin);

test('without Supabase\'s roles the migrations apply, and nobody may call the hook', async () => {
  const roles = await admin.query(`select rolname from pg_roles where rolname in ('anon', 'authenticated', 'service_role', 'supabase_auth_admin')`);
  assert.deepEqual(roles.rows, []);
  await migrate(url, { settings: { defaultSender: 'Plain' } });
  assert.deepEqual(await grantees(), []);
  await admin.query(`create role app login password 'app' in role sms_sender, sms_reader`);
  const app = await connectAs(url, 'app', 'app');
  try {
    await assert.rejects(app.query('select public.sms_auth_send_sms_hook($1)', [JSON.stringify(sendSmsEvent())]), (e: { code?: string }) => e.code === '42501');
  } finally {
    await app.end();
  }
});

test('supabase_auth_admin created later: the next migrate grants it the hook, which then queues codes', async () => {
  await admin.query(`create role anon nologin noinherit; create role authenticated nologin noinherit; create role service_role nologin noinherit bypassrls`);
  await admin.query(`create role supabase_auth_admin noinherit createrole login noreplication password 'auth'`);
  await admin.query(`alter role supabase_auth_admin set search_path = "auth"`);
  assert.deepEqual(await grantees(), [], 'not before the migrate');
  await migrate(url);
  assert.deepEqual(await grantees(), ['supabase_auth_admin']);
  const usage = await admin.query(`select has_schema_privilege('supabase_auth_admin', 'public', 'usage') as ok`);
  assert.equal(usage.rows[0].ok, true, 'USAGE on schema public, which Supabase Auth needs to reach the function');

  const auth = await connectAs(url, 'supabase_auth_admin', 'auth');
  try {
    const otp = randomOtp();
    const call = await callSendSmsHook(auth, sendSmsEvent({ phone: '+79990001122', otp }));
    assert.deepEqual(call.answer, {});
    const r = await admin.query(`select owner, o.body, s.body as secret, priority from sms_outbox o join sms_outbox_secret s on s.outbox_id = o.id where recipient = '79990001122'`);
    assert.deepEqual(r.rows, [{ owner: 'supabase_auth_admin', body: '', secret: `${otp} is your sign-in code. Do not share it.`, priority: 10 }]);
  } finally {
    await auth.end();
  }
  // The API roles get what they always get, and not the hook.
  const service = await admin.query(`select has_function_privilege('service_role', 'public.sms_auth_send_sms_hook(jsonb)', 'execute') as hook,
                                            has_function_privilege('service_role', 'public.sms_auth_code_status(text, uuid)', 'execute') as status`);
  assert.deepEqual(service.rows[0], { hook: false, status: true });
});
