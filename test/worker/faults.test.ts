/**
 * Fault tests: the worker (a real child process) is killed, its SMSC connection dropped, its
 * Postgres restarted, and run twice under one account-wide rate limit. Every message must end in
 * a final status with none lost; duplicates are bounded as docs/guides/operations.md promises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase, testPool } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { countEvents, waitFor } from '../support/wait.js';

/** Enqueues `n` messages with bodies `${prefix} <i>` through sms_send, in one statement. */
async function enqueue(pool: pg.Pool, n: number, prefix: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `select sms_send('+7999' || lpad(i::text, 7, '0'), $2 || ' ' || i) as id from generate_series(1, $1::int) i`,
    [n, prefix],
  );
  return rows.map((r) => r.id);
}

async function countByStatus(pool: pg.Pool): Promise<Record<string, number>> {
  // As sms_status shows them: a message a worker holds (a lease, migration 0034) is sending.
  const { rows } = await pool.query<{ status: string; n: number }>(
    `select case when l.outbox_id is not null then 'sending' else o.status end as status, count(*)::int as n
       from sms_outbox o left join sms_private.outbox_lease l on l.outbox_id = o.id
      group by 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  await waitFor(what, check, { timeoutMs, everyMs: 50 });
}

function workerEnv(tdbUrl: string, sim: Simulator, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: tdbUrl,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_WINDOW: '10',
    SMPP_RECONNECT_MAX_S: '1',
    SMS_LEASE_S: '2',
    SMS_SHUTDOWN_TIMEOUT_S: '10',
    ...extra,
  };
}

/** Wire submits per body (one part per message in these tests). */
function submitsByBody(sim: Simulator): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of sim.received.submits) counts.set(s.text, (counts.get(s.text) ?? 0) + 1);
  return counts;
}

async function withSetup(fn: (tdb: TestDatabase, sim: Simulator) => Promise<void>, simOptions = {}): Promise<void> {
  const tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'FaultTest', max_attempts = 20`);
  const sim = await startSimulator({ receiptDelayMs: 5, ...simOptions });
  try {
    await fn(tdb, sim);
  } finally {
    await sim.stop();
    await tdb.drop();
  }
}

test('SIGKILL three times in a 1,500-message run: every message delivered, at most SMS_MAX_UNCOMMITTED duplicates per kill', async (t) => {
  await withSetup(async (tdb, sim) => {
    const ids = await enqueue(tdb.pool, 1500, 'kill');
    const window = 10;
    // The documented bound on what one crash repeats: submitted, outcome not yet committed.
    const maxUncommitted = 15;
    let worker: WorkerProcess | undefined;
    // Each kill lands with 300 or more of the 1,500 messages not yet sent, over ten times the
    // window plus SMS_MAX_UNCOMMITTED a worker may hold: mid-run, with rows in flight.
    const kills = [300, 750, 1200];
    for (const atSubmits of kills) {
      worker = startWorkerProcess(workerEnv(tdb.url, sim, { SMPP_WINDOW: String(window), SMS_MAX_UNCOMMITTED: String(maxUncommitted) }));
      const started = await worker.waitForLog(/worker started/);
      await waitUntil(`${atSubmits} submits`, async () => sim.counters.submits >= atSubmits, 60_000);
      await worker.kill();
      // Left behind by this worker (an earlier killed one's rows may not be taken back yet).
      const { rows } = await tdb.pool.query<{ n: number }>(`select count(*)::int as n from sms_private.outbox_lease where worker_id = $1`, [started.worker]);
      assert.ok(rows[0]!.n <= maxUncommitted + window, `at most the uncommitted plus the claimed-ahead rows are left sending (${rows[0]!.n})`);
    }
    worker = startWorkerProcess(workerEnv(tdb.url, sim));
    try {
      await waitForStatuses(tdb.pool, ids, ['delivered'], 120_000);
    } finally {
      await worker.stop();
    }
    const counts = submitsByBody(sim);
    assert.equal(counts.size, 1500, 'every message reached the SMSC');
    const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    t.diagnostic(`${duplicates} duplicate submits over ${kills.length} kills (window ${window}, SMS_MAX_UNCOMMITTED ${maxUncommitted})`);
    assert.ok(duplicates <= kills.length * maxUncommitted, `${duplicates} duplicates for ${kills.length} kills with SMS_MAX_UNCOMMITTED ${maxUncommitted}`);
    const { rows } = await tdb.pool.query(`select count(*)::int as n from sms_outbox where status = 'delivered' and done_at is not null`);
    assert.equal(rows[0].n, 1500);
  });
});

