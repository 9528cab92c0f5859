/**
 * /readyz and /healthz of a real worker process: ready while Postgres answers and the session is
 * bound; not ready, with the reason, while the SMSC is gone or refuses the bind, or Postgres is
 * down; ready again when they come back, without a restart. /healthz and /metrics keep answering.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { freePort, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, testPool } from '../support/db.js';
import { startWorkerProcess, waitForStatuses } from '../support/worker-process.js';
import { probe, scrape, waitFor } from './helpers.js';

const SMPP_PASSWORD = 'Readyz-Smpp-Pw-77';

function workerEnv(databaseUrl: string, smppPort: number): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    SMPP_URL: `smpp://test:${SMPP_PASSWORD}@127.0.0.1:${smppPort}`,
    SMPP_RECONNECT_MAX_S: '1',
    SMS_SHUTDOWN_TIMEOUT_S: '5',
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
  };
}

/**
 * The worker process, its /metrics reading the queue gauges from Postgres on every scrape (not at
 * most every 5 s): the tests wait for the gauges to change, not for the cache to lapse.
 */
const startWorker = (env: Record<string, string>) => startWorkerProcess(env, ['worker'], { hooks: { timing: { metricsCacheMs: 0 } } });

async function readyz(port: number, status: number) {
  return waitFor(`/readyz ${status}`, async () => {
    const r = await probe(port, '/readyz');
    return r.status === status ? r.body : undefined;
  });
}

test('/readyz follows the SMPP session: the simulator goes away, refuses the bind, comes back', async () => {
  const tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Ready'`);
  let sim: Simulator = await startSimulator({ receiptDelayMs: 10 });
  const smppPort = sim.port;
  const worker = startWorker(workerEnv(tdb.url, smppPort));
  try {
    const port = Number((await worker.waitForLog(/worker started/)).metricsPort);
    const ready = await readyz(port, 200);
    assert.deepEqual(ready, { status: 'ready', database: 'ok', smpp: { state: 'bound', forSeconds: (ready.smpp as { forSeconds: number }).forSeconds } });
    const before = await scrape(port);

    // The SMSC goes away entirely.
    await sim.stop();
    const gone = await readyz(port, 503);
    assert.equal(gone.status, 'not ready');
    assert.equal(gone.database, 'ok');
    const problems = gone.problems as string[];
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^SMPP session not bound for \d+ s \((disconnected|connecting|binding); last bound at \S+; last problem: .+\)$/);
    assert.equal((await probe(port, '/healthz')).status, 200, 'liveness is unaffected');

    // Messages wait in the queue meanwhile, and the queue gauges show it.
    const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+7999000200' || i, 'while down ' || i) as id from generate_series(1, 2) i`);
    const ids = rows.map((r) => r.id);
    const waiting = await waitFor('the queue gauges to show two waiting', async () => {
      const s = await scrape(port);
      return s.value('sms_queue_depth') === 2 && s.value('sms_oldest_queued_age_seconds') > 0 ? s : undefined;
    });
    assert.equal(waiting.value('smpp_session_bound'), 0);
    assert.equal(waiting.value('smpp_session_state', { state: 'bound' }), 0);
    assert.ok(waiting.value('smpp_reconnects_total') > before.value('smpp_reconnects_total'), 'reconnects are counted');
    assert.ok(waiting.value('smpp_disconnects_total') > before.value('smpp_disconnects_total'), 'the lost session is counted');

    // It comes back on the same port, but refuses our credentials: still not ready, and why.
    sim = await startSimulator({ port: smppPort, receiptDelayMs: 10, systemId: 'test', password: 'rotated' });
    const refused = await waitFor('the bind refusal in /readyz', async () => {
      const r = await probe(port, '/readyz');
      return r.status === 503 && /bind refused: ESME_RINVPASWD/.test(JSON.stringify(r.body)) ? r.body : undefined;
    });
    assert.match((refused.problems as string[])[0]!, /last problem: bind refused: ESME_RINVPASWD/);
    const refusedScrape = await scrape(port);
    assert.ok(refusedScrape.value('smpp_bind_failures_total', { status: 'ESME_RINVPASWD' }) >= 1);

    // The SMSC accepts again: ready, and the queue drains to zero.
    sim.configure({ password: SMPP_PASSWORD });
    await readyz(port, 200);
    await waitForStatuses(tdb.pool, ids, ['delivered'], 20_000);
    await waitFor('the queue gauges to read empty', async () => {
      const s = await scrape(port);
      return s.value('sms_queue_depth') === 0 && s.value('sms_oldest_queued_age_seconds') === 0 && s.value('smpp_session_bound') === 1;
    });
  } finally {
    assert.equal(await worker.stop(), 0);
    await sim.stop();
    await tdb.drop();
  }
  // Refused binds, lost connections, reconnects: none of it logs the password.
  const output = `${JSON.stringify(worker.logs)}\n${worker.stderr()}`;
  assert.match(output, /SMSC refused the bind: ESME_RINVPASWD/);
  assert.ok(!output.includes(SMPP_PASSWORD), 'the SMPP password never appears in the logs');
});

