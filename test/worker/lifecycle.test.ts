/**
 * The message lifecycle end to end, as an operator drives it: `sms-outbox simulator
 * --control-port` as a real process, the worker as a real process logged in with nothing but
 * sms_worker, and plain HTTP to the control port. A STOP sent by SMS opts its sender out of
 * marketing (before enqueue, and between enqueue and submit), while a transactional message still
 * goes; sms_retry sends a message that failed permanently; smart encoding is seen on the wire;
 * late and repeated receipts never move a message back. Every status change is heard on the
 * sms_status channel, so "never back" is checked on the sequence, not only the last value.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { waitFor } from '../ops/helpers.js';
import { startSimulatorProcess, type SimulatorProcess } from '../support/simulator-process.js';
import { TestRoles } from '../sql/helpers.js';

let tdb: TestDatabase;
let simulator: SimulatorProcess;
let worker: WorkerProcess;
let listener: pg.Client;
let app: pg.Client;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
/** Every sms_status notification, in the order heard. */
const heard: { id: string; status: string }[] = [];

const call = (method: 'GET' | 'POST', path: string, body?: unknown) => simulator.call(method, path, body);

/** The submit_sm the simulator received for `destination`, oldest first. */
async function submitsTo(destination: string): Promise<Record<string, any>[]> {
  return (await call('GET', '/submits?limit=100')).body.submits.filter((s: Record<string, any>) => s.destination === destination);
}

async function send(recipient: string, body: string, extra = ''): Promise<string> {
  return (await app.query<{ id: string }>(`select sms_send($1, $2${extra}) as id`, [recipient, body])).rows[0]!.id;
}
async function status(id: string): Promise<Record<string, any>> {
  return (await app.query('select * from sms_status($1)', [id])).rows[0];
}
const statusesHeard = (id: string) => heard.filter((h) => h.id === id).map((h) => h.status);

/** An incoming SMS through the control port; resolves once the worker has stored it. */
async function mo(from: string, text: string): Promise<void> {
  const r = await call('POST', '/mo', { from, to: 'Lifecycle', text });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.acknowledged.map((a: Record<string, string>) => a.command_status), r.body.acknowledged.map(() => 'ESME_ROK'));
}

async function receipt(messageId: string, state: string): Promise<void> {
  const r = await call('POST', '/receipt', { message_id: messageId, state });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.acknowledged, 'ESME_ROK');
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Lifecycle'`);
  const appRole = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const workerRole = await roles.create({ login: password, memberOf: ['sms_worker'] });
  app = await connectAs(tdb.url, appRole, password);
  listener = await tdb.connect();
  listener.on('notification', (n) => {
    const p = JSON.parse(n.payload ?? '{}') as { id: string; status: string };
    heard.push({ id: p.id, status: p.status });
  });
  await listener.query('listen sms_status');

  simulator = await startSimulatorProcess(['--receipt-delay-ms', '20']);

  const url = new URL(tdb.url);
  url.username = workerRole;
  url.password = password;
  worker = startWorkerProcess({ DATABASE_URL: url.toString(), SMPP_URL: `smpp://life:cycle@127.0.0.1:${simulator.smppPort}`, SMPP_RECONNECT_MAX_S: '1' });
  await worker.waitForLog(/SMPP session bound/);
});

after(async () => {
  await worker?.stop();
  await simulator?.stop();
  await listener?.end().catch(() => {});
  await app?.end().catch(() => {});
  await tdb?.drop();
  await roles.dropAll();
});

test('STOP by SMS: a marketing message is not submitted, a transactional one is delivered; START opts back in', async () => {
  const phone = '79991110001';
  await mo(`+${phone}`, 'Stop!');
  const inbox = (await tdb.pool.query(`select body, keyword_action from sms_inbox where ltrim(sender, '+') = $1`, [phone])).rows;
  assert.deepEqual(inbox, [{ body: 'Stop!', keyword_action: 'opt_out' }]);
  assert.equal((await tdb.pool.query('select source, keyword from sms_opt_out where recipient = $1', [phone])).rows[0]?.keyword, 'STOP');

  const promo = await send(`+${phone}`, 'Spring sale: -20% today', `, category => 'marketing'`);
  const code = await send(`+${phone}`, 'Your code: 4821');
  await waitForStatuses(tdb.pool, [code], ['delivered']);
  assert.deepEqual(
    { status: (await status(promo)).status, error: (await status(promo)).error_code, attempts: (await status(promo)).attempts },
    { status: 'rejected', error: 'OPTED_OUT', attempts: 0 },
  );
  const wire = (await submitsTo(phone)).map((s) => s.text);
  assert.deepEqual(wire, ['Your code: 4821'], 'only the transactional message reached the SMSC');

  await mo(phone, 'СТАРТ');
  const again = await send(`+${phone}`, 'Spring sale: last day', `, category => 'marketing'`);
  await waitForStatuses(tdb.pool, [again], ['delivered']);
  assert.deepEqual((await submitsTo(phone)).map((s) => s.text), ['Your code: 4821', 'Spring sale: last day']);
  assert.deepEqual(statusesHeard(promo), ['rejected']);
});

