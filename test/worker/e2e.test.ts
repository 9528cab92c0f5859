/**
 * End to end: a real Postgres, the worker as a real child process (`sms-outbox worker`), the SMSC
 * simulator over TCP. Each message is followed from sms_send to its final status and checked on
 * the wire. Tests in this file run in order against one worker; each reconfigures the simulator
 * for what it checks and restores it.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createLogin, type Login } from '../support/logins.js';
import { waitFor } from '../support/wait.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { STATUS } from '../../src/smpp/command-status.js';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
/** The worker logs in as a role that has nothing but membership of sms_worker, as in production. */
let login: Login;

const DEFAULTS: Partial<SimulatorOptions> = {
  receiptDelayMs: 20,
  receiptBeforeResponse: false,
  idFormat: 'hex',
  receiptIdBase: 'same',
  receiptIdPad: 0,
  throttleRate: 0,
  rejectDestinations: {},
  receiptStates: {},
  refuseBinds: null,
};

async function send(recipient: string, body: string, extra: Record<string, unknown> = {}): Promise<string> {
  const names = Object.keys(extra);
  const named = names.map((n, i) => `, ${n} => $${i + 3}`).join('');
  const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send($1, $2${named}) as id`, [recipient, body, ...names.map((n) => extra[n])]);
  return rows[0]!.id;
}

async function status(id: string): Promise<Record<string, unknown>> {
  const { rows } = await tdb.pool.query('select * from sms_status($1)', [id]);
  return rows[0];
}

function onWire(text: string) {
  return sim.received.submits.filter((s) => s.text === text);
}

/** Worker log lines from the `from`-th on whose message matches. */
function logsSince(from: number, pattern: RegExp) {
  return worker.logs.slice(from).filter((l) => pattern.test(String(l.msg ?? '')));
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'TestBrand'`);
  sim = await startSimulator(DEFAULTS);
  login = await createLogin(tdb.url, 'sms_worker');
  worker = startWorkerProcess({
    DATABASE_URL: login.url,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_WINDOW: '10',
    SMPP_RECONNECT_MAX_S: '1',
    SMS_LEASE_S: '5',
  });
  await worker.waitForLog(/worker started/);
});

beforeEach(() => sim.configure(DEFAULTS));

after(async () => {
  await worker?.stop();
  await sim?.stop();
  // The invariant the worker's writes rely on (migration 0034): a lease only on a queued message
  // (the write that ends an attempt deletes it), and no message stored as sending.
  const { rows } = await tdb.pool.query(
    `select (select count(*)::int from sms_private.outbox_lease l join sms_outbox o on o.id = l.outbox_id where o.status <> 'queued')
          + (select count(*)::int from sms_private.outbox_lease l where not exists (select from sms_outbox o where o.id = l.outbox_id))
          + (select count(*)::int from sms_outbox where status = 'sending') as n`,
  );
  assert.equal(rows[0].n, 0, 'leases are held on queued messages only');
  await tdb?.drop();
  await login?.drop();
});

test('a Latin message is delivered, sent as GSM-7 from the alphanumeric default sender', async () => {
  const id = await send('+7 (999) 123-45-67', 'Your code: 4821');
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  const wire = onWire('Your code: 4821');
  assert.equal(wire.length, 1);
  assert.equal(wire[0]!.destination, '79991234567');
  assert.equal(wire[0]!.destTon, 1);
  assert.equal(wire[0]!.destNpi, 1);
  assert.equal(wire[0]!.source, 'TestBrand');
  assert.equal(wire[0]!.sourceTon, 5);
  assert.equal(wire[0]!.sourceNpi, 0);
  assert.equal(wire[0]!.dataCoding, 0x00);
  assert.equal(wire[0]!.esmClass & 0x40, 0);
  assert.equal(wire[0]!.registeredDelivery & 1, 1);
  const row = await status(id);
  assert.equal(row.segments, 1);
  assert.equal(row.encoding, 'gsm7');
  assert.equal(row.attempts, 1);
  assert.equal(row.receipt_state, 'DELIVRD');
  assert.deepEqual(row.message_ids, [wire[0]!.messageId]);
  assert.ok(row.submitted_at instanceof Date && row.done_at instanceof Date);
});

