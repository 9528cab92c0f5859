/**
 * SIGTERM ends a real worker process promptly, by itself: exit 0 with every step of the stop
 * ended by its own completion, none by its bound (a stop was once measured at 10 s, waiting on
 * pools' idle timers and a drain job), its backstop (exit anyway a second after `worker stopped`)
 * never needed, and no connection left in Postgres under the worker's application_name. Once
 * after traffic (outcomes, receipts, incoming SMS, a kept-alive /metrics connection), once on a
 * worker that has had none (nothing went through its pools' query builders).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { waitFor } from '../support/wait.js';

/**
 * Each bounded wait of the stop says so when its bound runs out: the pump's ('stopped with
 * messages still in flight'), the session's drain ('drain timed out'), the store's writes ('not
 * written before shutdown'), the whole stop ('shutdown did not finish in time', exit 1) and the
 * backstop after it ('still running after the worker stopped'), each a warning or an error. A
 * stop that logs none of them from SIGTERM on ended each step by itself, however long the machine
 * took: what a bound on the milliseconds to exit stood for.
 */
const WARN = 40;

let tdb: TestDatabase;
let sim: Simulator;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'StopTest'`);
  sim = await startSimulator({ receiptDelayMs: 20 });
});

after(async () => {
  await sim?.stop();
  await tdb?.drop();
});

function start(id: string): WorkerProcess {
  return startWorkerProcess({
    DATABASE_URL: tdb.url,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMS_WORKER_ID: id,
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
  });
}

async function connectionsOf(id: string): Promise<string[]> {
  const { rows } = await tdb.pool.query<{ application_name: string }>(
    `select application_name from pg_stat_activity where application_name like $1 order by 1`,
    [`sms-outbox worker ${id}%`],
  );
  return rows.map((r) => r.application_name);
}

/** SIGTERM, then: exit code, warnings and errors logged from then on, connections of the worker left right after. */
async function stopAndMeasure(worker: WorkerProcess, id: string) {
  const from = worker.logs.length;
  const code = await worker.stop('SIGTERM');
  // Every line it wrote: 'exit' may come before the last of its output was read.
  const stdout = worker.child.stdout!;
  if (!stdout.readableEnded) await once(stdout, 'end');
  const warnings = worker.logs.slice(from).filter((l) => Number(l.level) >= WARN).map((l) => l.msg);
  // A backend ends when its client says goodbye; one whose client just vanished may take a moment.
  let left = await connectionsOf(id);
  await waitFor('its connections gone', async () => (left = await connectionsOf(id)).length === 0, { timeoutMs: 500 }).catch(() => {});
  return { code, warnings, left };
}

test('after traffic, SIGTERM exits 0 promptly by itself and leaves no connection in Postgres', async () => {
  const id = 'stop-after-traffic';
  const worker = start(id);
  const agent = new http.Agent({ keepAlive: true });
  try {
    const port = Number((await worker.waitForLog(/worker started/)).metricsPort);
    await worker.waitForLog(/SMPP session bound/);
    const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+7999200' || lpad(i::text, 4, '0'), 'stop test ' || i) as id from generate_series(1, 200) i`);
    sim.sendMo({ source: '79995550301', destination: 'StopTest', text: 'an incoming SMS before the stop' });
    await waitForStatuses(tdb.pool, rows.map((r) => r.id), ['delivered'], 30_000);
    // Prometheus keeps its connection open between scrapes.
    await new Promise<void>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
    );
    assert.ok((await connectionsOf(id)).length >= 3, 'the worker had its connections open');

    const { code, warnings, left } = await stopAndMeasure(worker, id);
    assert.equal(code, 0);
    assert.deepEqual(warnings, [], 'no step of the stop ran into its bound');
    assert.deepEqual(left, [], 'no connection of the worker left');
    assert.ok(worker.logs.some((l) => l.msg === 'worker stopped'));
    assert.ok(!worker.logs.some((l) => /still running after the worker stopped/.test(String(l.msg))), 'the process ended by itself');
  } finally {
    agent.destroy();
    await worker.stop();
  }
});

test('a worker that had no traffic also exits promptly and leaves no connection', async () => {
  const id = 'stop-idle';
  const worker = start(id);
  try {
    await worker.waitForLog(/SMPP session bound/);
    const { code, warnings, left } = await stopAndMeasure(worker, id);
    assert.equal(code, 0);
    assert.deepEqual(warnings, [], 'no step of the stop ran into its bound');
    assert.deepEqual(left, [], 'no connection of the worker left');
    assert.ok(!worker.logs.some((l) => /still running after the worker stopped/.test(String(l.msg))), 'the process ended by itself');
  } finally {
    await worker.stop();
  }
});
