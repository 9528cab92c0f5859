/**
 * What the Send SMS Hook makes Postgres write to its server log (issue 19): a Postgres of its
 * own, started for this file with the server's default logging settings (log_min_messages =
 * warning, log_min_error_statement = error), whose log this test reads. The hook is called with
 * the event written into the SQL text, as psql, the SQL editor or any client that does not bind
 * parameters sends it, by the schema's owner and by supabase_auth_admin: whatever happens, no
 * log line may hold the code (Postgres adds a STATEMENT line, with that whole SQL text, to every
 * message at or above log_min_error_statement).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { withDatabase } from '../support/db.js';
import { waitFor } from '../ops/helpers.js';
import { randomOtp, sendSmsEvent } from './support.js';

let server: EmbeddedPostgresHandle;
let url: string;
let log = '';
let owner: pg.Client;
let authAdmin: pg.Client;
const authPassword = randomBytes(8).toString('hex');

before(async () => {
  server = await startEmbeddedPostgres({ onLog: (text) => (log += text) });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    const settings = await admin.query<{ name: string; setting: string; source: string }>(
      `select name, setting, source from pg_settings where name in ('log_min_messages', 'log_min_error_statement', 'log_statement', 'log_min_duration_statement')`,
    );
    assert.deepEqual(
      Object.fromEntries(settings.rows.map((r) => [r.name, [r.setting, r.source]])),
      {
        log_min_duration_statement: ['-1', 'default'],
        log_min_error_statement: ['error', 'default'],
        log_min_messages: ['warning', 'default'],
        log_statement: ['none', 'default'],
      },
      'the server logs as PostgreSQL does by default',
    );
    await admin.query(`create role supabase_auth_admin noinherit createrole login password '${authPassword}'`);
    await admin.query('create database app');
  } finally {
    await admin.end();
  }
  url = withDatabase(server.url, 'app');
  await migrate(url, { skipGraphile: true });
  owner = new pg.Client({ connectionString: url });
  await owner.connect();
  const u = new URL(url);
  u.username = 'supabase_auth_admin';
  u.password = authPassword;
  authAdmin = new pg.Client({ connectionString: u.toString() });
  await authAdmin.connect();
});

after(async () => {
  await owner?.end().catch(() => {});
  await authAdmin?.end().catch(() => {});
  await server?.stop();
});

/** The event as SQL text: a literal, the way a client that does not bind parameters sends it. */
const literal = (event: unknown) => `select public.sms_auth_send_sms_hook('${JSON.stringify(event).replace(/'/g, "''")}'::jsonb) as answer`;

/** Waits until `client`'s own marker warning is in the log: what it wrote before is there too. */
async function logFlushed(client: pg.Client): Promise<void> {
  const marker = `log marker ${randomBytes(6).toString('hex')}`;
  await client.query(`do $$ begin raise warning '${marker}'; end $$`);
  await waitFor('the marker in the server log', () => log.includes(marker));
}

test('the error path (no sender configured) writes a warning with the code masked, and no STATEMENT line with the event', async () => {
  for (const client of [owner, authAdmin]) {
    const otp = randomOtp();
    const { rows } = await client.query(literal(sendSmsEvent({ phone: '+79991230001', otp })));
    assert.equal(rows[0].answer.error.http_code, 500, JSON.stringify(rows[0].answer));
    await logFlushed(client);
    assert.match(log, /WARNING: {2}sms_auth_send_sms_hook: the code was not queued: 22004 sender is null and no default sender is configured/);
    assert.ok(!log.includes(otp), `the code is in the server log:\n${log.split('\n').filter((l) => l.includes(otp)).join('\n')}`);
    assert.ok(!/STATEMENT: .*sms_auth_send_sms_hook/.test(log), 'no STATEMENT line with the hook call');
  }
});

test('a statement timeout while the number\'s lock is held is answered 429, with nothing in the log', async () => {
  await owner.query(`update sms_settings set default_sender = 'LogTest'`);
  const phone = '+79991230002';
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  try {
    // Another call for the same number, its transaction still open: it holds the number's lock.
    await holder.query('begin');
    const first = await holder.query(literal(sendSmsEvent({ phone, otp: randomOtp() })));
    assert.deepEqual(first.rows[0].answer, {});
    const otp = randomOtp();
    await authAdmin.query('begin');
    await authAdmin.query(`set local statement_timeout = '300ms'`);
    const { rows } = await authAdmin.query(literal(sendSmsEvent({ phone, otp })));
    await authAdmin.query('rollback');
    assert.equal(rows[0].answer.error.http_code, 429, JSON.stringify(rows[0].answer));
    await logFlushed(authAdmin);
    assert.ok(!log.includes(otp), `the code is in the server log:\n${log.split('\n').filter((l) => l.includes(otp)).join('\n')}`);
    assert.ok(!/canceling statement due to statement timeout/.test(log));
  } finally {
    await holder.query('rollback').catch(() => {});
    await holder.end();
  }
});