/** The figures of /readyz's "SMPP session not bound for N s (...)" line. */
function notBound(body: Record<string, unknown>) {
  const problem = (body.problems as string[]).find((p) => p.startsWith('SMPP session not bound'));
  const m = /^SMPP session not bound for (\d+) s \((disconnected|connecting|binding); (last bound at (\S+)|never bound since the worker started)(; last problem: .+)?\)$/.exec(problem ?? '');
  assert.ok(m, `unexpected /readyz problem: ${problem}`);
  const smpp = body.smpp as { forSeconds: number; lastBoundAt: string | null };
  assert.equal(smpp.forSeconds, Number(m[1]));
  assert.equal(smpp.lastBoundAt, m[4] ?? null);
  return { seconds: Number(m[1]), lastBoundAt: m[4] ? new Date(m[4]) : null };
}

test('/readyz counts the time not bound from the last bind, not from the latest reconnect attempt', async () => {
  const tdb = await createTestDatabase();
  let sim: Simulator = await startSimulator();
  const smppPort = sim.port;
  const worker = startWorker(workerEnv(tdb.url, smppPort));
  try {
    const port = Number((await worker.waitForLog(/worker started/)).metricsPort);
    await readyz(port, 200);
    const before = await scrape(port);
    const downAt = Date.now();
    await sim.stop();
    // The worker reconnects every second at most (SMPP_RECONNECT_MAX_S=1): looked at until it
    // has been down 3 s, over several attempts.
    const r = await waitFor('3 s not bound, after two reconnect attempts', async () => {
      const p = await probe(port, '/readyz');
      const reconnects = (await scrape(port)).value('smpp_reconnects_total') - before.value('smpp_reconnects_total');
      return p.status === 503 && notBound(p.body).seconds >= 3 && reconnects >= 2 ? p : undefined;
    });
    // Read after the answer: a loaded machine only makes it larger than what the worker counted.
    const elapsed = (Date.now() - downAt) / 1000;
    assert.equal(r.status, 503);
    const { seconds, lastBoundAt } = notBound(r.body);
    assert.ok((await scrape(port)).value('smpp_reconnects_total') - before.value('smpp_reconnects_total') >= 2, 'it tried to reconnect meanwhile');
    assert.ok(seconds >= 3 && seconds <= Math.ceil(elapsed) + 1, `not bound for ${seconds} s after ${elapsed.toFixed(1)} s down`);
    // The count's origin, by the worker's own log: the loss of the link (after the simulator went
    // down, by the time it logged the loss), before the reconnect attempts that followed.
    const lost = Number((await worker.waitForLog(/SMPP session lost/)).time);
    const attempts = worker.logs.filter((l) => l.msg === 'reconnecting' && Number(l.time) >= downAt).map((l) => Number(l.time));
    assert.ok(lastBoundAt, 'it was bound before');
    const at = lastBoundAt.getTime();
    assert.ok(downAt <= at && at <= lost, `last bound at ${lastBoundAt.toISOString()}, down at ${new Date(downAt).toISOString()}, lost at ${new Date(lost).toISOString()}`);
    assert.ok(attempts.length >= 2 && attempts.at(-1)! > at, `last bound at ${lastBoundAt.toISOString()}, not at the latest of ${attempts.length} reconnect attempts`);

    // Bound again: ready, and the count starts over.
    sim = await startSimulator({ port: smppPort });
    const ready = await readyz(port, 200);
    assert.ok((ready.smpp as { forSeconds: number }).forSeconds <= 2);
  } finally {
    assert.equal(await worker.stop(), 0);
    await sim.stop();
    await tdb.drop();
  }
});

