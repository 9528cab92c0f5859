/**
 * Phone sign-in end to end: Supabase Auth's call of the Send SMS Hook (as supabase_auth_admin,
 * the documented event; ./support.ts callSendSmsHook), a real worker process logged in with
 * nothing but the worker role, the SMSC simulator over TCP. The code is followed to `delivered`
 * and onto the wire, its status read the ways an app reads it, the carrier taken down and brought
 * back, and the refusals read from the worker's /metrics.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, beforeEach, test } from 'node:test';
import pg from 'pg';
import { STATUS } from '../../src/smpp/command-status.js';
import { AUTH_HOOK_REFUSAL_REASONS } from '../../src/worker/metrics.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { connectAs, serverUrl } from '../support/db.js';
import { createLogin, type Login } from '../support/logins.js';
import { startBoundWorker, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { scrape, waitFor } from '../ops/helpers.js';
import { callSendSmsHook, connectAsAuth, createSupabaseDatabase, Postgrest, randomOtp, sendSmsEvent, type SupabaseDatabase } from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;
let sim: Simulator;
let worker: WorkerProcess;
let metricsPort: number;
let auth: pg.Client;
/** The worker's login, as production gives it one (test/support/logins.ts). */
let workerLogin: Login | undefined;
const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
const serviceStandIn = `sms_t_hook_service_${tag}`;
const password = randomBytes(8).toString('hex');
/** Every code made in this file: none may show up in the worker's logs. */
const codes: string[] = [];

const newPhone = () => `+7999${String(randomBytes(4).readUInt32BE() % 10_000_000).padStart(7, '0')}`;
const digits = (phone: string) => phone.replace(/\D/g, '');
const otp = () => {
  const code = randomOtp();
  codes.push(code);
  return code;
};
const onWireTo = (phone: string) => sim.received.submits.filter((s) => s.destination === digits(phone));
async function messageTo(phone: string): Promise<{ id: string; status: string }> {
  const r = await db.pool.query<{ id: string; status: string }>('select id, status from sms_outbox where recipient = $1', [digits(phone)]);
  assert.equal(r.rows.length, 1, `one message to ${phone}`);
  return r.rows[0]!;
}
async function codeStatus(phone: string): Promise<Record<string, unknown>> {
  const r = await api.rpc<Record<string, unknown>[]>('sms_auth_code_status', { phone }, { role: 'service_role' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body as Record<string, unknown>[])[0]!;
}

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
  sim = await startSimulator({ receiptDelayMs: 20 });
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  try {
    // Stands in for service_role holding the reader role (a grant on the shared service_role
    // would reach every other test database on this server): NOINHERIT, EXECUTE on sms_status.
    await admin.query(`create role ${serviceStandIn} login noinherit password '${password}' in role sms_reader`);
    await admin.query(`grant execute on function sms_status(uuid) to ${serviceStandIn}`);
  } finally {
    await admin.end();
  }
  workerLogin = await createLogin(db.adminUrl, 'sms_worker');
  ({ worker, metricsPort } = await startBoundWorker({
    DATABASE_URL: workerLogin.url,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_RECONNECT_MAX_S: '1',
  }, { hooks: { timing: { metricsCacheMs: 0 } } })); // the SQL counts read on every scrape
  auth = await connectAsAuth(db.adminUrl);
});

beforeEach(async () => {
  sim.configure({ refuseBinds: null });
  await db.pool.query(`update sms_auth_hook_settings set template = default, product_name = default, app_hash = null, code_validity = default`);
});

