/**
 * The housekeeping tasks as functions (src/tasks/*), in-process on a real Postgres with small
 * batches, so their loops are exercised in milliseconds: what each returns, reports (metrics
 * hook, log line) and changes. test/tasks/housekeeping.test.ts runs them as jobs of a worker.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { WorkerConfig } from '../../src/config.js';
import { SmppSession } from '../../src/smpp/session.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { STATUS } from '../../src/smpp/command-status.js';
import { drainDue } from '../../src/tasks/drain.js';
import { expireQueued } from '../../src/tasks/expire.js';
import { purgeExpiredRows } from '../../src/tasks/purge.js';
import { reconcile } from '../../src/tasks/reconcile.js';
import type { TaskContext } from '../../src/tasks/context.js';
import { Pump } from '../../src/worker/pump.js';
import { OutboxStore } from '../../src/worker/store.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { insertInbox, insertInboxPart, insertMessage, insertMessages, insertReceipt, truncateAll } from '../support/rows.js';
import { logger as silent, sessionOptions } from '../smpp/helpers.js';
import { captureLogs } from '../support/log-capture.js';

let tdb: TestDatabase;
let sim: Simulator;
let session: SmppSession;
let store: OutboxStore;
let pump: Pump;

const config: WorkerConfig = {
  workerId: 'tasks-test',
  maxUncommitted: 20,
  leaseSeconds: 30,
  shutdownTimeoutMs: 2000,
  retentionDays: 30,
  inboxRetentionDays: 90,
  unmatchedReceiptRetentionDays: 7,
  handlerTimeoutMs: 2000,
};

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'TaskTest'`);
  sim = await startSimulator({ refuseBinds: STATUS.ESME_RBINDFAIL, receiptDelayMs: 10 });
  session = new SmppSession(sessionOptions(sim, { reconnectMaxMs: 200, slowRetryMs: 200 }), silent);
  store = new OutboxStore(tdb.db, silent, { workerId: config.workerId });
  session.setInboundHandler((e) => store.recordInbound(e));
  pump = new Pump(tdb.db, session, store, silent, { workerId: config.workerId, window: 10, leaseSeconds: 30 });
  session.on('state', () => pump.poke());
  session.start();
  pump.start();
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
});

after(async () => {
  await pump?.stop(1000);
  await session?.stop({ drainTimeoutMs: 200 });
  await store?.close(1000);
  await sim?.stop();
  await tdb?.drop();
});

/** A task context on the test database whose log lines and expiry counts are kept. */
function context() {
  const { lines, logger } = captureLogs();
  const expired: number[] = [];
  const ctx: TaskContext = { db: tdb.db, logger, pump, config, onExpired: (n) => expired.push(n) };
  return { ctx, lines, expired };
}

async function statuses(): Promise<Record<string, string>> {
  const { rows } = await tdb.pool.query<{ label: string; status: string }>(`select metadata->>'label' as label, status from sms_outbox`);
  return Object.fromEntries(rows.map((r) => [r.label, r.status]));
}

test('expireQueued expires every overdue queued row, batch after batch, and reports the total once', async () => {
  const { ctx, lines, expired } = context();
  for (let i = 0; i < 5; i++) await insertMessage(tdb.pool, { label: `overdue ${i}`, status: 'queued', created: '-1 day', expires: '-1 minute' });
  await insertMessage(tdb.pool, { label: 'in time', status: 'queued', nextAttempt: '1 hour' });
  assert.equal(await expireQueued(ctx, 2), 5);
  assert.deepEqual(expired, [5]);
  assert.deepEqual(lines.map((l) => [l.msg, l.count]), [['expired queued messages past their expires_at', 5]]);
  const s = await statuses();
  assert.equal(s['in time'], 'queued');
  assert.equal(Object.values(s).filter((x) => x === 'expired').length, 5);
  assert.equal(await expireQueued(ctx, 2), 0);
  assert.deepEqual(expired, [5], 'nothing to report the second time');
});