test('the SMSC drops the connection again and again mid-run: none lost', async (t) => {
  await withSetup(async (tdb, sim) => {
    const ids = await enqueue(tdb.pool, 1000, 'drop');
    const submits = countEvents(sim, 'submit');
    const worker = startWorkerProcess(workerEnv(tdb.url, sim));
    try {
      await worker.waitForLog(/worker started/);
      // A drop each time the worker has sent another 100 submit_sm (so it reconnected and sent
      // again since the last one): the 8th after 800 submits at most, with 200 or more of the
      // 1000 messages still to send, mid-run.
      let drops = 0;
      while (drops < 8) {
        await submits.until((drops + 1) * 100, 60_000);
        sim.closeConnections();
        drops++;
      }
      submits.stop();
      assert.ok(drops >= 5, `dropped the connection ${drops} times`);
      t.diagnostic(`connection dropped ${drops} times`);
      await waitForStatuses(tdb.pool, ids, ['delivered'], 120_000);
    } finally {
      await worker.stop();
    }
    const counts = submitsByBody(sim);
    assert.equal(counts.size, 1000, 'every message reached the SMSC');
    assert.ok(sim.counters.connections > 5, 'the worker reconnected');
  });
});

test('Postgres restarted mid-run: the worker recovers on its own and finishes', async () => {
  const cluster = await startEmbeddedPostgres({ settings: { fsync: 'off' } });
  const sim = await startSimulator({ receiptDelayMs: 5 });
  const url = cluster.url.replace(/\/postgres$/, '/faults');
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('create database faults');
  await admin.end();
  await migrate(url, { settings: { defaultSender: 'FaultTest' } });
  let pool = testPool({ connectionString: url });
  pool.on('error', () => {});
  const worker = startWorkerProcess(workerEnv(url, sim));
  try {
    await worker.waitForLog(/worker started/);
    const ids = await enqueue(pool, 1500, 'pgrestart');
    await waitUntil('500 submits', async () => sim.counters.submits >= 500, 60_000);
    await pool.end();
    await cluster.restart();
    pool = testPool({ connectionString: url });
    pool.on('error', () => {});
    await waitForStatuses(pool, ids, ['delivered'], 120_000);
    assert.equal(worker.child.exitCode, null, 'the same worker process is still running');
    assert.ok(worker.logs.some((l) => /connection re-established|failed; retrying|Postgres error/.test(String(l.msg))), 'the worker noticed the restart');
    assert.equal(submitsByBody(sim).size, 1500);
  } finally {
    await worker.stop();
    await pool.end().catch(() => {});
    await sim.stop();
    await cluster.stop();
  }
});

