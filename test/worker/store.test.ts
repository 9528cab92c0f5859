/**
 * OutboxStore (src/worker/store.ts) fed the way the worker feeds it: rows claimed from a real
 * Postgres, submitted through a real SmppSession to the simulator over TCP, each outcome and
 * each receipt handed to the store. Checks what it writes for every kind of outcome, the retry
 * due time it reports, a receipt that overtakes its own submit result, a flush retried after
 * Postgres dropped its connection, and close() with Postgres stuck.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { claimDue, markSent, type ClaimedMessage } from '../../src/db/outbox.js';
import { normalizeMessageId, receiptIdCandidates } from '../../src/smpp/message-id.js';
import { createDb, createPool } from '../../src/db/pool.js';
import { STATUS } from '../../src/smpp/command-status.js';
import { OutboxStore, type FlushSummary } from '../../src/worker/store.js';
import type { WorkerTiming } from '../../src/worker/timing.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { truncateAll } from '../support/rows.js';
import { captureLogs } from '../support/log-capture.js';
import { bound, type Harness } from '../smpp/helpers.js';
import { waitFor } from '../support/wait.js';

let tdb: TestDatabase;
let h: Harness;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'StoreTest', max_attempts = 3`);
  h = await bound({ receiptDelayMs: 0 });
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
  h.sim.configure({ rejectDestinations: {}, failNextSubmitsTo: {}, receiptBeforeResponse: false, receipts: true, receiptDelayMs: 0 });
  h.session.setInboundHandler(async () => {});
});

after(async () => {
  await h?.close();
  await tdb?.drop();
});

/** Re-matches after 100 and 300 ms here (1 and 5 s in production): the same rounds, sooner. */
const REMATCH_DELAYS_MS = [100, 300];

/** A store on the test database, its flush summaries, its re-matches, and the retry due times it reported. */
function makeStore(db = tdb.db, logger = captureLogs().logger, timing: Partial<WorkerTiming> = { rematchDelaysMs: REMATCH_DELAYS_MS }) {
  const summaries: FlushSummary[] = [];
  const rematches: { round: number; receipts: number; matched: number }[] = [];
  const store = new OutboxStore(db, logger, { workerId: 'w1', retryBaseMs: 1000, retryMaxMs: 60_000, timing }, { onCommitted: (s) => summaries.push(s), onRematched: (r) => rematches.push(r) });
  const retries: number[] = [];
  store.onRetriesQueued((ms) => retries.push(ms));
  h.session.setInboundHandler((event) => store.recordInbound(event));
  return { store, summaries, retries, rematches };
}

async function enqueue(recipients: string[]): Promise<ClaimedMessage[]> {
  for (const r of recipients) await tdb.pool.query('select sms_send($1, $2)', [`+${r}`, `to ${r}`]);
  const { messages } = await claimDue(tdb.db, 'w1', recipients.length, 30);
  assert.equal(messages.length, recipients.length);
  return messages;
}

/** What the pump does with one claimed message: submit it, hand the outcome to the store. */
async function submitAndRecord(store: OutboxStore, m: ClaimedMessage): Promise<void> {
  const result = await h.session.submit({ id: m.id, source: m.sender, destination: m.recipient, body: m.body });
  await store.recordResult(m, result);
}

/**
 * A message as sms_status shows it: one a worker holds (a lease, migration 0034) is `sending`,
 * with the lease's worker and attempt.
 */
async function row(id: string) {
  const { rows } = await tdb.pool.query(
    `select o.*, l.worker_id as lease_worker, l.attempt as lease_attempt
       from sms_outbox o left join sms_private.outbox_lease l on l.outbox_id = o.id
      where o.id = $1`,
    [id],
  );
  const r = rows[0] as Record<string, unknown>;
  return r.lease_worker == null ? r : { ...r, status: 'sending', worker_id: r.lease_worker, attempts: r.lease_attempt };
}

async function waitForStatus(id: string, status: string, timeoutMs = 5000) {
  let seen: unknown;
  await waitFor(`${id} ${status}`, async () => (seen = (await row(id)).status) === status, { timeoutMs, describe: () => String(seen) });
}

