/**
 * A receipt that never comes (issue 19): a real worker process logged in with nothing but the
 * worker role sends to the simulator over TCP, which sends no receipt. Once expires_at plus
 * sms_settings.receipt_grace has passed, the app's sms_status says receipt_overdue, the reader's
 * sms_stats counts it, the worker's /metrics exports it; the message stays `sent`, and a receipt
 * that arrives after all still moves it forward.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { startBoundWorker, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { scrape, waitFor } from '../ops/helpers.js';
import { TestRoles } from '../sql/helpers.js';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let metricsPort: number;
let app: pg.Client;
let reader: pg.Client;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Overdue'`);
  // The SMSC accepts every submit and never sends a receipt (until the test sends one by hand).
  sim = await startSimulator({ receipts: false });
  const workerLogin = await roles.create({ memberOf: ['sms_worker'], login: password });
  const appLogin = await roles.create({ memberOf: ['sms_sender'], login: password });
  const readerLogin = await roles.create({ memberOf: ['sms_reader'], login: password });
  const workerUrl = new URL(tdb.url);
  workerUrl.username = workerLogin;
  workerUrl.password = password;
  // /metrics reads the gauges from Postgres on every scrape (not at most every 5 s): the test
  // waits for the metric, not for the cache to lapse.
  ({ worker, metricsPort } = await startBoundWorker(
    { DATABASE_URL: workerUrl.toString(), SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}` },
    { hooks: { timing: { metricsCacheMs: 0 } } },
  ));
  app = await connectAs(tdb.url, appLogin, password);
  reader = await connectAs(tdb.url, readerLogin, password);
});

after(async () => {
  await app?.end().catch(() => {});
  await reader?.end().catch(() => {});
  if (worker) assert.equal(await worker.stop(), 0, 'the worker stops cleanly');
  await sim?.stop();
  await tdb?.drop();
  await roles.dropAll();
});

async function status(id: string): Promise<Record<string, any>> {
  return (await app.query('select status, receipt_state, receipt_overdue, expires_at <= now() as past_expiry from sms_status($1)', [id])).rows[0];
}
const stats = async () => (await reader.query<{ sent: string; receipts_overdue: string }>('select sent, receipts_overdue from sms_stats')).rows[0]!;

test('no receipt by expires_at plus the grace: overdue in sms_status, sms_stats and the metric; still sent; a late receipt moves it on', async () => {
  const { rows } = await app.query<{ id: string }>(`select sms_send('+79995550101', 'Your parcel is on its way', expires_at => now() + interval '1 hour') as id`);
  const id = rows[0]!.id;
  await waitForStatuses(tdb.pool, [id], ['sent']);
  assert.equal((await status(id)).receipt_overdue, false, 'sent, waiting for its receipt');

  // Past expires_at, within the grace (1 hour by default): not overdue yet. The hour of validity
  // passes at once: expires_at is moved into the past instead of the test waiting for it.
  await tdb.pool.query(`update sms_outbox set expires_at = now() - interval '1 second' where id = $1`, [id]);
  assert.equal((await status(id)).past_expiry, true);
  assert.deepEqual(await status(id), { status: 'sent', receipt_state: null, receipt_overdue: false, past_expiry: true });
  assert.equal(Number((await stats()).receipts_overdue), 0);

  await tdb.pool.query(`update sms_settings set receipt_grace = '0'`);
  assert.deepEqual(await status(id), { status: 'sent', receipt_state: null, receipt_overdue: true, past_expiry: true }, 'overdue, and still sent');
  assert.deepEqual(await stats(), { sent: '1', receipts_overdue: '1' });
  await waitFor('the worker to export it', async () => (await scrape(metricsPort)).value('sms_receipts_overdue') === 1);

  // The receipt comes after all.
  const { rows: ids } = await tdb.pool.query<{ message_ids: string[] }>('select message_ids from sms_outbox where id = $1', [id]);
  sim.sendReceipt({ messageId: ids[0]!.message_ids[0]!, state: 'DELIVRD', destination: 'Overdue', source: '79995550101' });
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  assert.deepEqual(await status(id), { status: 'delivered', receipt_state: 'DELIVRD', receipt_overdue: false, past_expiry: true });
  assert.deepEqual(await stats(), { sent: '0', receipts_overdue: '0' });
  await waitFor('the metric back at 0', async () => (await scrape(metricsPort)).value('sms_receipts_overdue') === 0);
});

test('the grace is a setting: 0 to 30 days', async () => {
  const c = await tdb.connect();
  try {
    for (const bad of [`'-1 minute'`, `'31 days'`]) {
      await assert.rejects(c.query(`update sms_settings set receipt_grace = ${bad}`), (e: { code?: string }) => e.code === '23514');
    }
    await c.query(`update sms_settings set receipt_grace = '30 days'`);
    await c.query(`update sms_settings set receipt_grace = default`);
    assert.equal((await c.query(`select receipt_grace::text as g from sms_settings`)).rows[0].g, '01:00:00');
  } finally {
    await c.end();
  }
});
