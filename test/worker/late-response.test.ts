/**
 * A submit_sm_resp that comes after its timeout, and the receipt behind it, never move a message
 * back. The simulator (in this process, to hold its answer) answers the first submit of a
 * message only once the message is delivered, with a receipt saying UNDELIV; the worker (a real
 * process, SMPP response timeout 1 s) has meanwhile retried it, and the retry was accepted and
 * delivered. The late answer and its receipt arrive after `delivered`: the message stays
 * delivered, with the second attempt's SMSC id, and nothing else is announced on sms_status.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createLogin, type Login } from '../support/logins.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { waitFor } from '../ops/helpers.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let listener: pg.Client;
const heard: { id: string; status: string }[] = [];
let login: Login;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Late'`);
  login = await createLogin(tdb.url, 'sms_worker');
  listener = await tdb.connect();
  listener.on('notification', (n) => heard.push(JSON.parse(n.payload ?? '{}') as { id: string; status: string }));
  await listener.query('listen sms_status');
  sim = await startSimulator({ receiptDelayMs: 20 });
  worker = startWorkerProcess({
    DATABASE_URL: login.url,
    SMPP_URL: `smpp://late:late@127.0.0.1:${sim.port}`,
    SMPP_RESPONSE_TIMEOUT_S: '1',
    SMPP_RECONNECT_MAX_S: '1',
  }, ['worker'], { events: true });
  await worker.waitForLog(/SMPP session bound/);
});

after(async () => {
  await worker?.stop();
  await sim?.stop();
  await listener?.end().catch(() => {});
  await tdb?.drop();
  await login?.drop();
});

test('a late submit_sm_resp and its UNDELIV receipt, after the retry was delivered, change nothing', async () => {
  const phone = '79991120001';
  // The first submit: its answer held until the retry is delivered, its receipt (decided at
  // submit) UNDELIV.
  sim.configure({ holdResponses: true, receiptStates: { [phone]: 'UNDELIV' } });
  const id = (await tdb.pool.query<{ id: string }>(`select sms_send($1, 'Late but fine') as id`, [`+${phone}`])).rows[0]!.id;
  await waitFor('the first submit', async () => sim.received.submits.some((s) => s.destination === phone), 10_000, 20);
  sim.configure({ holdResponses: false, receiptStates: {} });

  // The timed-out submit returns the message to the queue for a retry in about 2 s. An idle
  // worker does not wake for it by itself (src/worker/pump.ts schedules its next-due timer only
  // when it goes idle, and it already was): the sms_drain cron job picks it up within a minute.
  // Run that job now instead of waiting for the minute.
  await waitFor(
    'the first attempt given up (outcome unknown)',
    async () => (await tdb.pool.query(`select 1 from sms_outbox where id = $1 and status = 'queued' and attempts = 1`, [id])).rowCount === 1,
    10_000,
  );
  await tdb.pool.query(`select graphile_worker.add_job('sms_drain')`);

  await waitForStatuses(tdb.pool, [id], ['delivered'], 20_000);
  const delivered = (await tdb.pool.query('select * from sms_status($1)', [id])).rows[0];
  const submits = sim.received.submits.filter((s) => s.destination === phone);
  assert.equal(submits.length, 2, 'the unanswered submit was retried once');
  assert.deepEqual(delivered.message_ids, [submits[1]!.messageId]);
  assert.equal(delivered.attempts, 2);

  // Now the first submit's answer, long after its timeout, and its receipt.
  assert.equal(sim.faults.releaseHeld(), 1, 'the first submit was still unanswered');
  await worker.waitForLog(/submit_sm_resp arrived after its timeout/, 10_000);
  await waitFor(
    'the late receipt stored, matched to nothing',
    async () => (await tdb.pool.query(`select 1 from sms_receipt where raw_message_id = $1 and state = 'UNDELIV' and matched_at is null`, [submits[0]!.messageId])).rowCount === 1,
    10_000,
  );
  // Stored unmatched, it was looked at again behind the worker's next outcome flush (what could
  // have matched it), and that found nothing.
  await worker.waitForEvent('rematched', (e) => e.round === 0 && e.matched === 0, { from: 0 });
  // Notifications arrive in commit order: once a marker sent now has, any the receipt caused has too.
  await tdb.pool.query(`select pg_notify('sms_status', '{"id": "marker"}')`);
  await waitFor('the marker notification', () => heard.some((h) => h.id === 'marker'));
  const after = (await tdb.pool.query('select * from sms_status($1)', [id])).rows[0];
  assert.deepEqual(
    { status: after.status, receipt: after.receipt_state, ids: after.message_ids, done: after.done_at.getTime(), delivered: after.parts_delivered },
    { status: 'delivered', receipt: 'DELIVRD', ids: delivered.message_ids, done: delivered.done_at.getTime(), delivered: 1 },
  );
  assert.deepEqual(heard.filter((h) => h.id === id).map((h) => h.status), ['sent', 'delivered']);
});