test('each kind of submit outcome is written: sent with its ids, failed with the SMPP status, queued after a back-off it reports', async () => {
  const { store, summaries, retries } = makeStore();
  h.sim.configure({
    rejectDestinations: { '79990000402': STATUS.ESME_RINVDSTADR },
    failNextSubmitsTo: { '79990000403': { status: STATUS.ESME_RSYSERR, times: 1 } },
  });
  const [ok, bad, transient] = await enqueue(['79990000401', '79990000402', '79990000403']);
  await Promise.all([ok!, bad!, transient!].map((m) => submitAndRecord(store, m)));
  await waitForStatus(ok!.id, 'delivered');

  const sent = await row(ok!.id);
  const wire = h.sim.received.submits.find((s) => s.destination === '79990000401')!;
  assert.deepEqual(sent.message_ids, [wire.messageId]);
  const failed = await row(bad!.id);
  assert.deepEqual([failed.status, failed.error_code], ['failed', 'ESME_RINVDSTADR']);
  assert.match(String(failed.error_message), /\(command_status 0x0000000b\)$/);
  const queued = await row(transient!.id);
  // Queued again, no lease left, the attempt counted and its worker named.
  assert.deepEqual([queued.status, queued.error_code, queued.worker_id, queued.attempts, queued.lease_worker], ['queued', 'ESME_RSYSERR', 'w1', 1, null]);
  const { rows } = await tdb.pool.query<{ ms: number }>('select extract(epoch from next_attempt_at - now()) * 1000 as ms from sms_outbox where id = $1', [transient!.id]);
  assert.ok(rows[0]!.ms > 0 && rows[0]!.ms <= 1200, `retry due in ${rows[0]!.ms} ms (1 s +-20%)`);
  assert.equal(retries.length, 1, 'the pump is told when the retry falls due');
  assert.ok(retries[0]! >= 700 && retries[0]! <= 1200, `reported ${retries[0]} ms`);

  const total = (k: 'sent' | 'failed' | 'retried') => summaries.reduce((n, s) => n + s[k], 0);
  assert.deepEqual([total('sent'), total('failed'), total('retried')], [1, 1, 1]);
  await store.close(1000);
});

test('the last allowed attempt of a transient error fails the message; a result for a row taken over is not applied', async () => {
  const { store, summaries, retries } = makeStore();
  h.sim.configure({ failNextSubmitsTo: { '79990000404': { status: STATUS.ESME_RSYSERR, times: 1 } } });
  const [last, taken] = await enqueue(['79990000404', '79990000405']);
  await tdb.pool.query('update sms_private.outbox_lease set attempt = 3 where outbox_id = $1', [last!.id]);
  const lastAttempt = { ...last!, attempts: 3 };
  // Another worker took this one over after our lease ran out.
  await tdb.pool.query(`update sms_private.outbox_lease set worker_id = 'w2', attempt = attempt + 1 where outbox_id = $1`, [taken!.id]);
  await submitAndRecord(store, lastAttempt);
  await submitAndRecord(store, taken!);
  const failed = await row(last!.id);
  assert.deepEqual([failed.status, failed.error_code], ['failed', 'ESME_RSYSERR']);
  assert.match(String(failed.error_message), /^gave up after 3 attempts: /);
  assert.equal((await row(taken!.id)).status, 'sending', 'still the other worker\'s');
  assert.deepEqual(retries, []);
  assert.equal(summaries.reduce((n, s) => n + s.exhausted, 0), 1);
  assert.equal(summaries.reduce((n, s) => n + s.fenced, 0), 1);
  await store.close(1000);
});

test('a receipt that arrives before its own submit result is stored, then matched when the result is written', async () => {
  const { store, summaries } = makeStore();
  h.sim.configure({ receiptBeforeResponse: true });
  const [m] = await enqueue(['79990000406']);
  const result = await h.session.submit({ id: m!.id, source: m!.sender, destination: m!.recipient, body: m!.body });
  // The receipt came first on the wire; let its write commit before the result's (the two run on
  // their own connections, so otherwise either may commit first: the other orders are the rows
  // matched at once, or re-matched behind the outcome flush).
  await store.idle();
  await store.recordResult(m!, result);
  await waitForStatus(m!.id, 'delivered');
  const { rows } = await tdb.pool.query('select outbox_id, matched_at from sms_receipt');
  assert.equal(rows.length, 1);
  assert.equal(rows[0].outbox_id, m!.id);
  assert.ok(rows[0].matched_at instanceof Date);
  assert.equal(summaries.reduce((n, s) => n + s.receiptsUnmatched, 0), 1, 'stored unmatched first');
  assert.equal(summaries.reduce((n, s) => n + s.lateMatches, 0), 1, 'matched once its result was written');
  await store.close(1000);
});