test('a Cyrillic message is delivered, sent as UCS-2 from a numeric sender', async () => {
  const body = 'Ваш код: 4821. Никому его не сообщайте.';
  const id = await send('+79991230001', body, { sender: '+79000000001' });
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  const wire = onWire(body);
  assert.equal(wire.length, 1);
  assert.equal(wire[0]!.dataCoding, 0x08);
  assert.equal(wire[0]!.source, '79000000001');
  assert.equal(wire[0]!.sourceTon, 1);
  assert.equal(wire[0]!.sourceNpi, 1);
  assert.equal(wire[0]!.payload.length, body.length * 2);
  assert.equal((await status(id)).encoding, 'ucs2');
});

test('a 5-part message is sent as 5 concatenated parts and delivered once every part is', async () => {
  const body = Array.from({ length: 5 * 153 - 20 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
  const id = await send('+79991230002', body);
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  const parts = sim.received.submits.filter((s) => s.destination === '79991230002');
  assert.equal(parts.length, 5);
  const ref = parts[0]!.udh!.ref;
  for (const [i, p] of parts.entries()) {
    assert.equal(p.esmClass & 0x40, 0x40, 'UDH indicator set');
    assert.deepEqual({ ref: p.udh!.ref, total: p.udh!.total, seq: p.udh!.seq }, { ref, total: 5, seq: i + 1 });
    assert.ok(p.text.length <= 153);
  }
  assert.equal(parts.map((p) => p.text).join(''), body);
  const row = await status(id);
  assert.equal(row.segments, 5);
  assert.deepEqual(row.message_ids, parts.map((p) => p.messageId));
  const { rows } = await tdb.pool.query('select part_no, receipt_state from sms_outbox_part where outbox_id = $1 order by part_no', [id]);
  assert.deepEqual(rows.map((r) => [r.part_no, r.receipt_state]), [1, 2, 3, 4, 5].map((n) => [n, 'DELIVRD']));
});

test('a permanent submit error fails the message with the SMPP status', async () => {
  sim.configure({ rejectDestinations: { '79990000404': STATUS.ESME_RINVDSTADR } });
  const id = await send('+79990000404', 'to a bad number');
  await waitForStatuses(tdb.pool, [id], ['failed']);
  const row = await status(id);
  assert.equal(row.error_code, 'ESME_RINVDSTADR');
  assert.match(String(row.error_message), /command_status 0x0000000b/);
  assert.equal(row.attempts, 1, 'a permanent error is not retried');
  assert.equal(onWire('to a bad number').length, 1);
});

test('an undelivered receipt makes the message undelivered, keeping the raw state and error', async () => {
  sim.configure({ receiptStates: { '79990000500': 'UNDELIV' } });
  const id = await send('+79990000500', 'phone is off');
  await waitForStatuses(tdb.pool, [id], ['undelivered']);
  const row = await status(id);
  assert.equal(row.receipt_state, 'UNDELIV');
  assert.ok(row.error_code, 'the receipt err is kept');
});

test('under throttling every message still ends delivered, none failed', async () => {
  // A fifth of the submits throttled at random, and the first three for certain: at random
  // alone, one run in about 800 sent all 30 unthrottled.
  sim.configure({ throttleRate: 0.2 });
  sim.faults.failNext(3, STATUS.ESME_RTHROTTLED);
  const before = sim.counters.throttled;
  const ids = [];
  for (let i = 0; i < 30; i++) ids.push(await send(`+7999111${String(i).padStart(4, '0')}`, `throttled ${i}`));
  const statuses = await waitForStatuses(tdb.pool, ids, ['delivered'], 60_000);
  assert.equal(statuses.size, 30);
  assert.ok(sim.counters.throttled > before, 'the simulator did throttle');
  const { rows } = await tdb.pool.query('select max(attempts)::int as m from sms_outbox where id = any($1::uuid[])', [ids]);
  assert.equal(rows[0].m, 1, 'throttling is absorbed by the session, not counted as failed attempts');
});

test('a scheduled message is not sent before send_at', async () => {
  // Not before send_at: the time it went out on the wire, compared below (no need to watch meanwhile).
  const sendAt = new Date(Date.now() + 1000);
  const id = await send('+79991230003', 'scheduled hello', { send_at: sendAt });
  assert.equal((await status(id)).status, 'queued');
  await waitForStatuses(tdb.pool, [id], ['delivered'], 10_000);
  const wire = onWire('scheduled hello');
  assert.equal(wire.length, 1);
  const sentAt = performance.timeOrigin + wire[0]!.at;
  assert.ok(sentAt >= sendAt.getTime() - 5, `sent ${sendAt.getTime() - sentAt} ms early`);
});

test('a cancelled message is never sent', async () => {
  const sendAt = Date.now() + 500;
  const id = await send('+79991230004', 'cancel me', { send_at: new Date(sendAt) });
  const { rows } = await tdb.pool.query<{ ok: boolean }>('select sms_cancel($1) as ok', [id]);
  assert.equal(rows[0]!.ok, true);
  // What would have carried it: a message due just after it, delivered; the pump went past its time.
  const marker = await send('+79991230014', 'due after the cancelled one', { send_at: new Date(sendAt + 50) });
  await waitForStatuses(tdb.pool, [marker], ['delivered']);
  assert.equal((await status(id)).status, 'cancelled');
  assert.equal(onWire('cancel me').length, 0);
});

test('higher priority goes first, and a message that expired while no session was bound is never sent', async () => {
  // Take the session down: binds are refused until we allow them again.
  const from = worker.logs.length;
  sim.configure({ refuseBinds: STATUS.ESME_RSYSERR });
  sim.closeConnections();
  await waitFor('the session lost', () => logsSince(from, /SMPP session lost/).length > 0);
  const low = await send('+79991230005', 'low priority', { priority: -5 });
  const high = await send('+79991230006', 'high priority', { priority: 9 });
  const expiring = await send('+79991230007', 'too late', { expires_at: new Date(Date.now() + 300) });
  await waitFor('the expiry of "too late", by the database\'s clock', async () => {
    const { rows } = await tdb.pool.query<{ past: boolean }>('select expires_at < now() as past from sms_outbox where id = $1', [expiring]);
    return rows[0]!.past;
  });
  // Still not bound then: a bind refused after the expiry.
  const refusedBinds = () => sim.received.binds.filter((b) => b.status !== 0).length;
  const refused = refusedBinds();
  await waitFor('a bind refused after the expiry', () => refusedBinds() > refused);
  sim.configure({ refuseBinds: null });
  await waitForStatuses(tdb.pool, [low, high], ['delivered'], 15_000);
  await waitForStatuses(tdb.pool, [expiring], ['expired'], 15_000);
  const order = sim.received.submits.map((s) => s.text).filter((t) => t === 'low priority' || t === 'high priority');
  assert.deepEqual(order, ['high priority', 'low priority']);
  assert.equal(onWire('too late').length, 0);
  assert.equal((await status(expiring)).done_at instanceof Date, true);
});

test('a receipt that arrives before its own submit_sm_resp is still matched', async () => {
  sim.configure({ receiptDelayMs: 0, receiptBeforeResponse: true });
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(await send(`+7999222${String(i).padStart(4, '0')}`, `race ${i}`));
  await waitForStatuses(tdb.pool, ids, ['delivered'], 20_000);
});

test('receipts with ids in the other base (hex vs decimal) and zero-padded are matched', async () => {
  sim.configure({ idFormat: 'hex', receiptIdBase: 'decimal', receiptIdPad: 20 });
  const a = await send('+79991230008', 'hex resp, decimal receipt');
  await waitForStatuses(tdb.pool, [a], ['delivered']);
  sim.configure({ idFormat: 'decimal', receiptIdBase: 'hex', receiptIdPad: 0 });
  const b = await send('+79991230009', 'decimal resp, hex receipt');
  await waitForStatuses(tdb.pool, [b], ['delivered']);
});

test('a receipt for an id this database never sent is kept, unmatched and visible', async () => {
  sim.sendReceipt({ messageId: 'FFFFFFFF00', state: 'DELIVRD' });
  const receipt = await waitFor('the receipt stored', async () => (await tdb.pool.query(`select * from sms_receipt where raw_message_id = 'FFFFFFFF00'`)).rows[0], { timeoutMs: 5000 });
  assert.equal(receipt.matched_at, null);
  assert.equal(receipt.message_id, 'ffffffff00');
});

test('incoming SMS, single and concatenated (with a duplicated part), land in sms_inbox', async () => {
  const moAcked = () => sim.received.deliverResps.filter((r) => r.kind === 'mo').length;
  const ackedBefore = moAcked();
  sim.sendMo({ source: '79995550001', destination: 'TestBrand', text: 'Привет! STOP' });
  const long = 'Это длинное входящее сообщение, которое пришло в трёх частях и должно собраться в одну строку. '.repeat(2);
  sim.sendMo({ source: '79995550002', destination: 'TestBrand', text: long, concat: { parts: 3, duplicateSeq: [2] } });
  // Five deliver_sm (one, three parts, the duplicate), each answered only once it was written.
  await waitFor('every deliver_sm answered', () => moAcked() - ackedBefore >= 5, { timeoutMs: 10_000 });
  const { rows } = await tdb.pool.query(`select * from sms_inbox where sender in ('79995550001', '79995550002') order by sender`);
  assert.equal(rows.length, 2);
  assert.equal(rows[0]!.body, 'Привет! STOP');
  assert.equal(rows[0]!.parts, 1);
  assert.equal(rows[0]!.encoding, 'ucs2');
  assert.equal(rows[1]!.body, long);
  assert.equal(rows[1]!.parts, 3);
  assert.equal(rows[1]!.missing_parts, 0);
  const leftover = await tdb.pool.query(`select count(*)::int as n from sms_inbox_part where sender = '79995550002'`);
  assert.equal(leftover.rows[0].n, 0, 'staged parts are removed once assembled');
  const again = await tdb.pool.query(`select count(*)::int as n from sms_inbox where sender = '79995550002'`);
  assert.equal(again.rows[0].n, 1, 'the duplicated part did not make a second message');
});

test('LISTEN clients are told of status changes and incoming SMS, after commit', async () => {
  const client = new pg.Client({ connectionString: tdb.url });
  await client.connect();
  const got: { channel: string; payload: Record<string, string> }[] = [];
  client.on('notification', (n) => got.push({ channel: n.channel, payload: JSON.parse(n.payload ?? '{}') }));
  await client.query('listen sms_status');
  await client.query('listen sms_inbox');
  try {
    const id = await send('+79991230010', 'notify me');
    await waitForStatuses(tdb.pool, [id], ['delivered']);
    sim.sendMo({ source: '79995550003', destination: 'TestBrand', text: 'reply' });
    await waitFor('the sms_inbox notification', () => got.some((g) => g.channel === 'sms_inbox'), { timeoutMs: 5000 }).catch(() => {});
    const mine = got.filter((g) => g.channel === 'sms_status' && g.payload.id === id).map((g) => g.payload.status);
    assert.deepEqual(mine, ['sent', 'delivered']);
    const inbox = got.find((g) => g.channel === 'sms_inbox');
    assert.ok(inbox, 'inbox notification');
    const { rows } = await tdb.pool.query('select sender, body from sms_inbox where id = $1', [inbox.payload.id]);
    assert.deepEqual(rows[0], { sender: '79995550003', body: 'reply' });
  } finally {
    await client.end();
  }
});
