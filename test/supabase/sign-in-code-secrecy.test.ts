/**
 * Where a sign-in code can be read (issue 19, migration 0018). Supabase Auth queues a code
 * through the Send SMS Hook (as supabase_auth_admin, the documented event); a real worker process
 * logged in with nothing but the worker role sends it to the simulator over TCP. Every other way
 * into the database is tried while the code waits (the carrier down) and after it went out: a
 * login with the reader role (a dashboard), service_role and a signed-in user through the
 * PostgREST replay, the LISTEN channels, sms_status and sms_auth_code_status, the retry history.
 * Only the worker reads the code, and only while it is queued or sending.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { STATUS } from '../../src/smpp/command-status.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { connectAs, serverUrl } from '../support/db.js';
import { createLogin, type Login } from '../support/logins.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { waitFor } from '../ops/helpers.js';
import { callSendSmsHook, connectAsAuth, createSupabaseDatabase, isError, Postgrest, randomOtp, sendSmsEvent, userClaims, type SupabaseDatabase } from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;
let sim: Simulator;
let worker: WorkerProcess;
let auth: pg.Client;
let reader: pg.Client;
let workerClient: pg.Client;
let listener: pg.Client;
const notifications: string[] = [];
const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
/** The worker's and a reader app's logins, as production gives them (test/support/logins.ts). */
let workerLogin: Login | undefined;
let readerLogin: Login | undefined;
const serviceStandIn = `sms_t_secret_service_${tag}`;
const password = randomBytes(8).toString('hex');

const newPhone = () => `+7999${String(randomBytes(4).readUInt32BE() % 10_000_000).padStart(7, '0')}`;
const digits = (phone: string) => phone.replace(/\D/g, '');

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
  // The carrier is down at first: codes wait in the queue.
  sim = await startSimulator({ receiptDelayMs: 20, refuseBinds: STATUS.ESME_RSYSERR });
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  try {
    // service_role holding the reader role, for sms_status (as auth-hook-e2e.test.ts: a grant on
    // the shared service_role would reach other test databases).
    await admin.query(`create role ${serviceStandIn} login noinherit password '${password}' in role sms_reader`);
    await admin.query(`grant execute on function sms_status(uuid) to ${serviceStandIn}`);
  } finally {
    await admin.end();
  }
  // The widest reads an operator can switch on: service_role reads the tables over REST, users
  // read their own rows of sms_auth_code.
  await db.pool.query(`select sms_allow_service_role_read(true)`);
  await db.pool.query(`update sms_auth_hook_settings set users_see_own_codes = true`);
  workerLogin = await createLogin(db.adminUrl, 'sms_worker');
  readerLogin = await createLogin(db.adminUrl, 'sms_reader');
  worker = startWorkerProcess({ DATABASE_URL: workerLogin.url, SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`, SMPP_RECONNECT_MAX_S: '1' });
  await worker.waitForLog(/worker started/);
  auth = await connectAsAuth(db.adminUrl);
  reader = await connectAs(db.adminUrl, readerLogin.role, readerLogin.password);
  workerClient = await connectAs(db.adminUrl, workerLogin.role, workerLogin.password);
  listener = await connectAs(db.adminUrl, readerLogin.role, readerLogin.password);
  listener.on('notification', (n) => notifications.push(`${n.channel} ${n.payload ?? ''}`));
  for (const channel of ['sms_status', 'sms_inbox', 'sms_outbox_wakeup']) await listener.query(`listen ${channel}`);
});

after(async () => {
  for (const c of [auth, reader, workerClient, listener]) await c?.end().catch(() => {});
  if (worker) assert.equal(await worker.stop(), 0, 'the worker stops cleanly');
  await sim?.stop();
  await api?.end();
  await db?.drop();
  await workerLogin?.drop();
  await readerLogin?.drop();
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${serviceStandIn}`);
  } finally {
    await admin.end();
  }
});