after(async () => {
  await auth?.end();
  assert.equal(await worker?.stop(), 0, 'the worker stops cleanly');
  const output = `${JSON.stringify(worker.logs)}\n${worker.stderr()}`;
  for (const code of codes) assert.ok(!output.includes(code), 'no code in the worker\'s logs');
  await sim?.stop();
  await api?.end();
  await db?.drop();
  await workerLogin?.drop();
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${serviceStandIn}`);
  } finally {
    await admin.end();
  }
});

test('the documented event: the code is delivered as one GSM-7 SMS, and the app sees it delivered (status, receipt) without seeing the code', async () => {
  const phone = newPhone();
  const code = otp();
  const userId = randomUUID();
  const call = await callSendSmsHook(auth, sendSmsEvent({ userId, phone, otp: code }));
  assert.deepEqual(call.answer, {});
  assert.equal(call.committed, true);
  const { id } = await messageTo(phone);
  await waitForStatuses(db.pool, [id], ['delivered']);

  const wire = onWireTo(phone);
  assert.equal(wire.length, 1, 'one SMS');
  assert.equal(wire[0]!.text, `${code} is your sign-in code. Do not share it.`);
  assert.equal(wire[0]!.dataCoding, 0x00, 'GSM-7');
  assert.equal(wire[0]!.esmClass & 0x40, 0, 'a single segment: no UDH');
  assert.equal(wire[0]!.udh, null);
  assert.equal(wire[0]!.source, 'TestBrand');
  assert.equal(wire[0]!.destTon, 1);

  // The server (service_role) through the REST API: the latest code for the number.
  const latest = await codeStatus(phone);
  assert.equal(latest.outbox_id, id);
  assert.equal(latest.user_id, userId);
  assert.equal(latest.status, 'delivered');
  assert.equal(latest.receipt_state, 'DELIVRD');
  assert.equal(latest.attempts, 1);
  assert.equal(latest.resend_advised, false);
  assert.ok(!JSON.stringify(latest).includes(code));
  // sms_auth_code followed the message (what Realtime subscribers receive).
  const row = await db.pool.query('select status from sms_auth_code where outbox_id = $1', [id]);
  assert.equal(row.rows[0].status, 'delivered');
  // sms_status, for a service role that holds the reader role: the code's message is not its own.
  const svc = await connectAs(db.adminUrl, serviceStandIn, password);
  try {
    const s = await svc.query('select status, receipt_state, segments, encoding, metadata from sms_status($1)', [id]);
    assert.deepEqual(s.rows, [{ status: 'delivered', receipt_state: 'DELIVRD', segments: 1, encoding: 'gsm7', metadata: { via: 'supabase_auth_hook', user_id: userId } }]);
  } finally {
    await svc.end();
  }
});

test('Auth calling again with the same event after the code was sent: {} and no second SMS', async () => {
  const phone = newPhone();
  const event = sendSmsEvent({ phone, otp: otp() });
  assert.deepEqual((await callSendSmsHook(auth, event)).answer, {});
  const { id } = await messageTo(phone);
  await waitForStatuses(db.pool, [id], ['delivered']);
  assert.deepEqual((await callSendSmsHook(auth, event)).answer, {});
  // What a second SMS would need, a second row or the first queued again, is not there once the
  // call committed: nothing can send one later.
  assert.deepEqual(await messageTo(phone), { id, status: 'delivered' });
  assert.equal(onWireTo(phone).length, 1);
});

test('a Cyrillic template with an Android app hash: UCS-2 on the wire, the hash as the last line', async () => {
  await db.pool.query(`update sms_auth_hook_settings set template = 'Код для входа в {product}: {code}', product_name = 'Магазин', app_hash = 'FA+9qCX9VSu'`);
  const phone = newPhone();
  const code = otp();
  assert.deepEqual((await callSendSmsHook(auth, sendSmsEvent({ phone, otp: code }))).answer, {});
  await waitForStatuses(db.pool, [(await messageTo(phone)).id], ['delivered']);
  const wire = onWireTo(phone);
  assert.equal(wire.length, 1);
  assert.equal(wire[0]!.text, `Код для входа в Магазин: ${code}\nFA+9qCX9VSu`);
  assert.equal(wire[0]!.dataCoding, 0x08, 'UCS-2');
});

test('the carrier down: the user is told the code is on its way, and it arrives when the carrier is back; a code that expired meanwhile is never sent', async () => {
  sim.configure({ refuseBinds: STATUS.ESME_RSYSERR });
  sim.closeConnections();
  await waitFor('the session to go down', async () => (await scrape(metricsPort)).value('smpp_session_bound') === 0);

  const [waiting, lapsing] = [newPhone(), newPhone()];
  assert.deepEqual((await callSendSmsHook(auth, sendSmsEvent({ phone: waiting, otp: otp() }))).answer, {}, 'Auth answers the sign-in request with success');
  await db.pool.query(`update sms_auth_hook_settings set code_validity = '1 second'`);
  assert.deepEqual((await callSendSmsHook(auth, sendSmsEvent({ phone: lapsing, otp: otp() }))).answer, {});
  await waitFor('the second code to lapse', async () => (await codeStatus(lapsing)).resend_advised === true);
  assert.equal((await messageTo(waiting)).status, 'queued');
  const pending = await codeStatus(waiting);
  assert.equal(pending.status, 'queued');
  assert.equal(pending.resend_advised, false, 'still on its way');
  assert.equal((await codeStatus(lapsing)).resend_advised, true, 'lapsed: offer a new code');

  sim.configure({ refuseBinds: null });
  await waitForStatuses(db.pool, [(await messageTo(waiting)).id], ['delivered'], 30_000);
  await waitForStatuses(db.pool, [(await messageTo(lapsing)).id], ['expired'], 30_000);
  assert.equal(onWireTo(waiting).length, 1);
  assert.equal(onWireTo(lapsing).length, 0, 'an expired code is never sent');
  const lapsed = await codeStatus(lapsing);
  assert.equal(lapsed.status, 'expired');
  assert.equal(lapsed.resend_advised, true);
});

test('refusals are counted in SQL and exported as sms_auth_hook_refusals_total by the worker', async () => {
  const reasons = AUTH_HOOK_REFUSAL_REASONS;
  const sqlCounts = async () =>
    Object.fromEntries(
      (await db.pool.query<{ reason: string; refusals: string }>('select reason, refusals from sms_auth_hook_refusals()')).rows.map((r) => [r.reason, Number(r.refusals)]),
    );
  const exported = async () => {
    const s = await scrape(metricsPort);
    return Object.fromEntries(reasons.map((reason) => [reason, s.value('sms_auth_hook_refusals_total', { reason })]));
  };
  const first = await scrape(metricsPort);
  for (const reason of reasons) assert.ok(first.samples.some((x) => x.name === 'sms_auth_hook_refusals_total' && x.labels.reason === reason), `${reason} is exported`);
  assert.match(first.text, /# TYPE sms_auth_hook_refusals_total counter/);

  const before = await sqlCounts();
  for (const phone of ['12', '+0123456789']) {
    const call = await callSendSmsHook(auth, sendSmsEvent({ phone, otp: otp() }));
    assert.equal(call.answer.error?.http_code, 400);
  }
  const event = sendSmsEvent({ otp: otp() });
  delete (event as { sms?: unknown }).sms;
  assert.equal((await callSendSmsHook(auth, event)).answer.error?.http_code, 400);
  const now = await sqlCounts();
  assert.equal(now.bad_phone! - before.bad_phone!, 2);
  assert.equal(now.bad_event! - before.bad_event!, 1);
  // Read at scrape time (the worker's cache is off here: timing.metricsCacheMs 0).
  await waitFor('the scrape to show the SQL counts', async () => JSON.stringify(await exported()) === JSON.stringify(now), 15_000);
});
