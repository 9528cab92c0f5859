/**
 * A message put back in the queue for later goes out at its time, whatever the pump of the worker
 * that put it back was doing, and whichever worker is still there to send it: real worker
 * processes, the simulator over TCP, Postgres.
 *
 * The simulator answers the first submit_sm to a number with ESME_RSYSERR (transient), 1.5 s
 * late, so the error arrives after the pump went idle (it looks once more a second after
 * re-arming its wake-up, then sleeps). The back-off is the worker's own (2 s ±20% for a first
 * attempt); the test reads the due time it chose from next_attempt_at, which the later claim and
 * submit do not change, and checks the retry on the wire against it.
 *
 * Graphile Worker's sms_drain job, which the crontab queues at every minute boundary, would send
 * any waiting row: these workers run without their crontab (startWorker), so only the
 * retry timer can have sent the message on time, whenever in the minute the test runs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulator, type Simulator, type SubmitRecord } from '../../src/simulator/index.js';
import { STATUS } from '../../src/smpp/command-status.js';
import { DEFAULT_RETRY_BASE_MS } from '../../src/worker/retry-policy.js';
import { insertMessage } from '../support/rows.js';
import { waitFor } from '../support/wait.js';

/**
 * Each test's simulator numbers its SMSC message ids from its own start. The tests share one
 * database: with the same numbering, a receipt that reaches a worker before its own submit result
 * is written matches the earlier test's delivered message of that id instead, and its message
 * stays `sent` (docs/troubleshooting.md, "A message stays `sent` although its receipt came").
 */
const FIRST_IDS = { idle: 1_000_000_000, stop: 1_100_000_000, release: 1_200_000_000 };

/** How far a retry may go out from its due time. */
const TOLERANCE_MS = 1000;

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'RetryTime'`);
});

after(async () => {
  await tdb?.drop();
});

/** A worker process on the simulator, as `id`, without its crontab (see the top of this file). */
function startWorker(sim: Simulator, id: string, options: { events?: boolean; env?: Record<string, string> } = {}): WorkerProcess {
  const env = { DATABASE_URL: tdb.url, SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`, SMS_WORKER_ID: id, SMPP_RECONNECT_MAX_S: '1', ...options.env };
  return startWorkerProcess(env, ['worker'], { events: options.events, hooks: { crontab: false } });
}

const wallTime = (r: SubmitRecord) => performance.timeOrigin + r.at;

async function send(recipient: string, body: string): Promise<string> {
  const { rows } = await tdb.pool.query<{ id: string }>('select sms_send($1, $2) as id', [recipient, body]);
  return rows[0]!.id;
}

/**
 * The two submits of a message whose first attempt failed, and when its retry was due: checks
 * the first was refused, the retry went out within TOLERANCE_MS of its due time, and the due time
 * is the worker's back-off after the error (from the flush that queued it again, as the worker's
 * `flushed` event reports it: not from the simulator's nominal response time, which a loaded
 * machine delays).
 */