test('an opt-out that arrives after enqueue but before submit: the claim does not send it', async () => {
  const phone = '79991110002';
  const promo = await send(`+${phone}`, 'Weekend offer', `, category => 'marketing', send_at => now() + interval '3 seconds'`);
  const otp = await send(`+${phone}`, 'Login code 5521', `, send_at => now() + interval '3 seconds'`);
  assert.equal((await status(promo)).status, 'queued');
  await mo(phone, 'STOP');
  await waitForStatuses(tdb.pool, [promo], ['rejected']);
  await waitForStatuses(tdb.pool, [otp], ['delivered']);
  const row = await status(promo);
  assert.deepEqual([row.error_code, row.attempts, row.submitted_at], ['OPTED_OUT', 0, null]);
  assert.match(row.error_message, /opted out of marketing/);
  assert.deepEqual((await submitsTo(phone)).map((s) => s.text), ['Login code 5521']);
  assert.deepEqual(statusesHeard(promo), ['rejected']);
});

test('sms_retry: a message that failed permanently is sent again and delivered; the failure stays in the history', async () => {
  const phone = '79991110003';
  assert.equal((await call('POST', '/fail-next', { command_status: 'ESME_RINVDSTADR' })).status, 200);
  const id = await send(`+${phone}`, 'Your parcel is on its way');
  await waitForStatuses(tdb.pool, [id], ['failed']);
  assert.equal((await status(id)).error_code, 'ESME_RINVDSTADR');
  assert.equal((await app.query('select sms_retry($1) as ok', [id])).rows[0].ok, true);
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  const row = await status(id);
  assert.deepEqual(
    { attempts: row.attempts, retries: row.retries, error: row.error_code, receipt: row.receipt_state },
    { attempts: 2, retries: 1, error: null, receipt: 'DELIVRD' },
  );
  const wire = await submitsTo(phone);
  assert.deepEqual(wire.map((s) => [s.text, s.command_status]), [
    ['Your parcel is on its way', 'ESME_RINVDSTADR'],
    ['Your parcel is on its way', 'ESME_ROK'],
  ]);
  assert.deepEqual(row.message_ids, [wire[1]!.message_id]);
  const history = (await tdb.pool.query('select status, error_code, attempts from sms_outbox_retry where outbox_id = $1', [id])).rows;
  assert.deepEqual(history, [{ status: 'failed', error_code: 'ESME_RINVDSTADR', attempts: 1 }]);
  assert.deepEqual(statusesHeard(id), ['failed', 'sent', 'delivered']);
  assert.equal((await app.query('select sms_retry($1) as ok', [id])).rows[0].ok, false, 'a delivered message is not retried');
});

test('smart encoding on the wire: curly quotes, a dash and an ellipsis go as one GSM-7 segment', async () => {
  const phone = '79991110004';
  const id = await send(`+${phone}`, 'Hello “world” – it’s fine…');
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  const [wire] = await submitsTo(phone);
  assert.deepEqual(
    { data_coding: wire!.data_coding, part: wire!.part, text: wire!.text },
    { data_coding: 0, part: null, text: `Hello "world" - it's fine...` },
  );
  const row = await status(id);
  assert.deepEqual([row.encoding, row.segments, row.replaced_chars], ['gsm7', 1, 5]);
  // Cyrillic is never transliterated: it goes as UCS-2 with its typography.
  const ru = await send('+79991110005', 'Привет — «мир»…');
  await waitForStatuses(tdb.pool, [ru], ['delivered']);
  const [ruWire] = await submitsTo('79991110005');
  assert.deepEqual([ruWire!.data_coding, ruWire!.text], [8, 'Привет — «мир»…']);
});

test('late and repeated receipts never move a message back: delivered stays delivered, undelivered stays undelivered', async () => {
  await call('POST', '/config', { receipts: false });
  try {
    const single = await send('+79991110006', 'Single part');
    const long = await send('+79991110007', `${'Two parts. '.repeat(16)}End`);
    await waitForStatuses(tdb.pool, [single, long], ['sent']);
    const [singleId] = (await status(single)).message_ids as string[];
    const longIds = (await status(long)).message_ids as string[];
    assert.equal(longIds.length, 2);

    await receipt(singleId!, 'DELIVRD');
    await waitForStatuses(tdb.pool, [single], ['delivered']);
    const delivered = await status(single);
    for (const state of ['UNDELIV', 'ENROUTE', 'DELIVRD', 'EXPIRED', 'ACCEPTD']) await receipt(singleId!, state);
    const after = await status(single);
    assert.deepEqual(
      [after.status, after.receipt_state, after.done_at.getTime(), after.parts_delivered],
      ['delivered', 'DELIVRD', delivered.done_at.getTime(), 1],
    );

    await receipt(longIds[0]!, 'DELIVRD');
    await waitFor('part 1 delivered', async () => (await status(long)).parts_delivered === 1);
    assert.deepEqual([(await status(long)).status, (await status(long)).segments], ['sent', 2]);
    await receipt(longIds[1]!, 'UNDELIV');
    await waitForStatuses(tdb.pool, [long], ['undelivered']);
    await receipt(longIds[1]!, 'DELIVRD');
    await receipt(longIds[0]!, 'UNDELIV');
    const l = await status(long);
    assert.deepEqual(
      { status: l.status, receipt: l.receipt_state, delivered: l.parts_delivered, undelivered: l.parts_undelivered },
      { status: 'undelivered', receipt: 'UNDELIV', delivered: 1, undelivered: 1 },
    );
    // Notifications of anything that should not have happened came before a marker sent now
    // (they arrive in commit order).
    await tdb.pool.query(`select pg_notify('sms_status', '{"id": "marker", "status": "marker"}')`);
    await waitFor('the marker notification', () => heard.some((h) => h.id === 'marker'));
    assert.deepEqual(statusesHeard(single), ['sent', 'delivered']);
    assert.deepEqual(statusesHeard(long), ['sent', 'undelivered']);
  } finally {
    await call('POST', '/config', { receipts: true });
  }
});