test('/readyz before the first bind counts from the start and says it never bound', async () => {
  const tdb = await createTestDatabase();
  const closedPort = await freePort(); // nothing listens there: every connection attempt is refused
  const spawnedAt = Date.now();
  const worker = startWorker(workerEnv(tdb.url, closedPort));
  try {
    const started = await worker.waitForLog(/worker started/);
    const port = Number(started.metricsPort);
    const r = await waitFor('2 s not bound', async () => {
      const p = await probe(port, '/readyz');
      return p.status === 503 && notBound(p.body).seconds >= 2 ? p : undefined;
    });
    assert.equal(r.status, 503);
    const { seconds, lastBoundAt } = notBound(r.body);
    assert.equal(lastBoundAt, null);
    // Counted from the worker's start, not from before it: the process was started before the
    // count began, and this is read after the answer, so a loaded machine only makes it larger.
    // (From its 'worker started' line instead, the count may be ahead: the session is set up
    // before Graphile Worker starts, which takes seconds on a loaded machine.)
    const sinceSpawn = (Date.now() - spawnedAt) / 1000;
    assert.ok(seconds >= 2 && seconds <= Math.ceil(sinceSpawn), `not bound for ${seconds} s, ${sinceSpawn.toFixed(1)} s after the process started`);
    assert.match((r.body.smpp as { lastProblem?: string }).lastProblem ?? '', /ECONNREFUSED/);
  } finally {
    assert.equal(await worker.stop(), 0);
    await tdb.drop();
  }
});

test('/readyz follows Postgres: down is 503 naming the database, /metrics still answers; up again is 200', async () => {
  const cluster = await startEmbeddedPostgres({ settings: { fsync: 'off' } });
  const sim = await startSimulator({ receiptDelayMs: 10 });
  const url = cluster.url.replace(/\/postgres$/, '/readyz');
  const worker = (async () => {
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('create database readyz');
    await admin.end();
    await migrate(url, { settings: { defaultSender: 'Ready' } });
    return startWorker(workerEnv(url, sim.port));
  })();
  const w = await worker;
  try {
    const port = Number((await w.waitForLog(/worker started/)).metricsPort);
    await readyz(port, 200);

    await cluster.stopServer();
    const down = await readyz(port, 503);
    assert.equal(down.database, 'unreachable');
    assert.match((down.problems as string[]).join('\n'), /^database (unreachable: .+|did not answer within 2 s)$/m);
    assert.equal((await probe(port, '/healthz')).status, 200, 'liveness is unaffected: restarting would not bring Postgres back');
    const s = await waitFor('sms_database_up 0', async () => {
      const m = await scrape(port);
      return m.value('sms_database_up') === 0 ? m : undefined;
    });
    assert.equal(s.value('smpp_session_bound'), 1, 'the session metrics are still served');

    await cluster.start();
    await readyz(port, 200);
    await waitFor('sms_database_up 1', async () => (await scrape(port)).value('sms_database_up') === 1);

    // And it still works end to end.
    const pool = testPool({ connectionString: url });
    try {
      const { rows } = await pool.query<{ id: string }>(`select sms_send('+79990003001', 'after the restart') as id`);
      await waitForStatuses(pool, [rows[0]!.id], ['delivered'], 30_000);
    } finally {
      await pool.end();
    }
  } finally {
    await w.stop();
    await sim.stop();
    await cluster.stop();
  }
});
