/**
 * SMPP_BINDS as production runs it: `sms-outbox worker` with two binds against `sms-outbox
 * simulator --control-port` (real processes, TCP on 127.0.0.1). Both sessions bind, each fills
 * its own window while the SMSC holds the responses (a carrier's round trip), receipts come back
 * on either bind, and the counters count the submits of both.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startBoundWorker, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulatorProcess, type SimulatorProcess } from '../support/simulator-process.js';
import { scrape } from '../ops/helpers.js';
import { waitFor } from '../support/wait.js';

let tdb: TestDatabase;
let simulator: SimulatorProcess;
let worker: WorkerProcess | undefined;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Binds'`);
  simulator = await startSimulatorProcess(['--receipt-delay-ms', '20', '--response-delay-ms', '400']);
});

after(async () => {
  await worker?.stop();
  await simulator?.stop();
  await tdb?.drop();
});

test('SMPP_BINDS=2: two sessions, a window on each, every message delivered', async () => {
  const started = await startBoundWorker({
    DATABASE_URL: tdb.url,
    SMPP_URL: `smpp://binds:binds@127.0.0.1:${simulator.smppPort}`,
    SMPP_WINDOW: '2',
    SMPP_BINDS: '2',
  });
  worker = started.worker;
  await waitFor('both binds', async () => (await simulator.call('GET', '/state')).body.sessions.filter((s: { bound: boolean }) => s.bound).length === 2);
  const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+7999302' || lpad(i::text, 4, '0'), 'bind ' || i) as id from generate_series(1, 12) i`);
  // The SMSC holds each response 400 ms: both sessions are seen with their whole window outstanding.
  await waitFor('a full window on each bind', async () => {
    const sessions = (await simulator.call('GET', '/state')).body.sessions as { unanswered_submits: number }[];
    return sessions.length === 2 && sessions.every((s) => s.unanswered_submits === 2);
  });
  await waitForStatuses(tdb.pool, rows.map((r) => r.id), ['delivered'], 30_000);
  const state = (await simulator.call('GET', '/state')).body;
  assert.equal(state.counters.submits, 12, 'each message once');
  assert.ok(state.sessions.every((s: { unanswered_submits: number }) => s.unanswered_submits <= 2), 'never more than the window on a bind');
  const metrics = await scrape(started.metricsPort);
  assert.equal(metrics.value('smpp_submit_sm_total', { status: 'ESME_ROK' }), 12, 'the counters count both binds');
});
