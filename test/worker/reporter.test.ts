/**
 * Workers report their SMPP bind state and heartbeat to Postgres (sms_worker_state, 0018): a
 * real worker process (logged in with nothing but sms_worker) against the simulator process
 * shows `bound`, then not bound with the reason when the simulator goes, then `stopped` after
 * SIGTERM; `sms-outbox status` (as a reader) prints them. The heartbeat and the row's recreation
 * are checked on a reporter in this process, with a short interval.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { runCli, waitFor } from '../ops/helpers.js';
import { startSimulatorProcess, type SimulatorProcess } from '../support/simulator-process.js';
import { TestRoles } from '../sql/helpers.js';
import { forgetGoneWorkers, listWorkers, reportWorkerState, touchWorkerHeartbeat } from '../../src/db/workers.js';
import { WorkerReporter } from '../../src/worker/reporter.js';
import { WorkerMetrics } from '../../src/worker/metrics.js';
import { SmppSession } from '../../src/smpp/session.js';
import { logger, sessionOptions } from '../smpp/helpers.js';

let tdb: TestDatabase;
let simulator: SimulatorProcess | undefined;
let worker: WorkerProcess | undefined;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');

const urlAs = (user: string) => {
  const u = new URL(tdb.url);
  u.username = user;
  u.password = password;
  return u.toString();
};
const row = async (workerId: string) =>
  (await tdb.pool.query('select *, extract(epoch from heartbeat_interval)::float8 as interval_s from sms_worker_state where worker_id = $1', [workerId])).rows[0];

before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await worker?.kill();
  await simulator?.stop();
  await tdb.drop();
  await roles.dropAll();
});

test('a worker process reports bound, the reason it is not, and stopped; status prints it', async () => {
  simulator = await startSimulatorProcess();
  const workerRole = await roles.create({ login: password, memberOf: ['sms_worker'] });
  const readerRole = await roles.create({ login: password, memberOf: ['sms_reader'] });
  worker = startWorkerProcess({
    DATABASE_URL: urlAs(workerRole),
    SMPP_URL: `smpp://rep:secret@127.0.0.1:${simulator.smppPort}`,
    SMS_WORKER_ID: 'reporter-w1',
    SMPP_RECONNECT_MAX_S: '1',
  });
  await worker.waitForLog(/SMPP session bound/);
  await waitFor('the row to say bound', async () => (await row('reporter-w1'))?.bind_state === 'bound');
  const bound = await row('reporter-w1');
  assert.equal(bound.smsc, `smpp://rep@127.0.0.1:${simulator.smppPort}`, 'the URL without its password');
  assert.equal(bound.pid, worker.child.pid);
  assert.equal(bound.interval_s, 10);
  assert.equal(bound.stopped_at, null);

  const status = await runCli({ DATABASE_URL: urlAs(readerRole) }, ['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /\n {2}workers:\n {4}reporter-w1 {2}bound for [\d.]+ (ms|s), heartbeat [\d.]+ (ms|s) ago {2}\(smpp:\/\/rep@127\.0\.0\.1:\d+\)\n$/);
  const json = JSON.parse((await runCli({ DATABASE_URL: urlAs(readerRole) }, ['status', '--json'])).stdout) as { workers: Record<string, unknown>[] };
  assert.equal(json.workers.length, 1);
  assert.equal(json.workers[0]!.bindState, 'bound');
  assert.equal(json.workers[0]!.gone, false);

  await simulator.stop();
  simulator = undefined;
  await waitFor('the row to say not bound', async () => (await row('reporter-w1'))?.bind_state !== 'bound');
  await waitFor('the reason', async () => (await row('reporter-w1'))?.last_problem !== null);
  assert.notEqual((await row('reporter-w1')).last_bound_at, null);

  assert.equal(await worker.stop(), 0);
  const stopped = await row('reporter-w1');
  assert.equal(stopped.bind_state, 'stopped');
  assert.notEqual(stopped.stopped_at, null);
  const listed = await listWorkers(tdb.db);
  assert.equal(listed[0]!.gone, false, 'a stopped worker is not gone');
});

test('the heartbeat moves; a deleted row is written whole again; long-gone workers are forgotten', async () => {
  // A session never started: it stays disconnected.
  const session = new SmppSession(sessionOptions({ port: 9 }), logger);
  const metrics = new WorkerMetrics();
  metrics.attachSession(session, 10);
  const reporter = new WorkerReporter(tdb.db, logger, { workerId: 'beat', smsc: 'smpp://x@h:1', bindMode: 'transceiver', version: 't', heartbeatMs: 50 }, metrics);
  reporter.start(session);
  await waitFor('the first report', async () => (await row('beat')) !== undefined);
  const first = (await row('beat')).heartbeat_at as Date;
  assert.equal((await row('beat')).bind_state, 'disconnected');
  await waitFor('a later heartbeat', async () => ((await row('beat')).heartbeat_at as Date) > first);
  await tdb.pool.query(`delete from sms_worker_state where worker_id = 'beat'`);
  await waitFor('the row written again', async () => (await row('beat')) !== undefined);
  await reporter.stop();
  assert.equal((await row('beat')).bind_state, 'stopped');

  assert.equal(await touchWorkerHeartbeat(tdb.db, 'nobody'), false);
  await reportWorkerState(tdb.db, {
    workerId: 'old', host: 'h', pid: 1, version: 'v', smsc: 's', bindMode: 'transceiver', bindState: 'bound',
    bindStateSince: new Date(), lastBoundAt: null, lastProblem: null, startedAt: new Date(), heartbeatIntervalMs: 1000,
  });
  assert.equal((await listWorkers(tdb.db)).find((w) => w.workerId === 'old')!.gone, false);
  await tdb.pool.query(`update sms_worker_state set heartbeat_at = now() - interval '10 seconds' where worker_id = 'old'`);
  assert.equal((await listWorkers(tdb.db)).find((w) => w.workerId === 'old')!.gone, true, 'no heartbeat for three intervals: gone');
  await tdb.pool.query(`update sms_worker_state set heartbeat_at = now() - interval '8 days' where worker_id = 'old'`);
  assert.equal((await listWorkers(tdb.db)).find((w) => w.workerId === 'old'), undefined, 'not seen in the last day: not listed');
  assert.equal(await forgetGoneWorkers(tdb.db, 7 * 86_400_000), 1);
  assert.equal(await row('old'), undefined);
});