async function assertRetriedOnTime(sim: Simulator, id: string, body: string, workers: WorkerProcess[], timeoutMs: number) {
  const submits = await waitFor(`the retry of "${body}" on the wire`, () => {
    const s = sim.received.submits.filter((r) => r.text === body);
    return s.length >= 2 ? s : undefined;
  }, { timeoutMs: timeoutMs });
  assert.equal(submits.length, 2, 'one retry');
  assert.equal(submits[0]!.status, STATUS.ESME_RSYSERR);
  await waitForStatuses(tdb.pool, [id], ['delivered']);
  const { rows } = await tdb.pool.query<{ next_attempt_at: Date; attempts: number }>('select next_attempt_at, attempts from sms_outbox where id = $1', [id]);
  const due = rows[0]!.next_attempt_at.getTime();
  assert.equal(rows[0]!.attempts, 2);
  const flushed = workers
    .flatMap((w) => w.logs)
    .find((l) => l.msg === 'worker event' && l.event === 'flushed' && (l.summary as { retried?: number } | undefined)?.retried === 1);
  assert.ok(flushed, 'the flush that queued it again');
  const backoff = (flushed.summary as { nextRetryInMs: number }).nextRetryInMs;
  assert.ok(
    backoff >= DEFAULT_RETRY_BASE_MS * 0.8 - 100 && backoff <= DEFAULT_RETRY_BASE_MS * 1.2,
    `the retry was due ${backoff} ms after the flush that queued it; the back-off of a first attempt is ${DEFAULT_RETRY_BASE_MS} ms ±20%`,
  );
  const queuedAt = Number(flushed.time);
  assert.ok(Math.abs(queuedAt + backoff - due) <= 1000, `due at ${new Date(due).toISOString()}, ${backoff} ms after the flush at ${new Date(queuedAt).toISOString()}`);
  const late = wallTime(submits[1]!) - due;
  assert.ok(Math.abs(late) <= TOLERANCE_MS, `the retry went out ${late} ms after its due time`);
  return { late, submits };
}

test('a transient error that arrives after the pump went idle is retried at its back-off time', async (t) => {
  const responseDelayMs = 1500;
  const sim = await startSimulator({ firstId: FIRST_IDS.idle, receiptDelayMs: 20, responseDelayMs, failNextSubmitsTo: { '79990000301': { status: STATUS.ESME_RSYSERR, times: 1 } } });
  const worker = startWorker(sim, 'retry-idle', { events: true });
  try {
    await worker.waitForLog(/SMPP session bound/);
    const id = await send('+79990000301', 'retry while idle');
    const { late } = await assertRetriedOnTime(sim, id, 'retry while idle', [worker], 8000);
    t.diagnostic(`retry on the wire ${late} ms after its due time`);
  } finally {
    assert.equal(await worker.stop(), 0);
    await sim.stop();
  }
});

test('the worker that queued a retry stops before it falls due: another worker sends it on time', async (t) => {
  const responseDelayMs = 1500;
  const sim = await startSimulator({ firstId: FIRST_IDS.stop, receiptDelayMs: 20, responseDelayMs, failNextSubmitsTo: { '79990000302': { status: STATUS.ESME_RSYSERR, times: 1 } } });
  const workers: Record<string, WorkerProcess> = {
    'retry-a': startWorker(sim, 'retry-a', { events: true }),
    'retry-b': startWorker(sim, 'retry-b', { events: true }),
  };
  try {
    await Promise.all(Object.values(workers).map((w) => w.waitForLog(/SMPP session bound/)));
    const id = await send('+79990000302', 'retry after a stop');
    const holder = await waitFor('a worker to claim it', async () => {
      const { rows } = await tdb.pool.query<{ worker_id: string | null }>('select worker_id from sms_private.outbox_lease where outbox_id = $1', [id]);
      return rows[0]?.worker_id ?? undefined;
    }, { timeoutMs: 5000 });
    await waitFor('the transient error to queue it again', async () => {
      // Queued with its first attempt counted and no lease: the transient error's write.
      const { rows } = await tdb.pool.query<{ status: string }>('select status from sms_status($1)', [id]);
      return rows[0]?.status === 'queued' && (await tdb.pool.query('select attempts from sms_outbox where id = $1', [id])).rows[0]?.attempts === 1;
    }, { timeoutMs: 5000 });
    // The worker that queued it goes away (a deploy) before it falls due.
    assert.equal(await workers[holder]!.stop(), 0);
    const { late, submits } = await assertRetriedOnTime(sim, id, 'retry after a stop', Object.values(workers), 8000);
    const { rows } = await tdb.pool.query<{ worker_id: string }>('select worker_id from sms_outbox where id = $1', [id]);
    assert.notEqual(rows[0]!.worker_id, holder, 'the other worker sent the retry');
    assert.equal(submits.length, 2);
    t.diagnostic(`${holder} queued the retry and stopped; the other worker sent it ${late} ms after its due time`);
  } finally {
    for (const w of Object.values(workers)) await w.stop();
    await sim.stop();
  }
});

