/**
 * Redaction as production runs it: the sms_redact task, registered in the worker's crontab, run
 * by Graphile Worker inside the worker process (logged in with nothing but sms_worker). Messages
 * delivered through the simulator and an incoming SMS sent with its control port are blanked
 * once past sms_settings.redact_after / inbox_redact_after; younger and unfinished ones are not.
 * What a redacted row keeps still answers the questions asked later (was it this text? an
 * idempotent repeat), and no text reaches the log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulatorProcess, type SimulatorProcess } from '../support/simulator-process.js';
import { waitFor } from '../ops/helpers.js';
import { rejectsWith, TestRoles } from '../sql/helpers.js';

let tdb: TestDatabase;
let simulator: SimulatorProcess;
let worker: WorkerProcess;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Redact'`);
  const workerRole = await roles.create({ login: password, memberOf: ['sms_worker'] });
  simulator = await startSimulatorProcess(['--receipt-delay-ms', '20']);
  const url = new URL(tdb.url);
  url.username = workerRole;
  url.password = password;
  worker = startWorkerProcess({ DATABASE_URL: url.toString(), SMPP_URL: `smpp://red:act@127.0.0.1:${simulator.smppPort}`, SMPP_RECONNECT_MAX_S: '1' });
  await worker.waitForLog(/SMPP session bound/);
});

after(async () => {
  await worker?.stop();
  await simulator?.stop();
  await tdb?.drop();
  await roles.dropAll();
});

const send = async (body: string, extra = '') =>
  (await tdb.pool.query<{ id: string }>(`select sms_send('+79991130001', $1${extra}) as id`, [body])).rows[0]!.id;
const outbox = async (id: string) => (await tdb.pool.query('select * from sms_outbox where id = $1', [id])).rows[0] as Record<string, any>;

async function runRedactJob(): Promise<void> {
  const job = (await tdb.pool.query<{ id: string }>(`select id from graphile_worker.add_job('sms_redact')`)).rows[0]!.id;
  await waitFor('the sms_redact job done', async () => (await tdb.pool.query('select 1 from graphile_worker.jobs where id = $1', [job])).rowCount === 0, 30_000);
  const failed = await tdb.pool.query(`select last_error from graphile_worker.jobs where task_identifier = 'sms_redact' and last_error is not null`);
  assert.deepEqual(failed.rows, []);
}

test('the worker registers sms_redact in its crontab, every minute', async () => {
  await waitFor(
    'sms_redact known to Graphile cron',
    async () => (await tdb.pool.query(`select 1 from graphile_worker._private_known_crontabs where identifier = 'sms_redact'`)).rowCount === 1,
    20_000,
  );
});

test('bodies past the redaction age are blanked by the task; a keyed hash, the length and the segments remain', async () => {
  const secret = 'Your login code: 90417. Do not share it.';
  const old = await send(secret, `, idempotency_key => 'login-90417'`);
  const young = await send('Your login code: 55102');
  const long = await send(`Order 7731: ${'details '.repeat(30)}`);
  const scheduled = await send('Reminder: code 38164', `, send_at => now() + interval '1 day'`);
  await waitForStatuses(tdb.pool, [old, young, long], ['delivered']);
  const mo = await simulator.call('POST', '/mo', { from: '+79991130002', to: 'Redact', text: 'My PIN is 72209' });
  // 200: the worker answered within the simulator's 10 s; 202: sent, not answered yet (a loaded
  // machine: the worker answers once it has stored it, so the row is waited for).
  assert.ok(mo.status === 200 || mo.status === 202, `POST /mo: ${mo.status}`);
  const inbox = await waitFor('the incoming SMS stored', async () => (await tdb.pool.query(`select id, body, payload from sms_inbox where body = 'My PIN is 72209'`)).rows[0], 60_000);
  assert.ok(inbox?.payload, 'stored with its payload');
  const newer = await simulator.call('POST', '/mo', { from: '+79991130003', to: 'Redact', text: 'PIN 64470, just now' });
  assert.ok(newer.status === 200 || newer.status === 202, `POST /mo: ${newer.status}`);
  await waitFor('the newer incoming SMS stored', async () => (await tdb.pool.query(`select 1 from sms_inbox where body = 'PIN 64470, just now'`)).rowCount === 1, 60_000);

  // Nothing happens while the ages are unset (the default).
  await runRedactJob();
  assert.equal((await outbox(old)).redacted_at, null);

  // The first message and the first incoming SMS finished two hours ago; the rest just now.
  await tdb.pool.query(`update sms_outbox set done_at = now() - interval '2 hours' where id = any($1::uuid[])`, [[old, long]]);
  await tdb.pool.query(`update sms_inbox set received_at = now() - interval '2 hours' where id = $1`, [inbox.id]);
  await tdb.pool.query(`update sms_settings set redact_after = '1 hour', inbox_redact_after = '1 hour'`);
  const before = await outbox(long);
  await runRedactJob();

  const o = await outbox(old);
  const hash = (await tdb.pool.query('select sms_private.body_hash($1) as h', [secret])).rows[0].h as Buffer;
  assert.deepEqual(
    { body: o.body, hash: o.body_hash, length: o.body_length, segments: o.segments, status: o.status, redacted: o.redacted_at instanceof Date },
    { body: '', hash, length: secret.length, segments: 1, status: 'delivered', redacted: true },
  );
  const l = await outbox(long);
  assert.deepEqual([l.body, l.body_length, l.segments], ['', before.body.length, before.segments]);
  assert.equal(l.segments, 2);
  for (const id of [young, scheduled]) {
    const r = await outbox(id);
    assert.deepEqual([r.redacted_at, r.body_hash], [null, null]);
    assert.notEqual(r.body, '');
  }
  const i = (await tdb.pool.query('select body, payload, body_hash, body_length, redacted_at from sms_inbox where id = $1', [inbox.id])).rows[0];
  assert.deepEqual(
    { body: i.body, payload: i.payload, hash: i.body_hash, length: i.body_length },
    { body: '', payload: null, hash: (await tdb.pool.query('select sms_private.body_hash($1) as h', ['My PIN is 72209'])).rows[0].h, length: 15 },
  );
  assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_inbox where redacted_at is null`)).rows[0].n, 1, 'the newer one stays');
  // The hash is keyed: it is not the plain sha256 of the text, which anyone could recompute.
  assert.notDeepEqual(hash, (await tdb.pool.query(`select sha256(convert_to($1, 'UTF8')) as h`, [secret])).rows[0].h);

  const line = await worker.waitForLog(/redacted the bodies/);
  assert.deepEqual([line.messages, line.inbox], [2, 1]);
  const logs = JSON.stringify(worker.logs);
  for (const text of ['90417', '72209', '55102', '64470']) assert.ok(!logs.includes(text), `${text} in the worker log`);
});

test('after redaction, an idempotent repeat still finds its message and a different body is still refused; sms_retry has nothing to send', async () => {
  const old = (await tdb.pool.query<{ id: string }>(`select id from sms_outbox where idempotency_key = 'login-90417'`)).rows[0]!.id;
  assert.equal(await send('Your login code: 90417. Do not share it.', `, idempotency_key => 'login-90417'`), old);
  await rejectsWith(tdb.pool.query(`select sms_send('+79991130001', 'Your login code: 11111', idempotency_key => 'login-90417')`), '23505', 'idempotency_key');
  await tdb.pool.query(`update sms_outbox set status = 'undelivered' where id = $1`, [old]);
  assert.equal((await tdb.pool.query('select sms_retry($1) as ok', [old])).rows[0].ok, false);
  assert.equal((await tdb.pool.query('select redacted_at from sms_status($1)', [old])).rows[0].redacted_at instanceof Date, true);
});