/** Everything the reader login, service_role and the user can read, as one string. */
async function everythingReadable(id: string, phone: string, userId: string): Promise<string> {
  const seen: unknown[] = [];
  for (const table of ['sms_outbox', 'sms_outbox_retry', 'sms_auth_code', 'sms_inbox', 'sms_stats', 'sms_opt_out_log']) {
    seen.push((await reader.query(`select * from ${table}`)).rows);
  }
  seen.push((await reader.query('select * from sms_auth_code_status(phone => $1)', [phone])).rows);
  const svc = await connectAs(db.adminUrl, serviceStandIn, password);
  try {
    seen.push((await svc.query('select * from sms_status($1)', [id])).rows);
  } finally {
    await svc.end();
  }
  for (const table of ['sms_outbox', 'sms_inbox', 'sms_stats', 'sms_auth_code']) {
    const r = await api.select(table, { role: 'service_role' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    seen.push(r.body);
  }
  seen.push((await api.rpc('sms_auth_code_status', { phone }, { role: 'service_role' })).body);
  const own = await api.select('sms_auth_code', { role: 'authenticated', claims: userClaims(userId) });
  assert.equal(own.status, 200, JSON.stringify(own.body));
  seen.push(own.body);
  seen.push(notifications);
  return JSON.stringify(seen);
}

/** The text the worker's login reads from every table it may read. */
async function everythingTheWorkerReads(): Promise<string> {
  const seen: unknown[] = [];
  for (const table of ['sms_outbox', 'sms_outbox_secret', 'sms_outbox_part', 'sms_receipt', 'sms_inbox', 'sms_inbound_parked']) {
    seen.push((await workerClient.query(`select * from ${table}`)).rows);
  }
  return JSON.stringify(seen);
}

test('a sign-in code is readable by the worker alone while it waits, and by nobody once the SMSC accepted it', async () => {
  const phone = newPhone();
  const userId = randomUUID();
  const code = randomOtp();
  const text = `${code} is your sign-in code. Do not share it.`;
  const call = await callSendSmsHook(auth, sendSmsEvent({ userId, phone, otp: code }));
  assert.deepEqual(call.answer, {});
  const { rows } = await db.pool.query<{ id: string }>('select id from sms_outbox where recipient = $1', [digits(phone)]);
  const id = rows[0]!.id;

  // Queued, the carrier down.
  const waiting = await reader.query('select status, body, body_length, redacted_at from sms_outbox where id = $1', [id]);
  assert.deepEqual(waiting.rows, [{ status: 'queued', body: '', body_length: text.length, redacted_at: null }], 'the reader sees the row, its body blanked');
  assert.ok(!(await everythingReadable(id, phone, userId)).includes(code), 'no reader, service_role or user path shows the code');
  await assert.rejects(reader.query('select * from sms_outbox_secret'), (e: { code?: string }) => e.code === '42501');
  const secret = await api.select('sms_outbox_secret', { role: 'service_role' });
  assert.ok(isError(secret.body) && secret.status === 403, JSON.stringify(secret));
  assert.ok((await everythingTheWorkerReads()).includes(text), 'the worker reads it: it has to send it');

  // The carrier back: the code goes out once, whole, and is gone from the database.
  sim.configure({ refuseBinds: null });
  await waitForStatuses(db.pool, [id], ['delivered'], 30_000);
  const wire = sim.received.submits.filter((s) => s.destination === digits(phone));
  assert.deepEqual(wire.map((s) => s.text), [text]);
  const done = await db.pool.query<{ body: string; redacted_at: Date | null; same: boolean; secrets: number }>(
    `select o.body, o.redacted_at, o.body_hash = sms_private.body_hash($2) as same,
            (select count(*)::int from sms_outbox_secret s where s.outbox_id = o.id) as secrets
       from sms_outbox o where o.id = $1`,
    [id, text],
  );
  assert.equal(done.rows[0]!.body, '');
  assert.ok(done.rows[0]!.redacted_at, 'counted as redacted from the SMSC\'s acceptance on');
  assert.equal(done.rows[0]!.same, true, 'the owner can still tell which text it was (keyed hash)');
  assert.equal(done.rows[0]!.secrets, 0);
  assert.ok(!(await everythingTheWorkerReads()).includes(code), 'not even the worker reads it now');
  assert.ok(!(await everythingReadable(id, phone, userId)).includes(code));
  // Nothing left to send again: sms_retry refuses it, as it refuses any redacted message.
  assert.equal((await db.pool.query('select sms_retry($1) as ok', [id])).rows[0].ok, false);
  assert.ok(!JSON.stringify(worker.logs).includes(code) && !worker.stderr().includes(code), 'nor the worker\'s logs');
});

test('a code that never went out (expired in the queue) is gone as well', async () => {
  sim.configure({ refuseBinds: STATUS.ESME_RSYSERR });
  sim.closeConnections();
  await waitFor('the session to go down', () => worker.logs.some((l) => /SMPP session lost/.test(String(l.msg))));
  await db.pool.query(`update sms_auth_hook_settings set code_validity = '1 second'`);
  try {
    const phone = newPhone();
    const code = randomOtp();
    assert.deepEqual((await callSendSmsHook(auth, sendSmsEvent({ phone, otp: code }))).answer, {});
    const id = (await db.pool.query<{ id: string }>('select id from sms_outbox where recipient = $1', [digits(phone)])).rows[0]!.id;
    // The expiry sweep, as the sms_expire task runs it (the worker's own, every minute).
    await waitFor('the code to lapse', async () => (await workerClient.query(`select expires_at <= now() as lapsed from sms_outbox where id = $1`, [id])).rows[0].lapsed);
    await workerClient.query(`select graphile_worker.add_job('sms_expire')`);
    await waitForStatuses(db.pool, [id], ['expired'], 30_000);
    assert.ok(!(await everythingTheWorkerReads()).includes(code));
    const r = await db.pool.query('select body, redacted_at is not null as redacted from sms_outbox where id = $1', [id]);
    assert.deepEqual(r.rows, [{ body: '', redacted: true }]);
  } finally {
    await db.pool.query(`update sms_auth_hook_settings set code_validity = default`);
    sim.configure({ refuseBinds: null });
  }
});