test('claimed messages a stopping worker returns to the queue go out at once on an idle worker', async (t) => {
  const window = 5;
  // Responses held until A is told to stop keep A's window full, so it holds a second window
  // claimed ahead for as long as the test needs (a response delay of a few seconds ran out
  // before a loaded machine had started A). The response time-out is a bound, not a pace.
  const sim = await startSimulator({ firstId: FIRST_IDS.release, receiptDelayMs: 20, holdResponses: true });
  let a: WorkerProcess | undefined;
  let b: WorkerProcess | undefined;
  try {
    // A first, B once A holds every message: a B already running could take them before A had
    // started, through its sms_drain cron job (every minute) or its first look at the queue.
    const ids: string[] = [];
    for (let i = 0; i < 2 * window; i++) ids.push(await insertMessage(tdb.pool, { label: `released ${i}`, status: 'queued', body: `released ${i}` }));
    a = startWorker(sim, 'release-a', { env: { SMPP_WINDOW: String(window), SMPP_RESPONSE_TIMEOUT_S: '300' } });
    await a.waitForLog(/SMPP session bound/);
    await waitFor(`worker A to hold all ${2 * window}`, async () => {
      const r = await tdb.pool.query<{ n: number }>(`select count(*)::int as n from sms_private.outbox_lease where worker_id = 'release-a'`);
      return r.rows[0]!.n === 2 * window && sim.counters.submits === window;
    }, {
      timeoutMs: 60_000,
      everyMs: 10,
      describe: async () => {
        const r = await tdb.pool.query(`select status, worker_id, count(*)::int as n from sms_outbox where id = any($1::uuid[]) group by 1, 2 order by 1, 2`, [ids]);
        return `${JSON.stringify(r.rows)}, ${sim.counters.submits} submits`;
      },
    });
    b = startWorker(sim, 'release-b', { events: true });
    await b.waitForLog(/SMPP session bound/);
    // B looks at the queue (every message held by A), arms its wake-up, looks again a second
    // later, and goes idle with nothing pending: its event says so. From here only a wake-up
    // (A's release NOTIFYs) makes it claim.
    await b.waitForEvent('idle', (e) => e.quiet === true, { from: 0 });
    assert.equal(sim.counters.submits, window, 'B took nothing while A held every message');
    a.child.kill('SIGTERM');
    const released = await a.waitForLog(/returned claimed, unsent messages to the queue/);
    assert.equal(released.released, window);
    // A now waits for the answers to its window (and B may have sent the released messages
    // already): from here on the SMSC answers, at once.
    sim.configure({ holdResponses: false });
    sim.faults.releaseHeld();
    const releasedAt = Number(released.time);
    const onB = await waitFor('B to submit the released messages', () => {
      const s = sim.received.submits.slice(window);
      return s.length >= window ? s : undefined;
    }, { timeoutMs: 8000, everyMs: 10 });
    const after = Math.max(...onB.map((s) => wallTime(s) - releasedAt));
    assert.ok(after <= TOLERANCE_MS, `the last released message went out ${after} ms after the release`);
    assert.equal(await a.exited, 0);
    await waitForStatuses(tdb.pool, ids, ['delivered'], 30_000);
    const owners = await tdb.pool.query<{ worker_id: string; n: number }>(
      'select worker_id, count(*)::int as n from sms_outbox where id = any($1::uuid[]) group by worker_id order by worker_id',
      [ids],
    );
    assert.deepEqual(owners.rows, [{ worker_id: 'release-a', n: window }, { worker_id: 'release-b', n: window }]);
    t.diagnostic(`released messages went out on B within ${after} ms`);
  } finally {
    await a?.stop();
    await b?.stop();
    await sim.stop();
  }
});
