/**
 * validity_period end to end, as production runs it: Postgres, `sms-outbox worker` and
 * `sms-outbox simulator --control-port` as real processes. A message's expires_at reaches the
 * SMSC as validity_period on every part; an SMSC that refuses it (ESME_RINVEXPIRY) gets the
 * message again without it, the message is delivered with attempts unchanged, the session sends
 * no more of them and the worker warns once; SMPP_VALIDITY_PERIOD=off never sends it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAbsoluteTime } from '../../src/smpp/validity.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startBoundWorker, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulatorProcess, type SimulatorProcess } from '../support/simulator-process.js';
import { scrape } from '../ops/helpers.js';

let tdb: TestDatabase;
let simulator: SimulatorProcess;
let worker: WorkerProcess;
let metricsPort: number;

const LONG = 'Your order 1234 has shipped and will arrive tomorrow between 9 and 12. '.repeat(3);

function startWorker(extra: Record<string, string> = {}) {
  return startBoundWorker({ DATABASE_URL: tdb.url, SMPP_URL: `smpp://valid:ity@127.0.0.1:${simulator.smppPort}`, SMPP_RECONNECT_MAX_S: '1', ...extra });
}

async function send(recipient: string, body: string): Promise<string> {
  return (await tdb.pool.query<{ id: string }>(`select sms_send($1, $2, expires_at => now() + interval '2 hours') as id`, [recipient, body])).rows[0]!.id;
}

async function row(id: string): Promise<{ status: string; attempts: number; error_code: string | null; segments: number; expires_at: Date }> {
  return (await tdb.pool.query('select status, attempts, error_code, segments, expires_at from sms_outbox where id = $1', [id])).rows[0];
}

/** [validity_period, command_status] of every submit_sm the simulator received for `destination`, oldest first. */
async function wire(destination: string): Promise<[string | null, string][]> {
  const r = await simulator.call('GET', '/submits?limit=100');
  return r.body.submits.filter((s: Record<string, any>) => s.destination === destination).map((s: Record<string, any>) => [s.validity_period, s.command_status]);
}

const refusalWarnings = () => worker.logs.filter((l) => /refused validity_period/.test(String(l.msg)));

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Validity'`);
  simulator = await startSimulatorProcess();
  ({ worker, metricsPort } = await startWorker());
});

after(async () => {
  await worker?.stop();
  await simulator?.stop();
  await tdb?.drop();
});

test('expires_at goes out as validity_period on every part of the message', async () => {
  const phone = '79992220001';
  const id = await send(phone, LONG);
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  const r = await row(id);
  const vp = formatAbsoluteTime(r.expires_at);
  assert.equal(r.segments, 2);
  assert.deepEqual(await wire(phone), [[vp, 'ESME_ROK'], [vp, 'ESME_ROK']]);
  assert.deepEqual({ attempts: r.attempts, error: r.error_code }, { attempts: 1, error: null });
  assert.equal((await scrape(metricsPort)).value('smpp_validity_period_sent'), 1);
});

test('refused by the SMSC: resubmitted without it, delivered, attempts unchanged; the session sends no more, one warning', async () => {
  assert.equal((await simulator.call('POST', '/config', { refuse_validity_period: true })).body.refuse_validity_period, true);
  const phone = '79992220002';
  const first = await send(phone, LONG);
  await waitForStatuses(tdb.pool, [first], ['delivered']);
  const firstWire = await wire(phone);
  const vp = formatAbsoluteTime((await row(first)).expires_at);
  assert.deepEqual(firstWire[0], [vp, 'ESME_RINVEXPIRY']);
  assert.deepEqual(
    firstWire.filter(([, s]) => s === 'ESME_ROK'),
    [[null, 'ESME_ROK'], [null, 'ESME_ROK']],
    'both parts accepted without validity_period',
  );
  assert.ok(firstWire.every(([v, s]) => (v === null) === (s === 'ESME_ROK')), 'only submit_sm with it were refused');
  assert.deepEqual(await row(first).then((r) => ({ status: r.status, attempts: r.attempts, error: r.error_code })), { status: 'delivered', attempts: 1, error: null });

  const more = await Promise.all(['Code 1111', 'Code 2222', 'Code 3333'].map((b) => send(phone, b)));
  await waitForStatuses(tdb.pool, more, ['delivered']);
  const after = (await wire(phone)).slice(firstWire.length);
  assert.deepEqual(after, [[null, 'ESME_ROK'], [null, 'ESME_ROK'], [null, 'ESME_ROK']], 'not tried again on this bind');
  for (const id of more) assert.equal((await row(id)).attempts, 1);

  assert.equal(refusalWarnings().length, 1);
  assert.equal(refusalWarnings()[0]!.level, 40, 'a warning');
  assert.equal(refusalWarnings()[0]!.statusName, 'ESME_RINVEXPIRY');
  const s = await scrape(metricsPort);
  assert.equal(s.value('smpp_validity_period_sent'), 0);
  assert.equal(s.value('smpp_validity_period_refusals_total'), 1);
});

test('SMPP_VALIDITY_PERIOD=off: never sent', async () => {
  await worker.stop();
  await simulator.call('POST', '/config', { refuse_validity_period: false });
  ({ worker, metricsPort } = await startWorker({ SMPP_VALIDITY_PERIOD: 'off' }));
  const phone = '79992220003';
  const ids = [await send(phone, LONG), await send(phone, 'Code 4444')];
  await waitForStatuses(tdb.pool, ids, ['delivered']);
  assert.deepEqual(await wire(phone), [[null, 'ESME_ROK'], [null, 'ESME_ROK'], [null, 'ESME_ROK']]);
  assert.equal((await scrape(metricsPort)).value('smpp_validity_period_sent'), 0);
  assert.deepEqual(refusalWarnings(), []);
});