test('reconcile matches waiting receipts across pages and assembles stale incoming sets', async () => {
  const { ctx, lines } = context();
  const ids = await insertMessages(tdb.pool, [
    { label: 'a', status: 'sent', messageIds: ['AB01'] },
    { label: 'b', status: 'sent', messageIds: ['AB02'] },
    { label: 'c', status: 'sent', messageIds: ['AB03', 'AB04'] },
  ]);
  // Unknown ids first (oldest), so the matching ones are on later pages of 2.
  for (let i = 0; i < 3; i++) await insertReceipt(tdb.pool, { rawId: `FF0${i}`, received: '-1 hour' });
  await insertReceipt(tdb.pool, { rawId: 'AB01', received: '-2 minutes' });
  await insertReceipt(tdb.pool, { rawId: 'ab02', state: 'UNDELIV', error: '001', received: '-1 minute' });
  await insertReceipt(tdb.pool, { rawId: '0000AB04', received: '-1 minute' });
  await insertInboxPart(tdb.pool, { sender: '79995550401', ref: 5, total: 2, seq: 2, text: 'second half', received: '-30 minutes' });
  await insertInboxPart(tdb.pool, { sender: '79995550402', ref: 6, total: 2, seq: 1, text: 'too fresh', received: '-2 minutes' });

  assert.deepEqual(await reconcile(ctx, 2), { matched: 3, assembled: 1 });
  assert.deepEqual(await statuses(), { a: 'delivered', b: 'undelivered', c: 'sent' });
  const { rows } = await tdb.pool.query<{ raw_message_id: string; outbox_id: string | null }>('select raw_message_id, outbox_id from sms_receipt order by raw_message_id');
  assert.deepEqual(rows, [
    { raw_message_id: '0000AB04', outbox_id: ids.get('c') },
    { raw_message_id: 'AB01', outbox_id: ids.get('a') },
    { raw_message_id: 'FF00', outbox_id: null },
    { raw_message_id: 'FF01', outbox_id: null },
    { raw_message_id: 'FF02', outbox_id: null },
    { raw_message_id: 'ab02', outbox_id: ids.get('b') },
  ]);
  const inbox = await tdb.pool.query('select sender, body, parts, missing_parts from sms_inbox');
  assert.deepEqual(inbox.rows, [{ sender: '79995550401', body: '…second half', parts: 2, missing_parts: 1 }]);
  const staged = await tdb.pool.query<{ sender: string }>('select sender from sms_inbox_part');
  assert.deepEqual(staged.rows, [{ sender: '79995550402' }]);
  assert.ok(lines.some((l) => l.msg === 'matched receipts that had arrived before their message was known' && l.matched === 3));
  assert.deepEqual(await reconcile(ctx, 2), { matched: 0, assembled: 0 });
});

test('purgeExpiredRows deletes what is past each retention, the outbox in batches, and says how much', async () => {
  const { ctx, lines } = context();
  for (let i = 0; i < 5; i++) await insertMessage(tdb.pool, { label: `old ${i}`, status: 'delivered', created: '-40 days', done: '-40 days' });
  await insertMessage(tdb.pool, { label: 'recent', status: 'delivered' });
  await insertInbox(tdb.pool, { sender: '79995550501', body: 'old', received: '-100 days' });
  await insertInbox(tdb.pool, { sender: '79995550502', body: 'recent' });
  await insertReceipt(tdb.pool, { rawId: 'OLD', received: '-10 days' });
  await insertReceipt(tdb.pool, { rawId: 'NEW' });
  assert.deepEqual(await purgeExpiredRows(ctx, 2), { outbox: 5, inbox: 1, receipts: 1 });
  assert.deepEqual(await statuses(), { recent: 'delivered' });
  assert.deepEqual(lines.map((l) => [l.msg, l.outbox, l.inbox, l.receipts]), [['purged rows past their retention', 5, 1, 1]]);
  assert.deepEqual(await purgeExpiredRows(ctx, 2), { outbox: 0, inbox: 0, receipts: 0 });
});

test('drainDue gives up after maxMs while the pump cannot drain, and returns once it has drained when it can', async () => {
  const { ctx } = context();
  const id = (await tdb.pool.query<{ id: string }>(`select sms_send('+79990000601', 'drain me') as id`)).rows[0]!.id;
  // No session: the pump cannot claim, so the job ends at its bound, leaving the row queued.
  // The pump's drain is still pending when drainDue returns: its 300 ms timer ended it. A lower
  // bound on the time taken (never before maxMs) holds however loaded the machine is.
  let drained = false;
  const watched = { ...ctx, pump: { drainOnce: () => pump.drainOnce().then(() => void (drained = true)) } };
  const started = Date.now();
  await drainDue(watched, 300);
  const took = Date.now() - started;
  assert.equal(drained, false, 'the pump had not drained: drainDue gave up');
  assert.ok(took >= 290, `gave up after ${took} ms, before maxMs`);
  // As sms_status shows it: a claimed message is queued in sms_outbox with a lease (0034).
  assert.equal((await tdb.pool.query('select status from sms_status($1)', [id])).rows[0].status, 'queued');

  const bound = once(session, 'bound');
  sim.configure({ refuseBinds: null });
  await bound;
  await drainDue(ctx, 10_000);
  const { rows } = await tdb.pool.query<{ status: string }>('select status from sms_status($1)', [id]);
  assert.notEqual(rows[0]!.status, 'queued', 'claimed before the job returned');
});