test('two workers with SMPP_TPS=40 together stay within 40 submit_sm per second', async (t) => {
  await withSetup(async (tdb, sim) => {
    const ids = await enqueue(tdb.pool, 240, 'tps');
    const env = workerEnv(tdb.url, sim, { SMPP_TPS: '40' });
    const a = startWorkerProcess({ ...env, SMS_WORKER_ID: 'tps-a' });
    const b = startWorkerProcess({ ...env, SMS_WORKER_ID: 'tps-b' });
    try {
      await Promise.all([a.waitForLog(/worker started/), b.waitForLog(/worker started/)]);
      await waitForStatuses(tdb.pool, ids, ['delivered'], 60_000);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const times = sim.received.submits.map((s) => s.at).sort((x, y) => x - y);
    assert.equal(times.length, 240);
    // The most submits any window of `ms` milliseconds holds, wherever it starts.
    const worstWindow = (ms: number) => {
      let worst = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (times[i]! - times[j]! >= ms) j++;
        worst = Math.max(worst, i - j + 1);
      }
      return worst;
    };
    // The limit: rate x time, plus the one token the shared bucket may hold. The times are
    // taken where the simulator reads the PDUs, in this test process: on a loaded machine its
    // event loop (or a worker's) stalls for a moment, and submits sent on time are then read in
    // one bunch, late, crowding the window they land in. So each window is allowed the submits
    // of JITTER_MS more, a stall this test tolerates; a limiter that is not shared (two workers
    // at 40/s each: about 80 a second) or lets a burst through still fails by far.
    const JITTER_MS = 200;
    const allowed = (ms: number) => Math.floor((40 * (ms + JITTER_MS)) / 1000) + 1;
    const [w1, w2, w5] = [worstWindow(1000), worstWindow(2000), worstWindow(5000)];
    t.diagnostic(`worst windows: ${w1} submits in 1 s, ${w2} in 2 s, ${w5} in 5 s (allowed ${allowed(1000)}, ${allowed(2000)}, ${allowed(5000)})`);
    assert.ok(w1 <= allowed(1000), `${w1} submits in one second`);
    assert.ok(w2 <= allowed(2000), `${w2} submits in two seconds`);
    assert.ok(w5 <= allowed(5000), `${w5} submits in five seconds`);
    const span = (times.at(-1)! - times[0]!) / 1000;
    assert.ok(span >= 240 / 40 - 1.5, `240 submits took ${span.toFixed(1)} s at 40/s`);
    const { rows } = await tdb.pool.query(`select count(distinct worker_id)::int as n from sms_outbox`);
    assert.equal(rows[0].n, 2, 'both workers sent');
  });
});

test('SIGTERM: the worker drains its window, writes results, unbinds and exits 0', async () => {
  await withSetup(
    async (tdb, sim) => {
      const ids = await enqueue(tdb.pool, 1000, 'term');
      const worker = startWorkerProcess(workerEnv(tdb.url, sim, { SMPP_WINDOW: '50' }));
      await worker.waitForLog(/worker started/);
      await waitUntil('some submits', async () => sim.counters.submits >= 300);
      const from = worker.logs.length;
      const code = await worker.stop('SIGTERM');
      assert.equal(code, 0);
      // Within its bounds: a step of the stop that runs out of time logs a warning or an error
      // (test/worker/shutdown.test.ts names them).
      assert.deepEqual(worker.logs.slice(from).filter((l) => Number(l.level) >= 40).map((l) => l.msg), [], 'no step of the stop ran into its bound');
      assert.ok(sim.received.unbinds >= 1, 'unbound cleanly');
      const counts = await countByStatus(tdb.pool);
      assert.equal(counts.sending ?? 0, 0, 'nothing left held by the stopped worker');
      // Everything submitted has its outcome written: no wire submit is missing from the table.
      const { rows } = await tdb.pool.query<{ n: number }>(`select count(*)::int as n from sms_outbox where status in ('sent', 'delivered')`);
      assert.equal(rows[0]!.n, sim.counters.accepted);
      // A new worker finishes the rest.
      const again = startWorkerProcess(workerEnv(tdb.url, sim));
      try {
        await waitForStatuses(tdb.pool, ids, ['delivered'], 60_000);
      } finally {
        await again.stop();
      }
      assert.equal(submitsByBody(sim).size, 1000);
      assert.equal([...submitsByBody(sim).values()].filter((n) => n > 1).length, 0, 'a graceful stop repeats nothing');
    },
    { responseDelayMs: 5 },
  );
});