test('a receipt for a result still being written waits for it: with an SMSC id reused, it goes to the newer message', async () => {
  const held: string[] = [];
  const summaries: FlushSummary[] = [];
  const store = new OutboxStore(tdb.db, captureLogs().logger, { workerId: 'w1', retryBaseMs: 1000, retryMaxMs: 60_000, timing: { rematchDelaysMs: REMATCH_DELAYS_MS } }, {
    onCommitted: (s) => summaries.push(s),
    onReceiptHeld: (id) => held.push(id),
  });
  h.session.setInboundHandler((event) => store.recordInbound(event));
  h.sim.configure({ receipts: false });
  const [older, newer] = await enqueue(['79990000410', '79990000411']);
  const first = await h.session.submit({ id: older!.id, source: older!.sender, destination: older!.recipient, body: older!.body });
  assert.equal(first.outcome, 'accepted');
  const reused = first.outcome === 'accepted' ? first.messageIds : [];
  await store.recordResult(older!, first);
  await new Promise<void>((resolve) => h.sim.sendReceipt({ messageId: reused[0]!, state: 'DELIVRD', onResponse: () => resolve() }));
  await waitForStatus(older!.id, 'delivered');
  // The SMSC gives the newer message the same id (a counter that wrapped or restarted).
  const second = await h.session.submit({ id: newer!.id, source: newer!.sender, destination: newer!.recipient, body: newer!.body });
  assert.equal(second.outcome, 'accepted');
  const blocker = await tdb.pool.connect();
  try {
    // The newer message's submit result is being written: its row is held, so the write waits.
    await blocker.query('begin');
    await blocker.query('select 1 from sms_outbox where id = $1 for update', [newer!.id]);
    const written = store.recordResult(newer!, { ...second, messageIds: reused });
    await waitFor('the result write to wait on the row', async () => {
      const { rows } = await tdb.pool.query(`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
      return rows.length > 0;
    });
    // Its receipt arrives meanwhile. Applied now, it would match the older message (final, so
    // nothing changes) and the newer one would stay sent.
    const answered = new Promise<string>((resolve) => h.sim.sendReceipt({ messageId: reused[0]!, state: 'DELIVRD', onResponse: () => resolve('answered') }));
    const firstToHappen = await Promise.race([answered, waitFor('the receipt to be held', () => (held.length ? 'held' : undefined))]);
    assert.equal(firstToHappen, 'held', 'the receipt waits for the result being written, unanswered');
    await blocker.query('commit');
    await written;
    assert.equal(await answered, 'answered', 'answered once applied');
  } finally {
    blocker.release();
  }
  await waitForStatus(newer!.id, 'delivered');
  assert.equal((await row(older!.id)).status, 'delivered');
  assert.deepEqual(held, reused);
  assert.equal(summaries.reduce((n, s) => n + s.receiptsUnmatched, 0), 0, 'never stored unmatched');
  await store.close(1000);
});

test('a receipt stored while another worker still writes its submit result is matched once that commits', async () => {
  const { store, summaries, rematches } = makeStore();
  h.sim.configure({ receipts: false });
  await tdb.pool.query('select sms_send($1, $2)', ['+79990000407', 'sent by w2']);
  // Worker w2 claimed and submitted it; its receipt comes to this worker (w1), as an SMSC sends
  // receipts to any bound session of the account.
  const { messages } = await claimDue(tdb.db, 'w2', 1, 30);
  const m = messages[0]!;
  const result = await h.session.submit({ id: m.id, source: m.sender, destination: m.recipient, body: m.body });
  assert.equal(result.outcome, 'accepted');
  const messageIds = result.outcome === 'accepted' ? result.messageIds : [];
  const normalizedIds = messageIds.map(normalizeMessageId);
  await tdb.db.connection().execute(async (w2) => {
    // w2's outcome flush, open: the row is sent with its SMSC id only once this commits.
    await sql`begin`.execute(w2);
    const { sent } = await markSent(w2, 'w2', [{ id: m.id, attempts: m.attempts, messageIds, normalizedIds }], normalizedIds.flatMap((id) => receiptIdCandidates(id)));
    assert.ok(sent.has(m.id));
    // The receipt arrives meanwhile: stored unmatched and acknowledged; the re-match behind this
    // worker's outcome queue runs at once and cannot see w2's row either.
    await new Promise<void>((resolve) => h.sim.sendReceipt({ messageId: messageIds[0]!, state: 'DELIVRD', onResponse: () => resolve() }));
    await store.idle();
    assert.equal(summaries.reduce((n, s) => n + s.receiptsUnmatched, 0), 1);
    assert.equal(summaries.reduce((n, s) => n + s.lateMatches, 0), 0);
    await sql`commit`.execute(w2);
  });
  // Looked at again after a delay (the first, unless w2's commit took longer), it finds the part:
  // no wait for the reconcile task.
  const matched = await waitFor('a delayed re-match that matched it', () => rematches.find((r) => r.round >= 1 && r.matched === 1), {
    describe: () => JSON.stringify(rematches),
  });
  assert.equal(matched.receipts, 1);
  assert.equal((await row(m.id)).status, 'delivered');
  assert.equal(summaries.reduce((n, s) => n + s.lateMatches, 0), 1);
  const { rows } = await tdb.pool.query('select outbox_id, matched_at from sms_receipt');
  assert.deepEqual(rows.map((r) => r.outbox_id), [m.id]);
  assert.ok(rows[0].matched_at instanceof Date);
  await store.close(1000);
});

test('a receipt that matches nothing is looked at again after each delay, then left to the reconcile task', async () => {
  const { store, summaries, rematches } = makeStore();
  await new Promise<void>((resolve) => h.sim.sendReceipt({ messageId: 'ffff0001', state: 'DELIVRD', onResponse: () => resolve() }));
  await store.idle(); // the inbound flush and the re-match behind it
  store.takeStats(); // counts from here
  // The last round's flush, and after it no re-match is waiting: nothing more will look.
  await waitFor('the last re-match round', () => rematches.some((r) => r.round === REMATCH_DELAYS_MS.length), { describe: () => JSON.stringify(rematches) });
  await store.idle();
  assert.equal(store.rematchesPending, 0, 'no further re-match after the last delay');
  assert.deepEqual(rematches.map((r) => [r.round, r.receipts, r.matched]), [[0, 1, 0], [1, 1, 0], [2, 1, 0]]);
  assert.equal(store.takeStats().flushes, REMATCH_DELAYS_MS.length, 'one re-match flush per delay');
  assert.equal(summaries.reduce((n, s) => n + s.lateMatches, 0), 0);
  const { rows } = await tdb.pool.query('select matched_at from sms_receipt');
  assert.deepEqual(rows, [{ matched_at: null }], 'kept unmatched for the reconcile task');
  await store.close(1000);
});

test('a flush that fails because Postgres dropped the connection is retried on a new one and written once', async () => {
  const pool = createPool(tdb.url, { max: 2, applicationName: 'store under test' });
  const { lines, logger } = captureLogs();
  const { store } = makeStore(createDb(pool), logger);
  const [m] = await enqueue(['79990000407']);
  h.sim.configure({ receipts: false });
  const blocker = await tdb.connect();
  try {
    await blocker.query('begin');
    await blocker.query('lock table sms_outbox in exclusive mode'); // the outcome's UPDATE waits
    let written = 0;
    const recorded = submitAndRecord(store, m!).then(() => written++);
    await waitFor('the flush waiting for the lock', async () => {
      const { rows } = await tdb.pool.query(`select count(*)::int as n from pg_stat_activity where application_name = 'store under test' and wait_event_type = 'Lock'`);
      return rows[0].n > 0;
    });
    const { rows: ended } = await tdb.pool.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = 'store under test'`);
    await tdb.pool.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'store under test'`);
    // Retried on a new connection, which waits for the lock again.
    await waitFor('the flush retried on a new connection, waiting for the lock', async () => {
      const { rows } = await tdb.pool.query(
        `select count(*)::int as n from pg_stat_activity where application_name = 'store under test' and wait_event_type = 'Lock' and pid <> all($1::int[])`,
        [ended.map((r) => r.pid)],
      );
      return rows[0].n > 0;
    });
    assert.equal(written, 0);
    await blocker.query('commit');
    await recorded;
    assert.equal(written, 1);
  } finally {
    await blocker.end();
  }
  assert.equal((await row(m!.id)).status, 'sent');
  const failure = lines.find((l) => /writing submit results to Postgres failed; retrying/.test(String(l.msg)));
  assert.ok(failure, 'the failed flush is logged');
  assert.equal(failure.attempt, 1);
  await store.close(1000);
  await pool.end();
});

test('close() with Postgres stuck gives up after its timeout: what was queued is refused and stays held (its lease returns it); the batch being written completes', async () => {
  const { store } = makeStore();
  const [first, second] = await enqueue(['79990000408', '79990000409']);
  h.sim.configure({ receipts: false });
  const blocker = await tdb.connect();
  try {
    await blocker.query('begin');
    await blocker.query('lock table sms_outbox in exclusive mode');
    const outcome = (m: ClaimedMessage) =>
      submitAndRecord(store, m).then(
        () => 'written',
        (err: Error) => err.name,
      );
    const firstOutcome = outcome(first!); // its batch starts at once and waits for the lock
    await waitFor('the first batch waiting for the lock', async () => {
      const { rows } = await tdb.pool.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
      return rows[0].n > 0;
    });
    const secondOutcome = outcome(second!); // queued behind it
    await waitFor('the second queued behind it', () => store.pending >= 2);
    await store.close(300);
    // close() ended by its 300 ms timeout: the first batch still waits for the lock.
    assert.equal(store.pending, 1, 'the batch being written is still pending');
    assert.equal(await secondOutcome, 'ClosedError');
    await blocker.query('rollback');
    assert.equal(await firstOutcome, 'written');
  } finally {
    await blocker.end();
  }
  assert.equal((await row(first!.id)).status, 'sent');
  const held = await row(second!.id);
  assert.deepEqual([held.status, held.worker_id], ['sending', 'w1']);
  await assert.rejects(store.recordResult(second!, { outcome: 'accepted', messageIds: ['X'] }), /group commit closed/);
});
