/**
 * The four housekeeping tasks run as the worker runs them: a real worker process (logged in as a
 * role with nothing but sms_worker) whose Graphile Worker runner picks up the job queued with
 * graphile_worker.add_job, on a database holding rows in every status, old and new. Each test
 * compares every row before and after the job: what the task must change, changed as it must;
 * everything else is untouched; and graphile_worker.jobs holds no failed job.
 *
 * The SMSC refuses binds until the last test (the expire sweep exists for a worker without a
 * session; without one, the pump claims nothing and only the jobs change rows). Leases are an
 * hour long, so the lease keeper's sweep (once at start, then every half lease) stays out of it.
 * The worker runs without its crontab (the test queues each job itself), so no job queued at a
 * minute boundary meets a test's snapshots, and no test waits for a minute boundary to pass.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createLogin, type Login } from '../support/logins.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { failedJobs, runJob } from '../support/jobs.js';
import { diff, insertMessage, insertReceipt, seedEveryStatus, snapshot, truncateAll } from '../support/rows.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { STATUS } from '../../src/smpp/command-status.js';
import { MISSING_PART_MARKER } from '../../src/smpp/mo.js';
import { WAKEUP_CHANNEL } from '../../src/db/outbox.js';
import { waitFor } from '../support/wait.js';

let login: Login;
const WORKER_ID = 'housekeeping';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Housekeep'`);
  login = await createLogin(tdb.url, 'sms_worker');
  sim = await startSimulator({ refuseBinds: STATUS.ESME_RBINDFAIL, receiptDelayMs: 20 });
  // The lease keeper takes lapsed leases back once as the worker starts, on a connection of its
  // own that may still be opening when 'worker started' is logged: a probe it must take back shows
  // that first pass is over, so it cannot take a lapsed lease seeded by the first test between
  // that test's snapshots (it did, in CI on the embedded Postgres). The next pass is 30 min away.
  const probe = await insertMessage(tdb.pool, { label: 'start-up reclaim probe', status: 'sending', lease: '-1 minute', workerId: 'dead-worker' });
  worker = startWorkerProcess({
    DATABASE_URL: login.url,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_RECONNECT_MAX_S: '1',
    SMS_WORKER_ID: WORKER_ID,
    SMS_LEASE_S: '3600',
  }, ['worker'], { events: true, hooks: { crontab: false } });
  await worker.waitForLog(/worker started/);
  // A message being sent is queued in sms_outbox with a lease (migration 0034): taken back, its
  // lease is gone and the lapsed attempt counted.
  await waitFor('the start-up pass to take the probe\'s lapsed lease back', async () => {
    const { rows } = await tdb.pool.query(
      `select o.attempts from sms_outbox o where o.id = $1 and o.status = 'queued'
          and not exists (select from sms_private.outbox_lease l where l.outbox_id = o.id)`,
      [probe],
    );
    return rows[0]?.attempts === 1;
  });
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
});

after(async () => {
  await worker?.stop();
  await sim?.stop();
  await tdb?.drop();
  await login?.drop();
});

/** The columns a message row's update must change, and the values they get. */
async function row(label: string): Promise<Record<string, unknown>> {
  const { rows } = await tdb.pool.query(`select * from sms_outbox where metadata->>'label' = $1`, [label]);
  assert.equal(rows.length, 1, `one row labelled ${label}`);
  return rows[0];
}

/**
 * The workers' leases (sms_private.outbox_lease, migration 0034: a message being sent is queued in
 * sms_outbox, held by one), by the label of their message: snapshot() reads the public tables only.
 */
async function leases(): Promise<Record<string, unknown>> {
  const { rows } = await tdb.pool.query<{ label: string; lease: Record<string, unknown> }>(
    `select o.metadata->>'label' as label, to_jsonb(l) as lease
       from sms_private.outbox_lease l join sms_outbox o on o.id = l.outbox_id order by 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.label, r.lease]));
}

/** The two leases seedEveryStatus makes, as the tasks must leave them. */
async function assertSeededLeases(before: Record<string, unknown>): Promise<void> {
  assert.deepEqual(Object.keys(before), ['sending lapsed lease', 'sending live lease']);
  assert.deepEqual(await leases(), before, 'the workers\' leases untouched');
}

async function assertNoFailedJobs(): Promise<void> {
  assert.deepEqual(await failedJobs(tdb.pool), [], 'no job failed');
}

test('sms_expire expires queued messages past expires_at while the SMSC is unreachable, and nothing else', async () => {
  await seedEveryStatus(tdb.pool);
  const before = await snapshot(tdb.pool);
  const leasesBefore = await leases();
  await runJob(tdb.pool, 'sms_expire');
  const changes = diff(before, await snapshot(tdb.pool));
  assert.deepEqual(changes.added, []);
  assert.deepEqual(changes.removed, []);
  const expiredColumns = ['done_at', 'error_message', 'status', 'updated_at'];
  assert.deepEqual(Object.fromEntries(changes.changed), {
    'outbox queued overdue': expiredColumns,
    'outbox queued overdue scheduled': expiredColumns,
  });
  for (const label of ['queued overdue', 'queued overdue scheduled']) {
    const r = await row(label);
    assert.equal(r.status, 'expired');
    assert.equal(r.error_message, 'expired before it could be sent');
    assert.ok(r.done_at instanceof Date);
  }
  // A message still being sent (its lease lapsed, its expiry passed) is the lease keeper's, not
  // the sweep's: queued in the table, with its lease, and shown as sending.
  const held = await row('sending lapsed lease');
  assert.equal(held.status, 'queued');
  await assertSeededLeases(leasesBefore);
  const shown = await tdb.pool.query('select status from sms_status($1)', [held.id]);
  assert.deepEqual(shown.rows, [{ status: 'sending' }]);
  await assertNoFailedJobs();
});

test('sms_expire goes through a backlog larger than one batch (25,000 overdue rows)', async () => {
  await tdb.pool.query(`
    insert into sms_outbox (owner, recipient, sender, body, encoding, segments, send_at, expires_at, next_attempt_at, created_at, metadata)
    select quote_ident(current_user), '7999' || lpad(i::text, 7, '0'), 'Housekeep', 'overdue ' || i, 'gsm7', 1, now() - interval '2 days',
           now() - interval '1 hour', now() - interval '2 days', now() - interval '2 days', jsonb_build_object('bulk', true)
      from generate_series(1, 25000) i`);
  const logged = worker.logs.length;
  await runJob(tdb.pool, 'sms_expire', 60_000);
  const { rows } = await tdb.pool.query<{ status: string; n: number }>('select status, count(*)::int as n from sms_outbox group by status');
  assert.deepEqual(rows, [{ status: 'expired', n: 25000 }]);
  // The job's row is gone once it completed, which can be before its log line has come through
  // the worker's stdout: the line is waited for.
  const line = await waitFor('the sweep\'s log line', () => worker.logs.slice(logged).find((l) => l.msg === 'expired queued messages past their expires_at'));
  assert.equal(line.count, 25000, 'one run, three batches, one total');
  await assertNoFailedJobs();
});

test('sms_reconcile matches waiting receipts and assembles stale incoming sets, and nothing else', async () => {
  const { ids } = await seedEveryStatus(tdb.pool);
  const before = await snapshot(tdb.pool);
  const leasesBefore = await leases();
  await runJob(tdb.pool, 'sms_reconcile');
  const changes = diff(before, await snapshot(tdb.pool));
  await assertSeededLeases(leasesBefore);
  const partColumns = ['done_at', 'receipt_error', 'receipt_state'];
  const receiptColumns = ['matched_at', 'outbox_id'];
  assert.deepEqual(Object.fromEntries(changes.changed), {
    'outbox sent waiting (hex)': ['done_at', 'receipt_error', 'receipt_state', 'status', 'updated_at'],
    'outbox sent waiting (decimal receipt)': ['done_at', 'error_code', 'error_message', 'receipt_error', 'receipt_state', 'status', 'updated_at'],
    'part sent waiting (decimal receipt) #1': partColumns,
    'part sent two parts, one receipt waiting #1': partColumns,
    ...Object.fromEntries(
      [...before.entries()]
        .filter(([k, r]) => k.startsWith('receipt ') && ['5B00A1', String(0x5b00a2), '005B00A3'].includes(String(r.raw_message_id)))
        .map(([k]) => [k, receiptColumns]),
    ),
  });
  assert.equal((await row('sent waiting (hex)')).status, 'delivered');
  const undelivered = await row('sent waiting (decimal receipt)');
  assert.deepEqual([undelivered.status, undelivered.receipt_state, undelivered.error_code], ['undelivered', 'UNDELIV', '011']);
  assert.equal((await row('sent two parts, one receipt waiting')).status, 'sent', 'one part of two: still waiting for the other');
  assert.equal((await row('sent, receipt too old to match')).status, 'sent', 'receipts older than a day are left for inspection');
  const matched = await tdb.pool.query<{ raw_message_id: string; outbox_id: string }>('select raw_message_id, outbox_id from sms_receipt where outbox_id is not null and matched_at > now() - interval \'1 minute\' order by raw_message_id');
  assert.deepEqual(matched.rows, [
    { raw_message_id: '005B00A3', outbox_id: ids.get('sent two parts, one receipt waiting') },
    { raw_message_id: String(0x5b00a2), outbox_id: ids.get('sent waiting (decimal receipt)') },
    { raw_message_id: '5B00A1', outbox_id: ids.get('sent waiting (hex)') },
  ]);

  assert.deepEqual(changes.added, [`inbox 79995550201 stale first ${MISSING_PART_MARKER} stale third`, 'inbox 79995550202 complete but never assembled']);
  assert.deepEqual(changes.removed, ['inbox part 79995550201 7/3 #1', 'inbox part 79995550201 7/3 #3', 'inbox part 79995550202 8/2 #1', 'inbox part 79995550202 8/2 #2']);
  const inbox = await tdb.pool.query(`select sender, parts, missing_parts, encoding from sms_inbox where sender in ('79995550201', '79995550202') order by sender`);
  assert.deepEqual(inbox.rows, [
    { sender: '79995550201', parts: 3, missing_parts: 1, encoding: 'gsm7' },
    { sender: '79995550202', parts: 2, missing_parts: 0, encoding: 'gsm7' },
  ]);
  await assertNoFailedJobs();
});

test('sms_reconcile pages through more unmatched receipts than one batch holds', async () => {
  const { ids } = await seedEveryStatus(tdb.pool);
  // 1,500 receipts for ids nobody sent, older than the three that match: those are on page two.
  await tdb.pool.query(`
    insert into sms_receipt (received_at, message_id, raw_message_id, state, error, text)
    select now() - interval '2 hours', 'eeee' || i, 'EEEE' || i, 'DELIVRD', '000', 'unknown'
      from generate_series(1, 1500) i`);
  await runJob(tdb.pool, 'sms_reconcile');
  const matched = await tdb.pool.query<{ outbox_id: string }>(`select outbox_id from sms_receipt where matched_at > now() - interval '1 minute' order by raw_message_id`);
  assert.deepEqual(
    matched.rows.map((r) => r.outbox_id),
    ['sent two parts, one receipt waiting', 'sent waiting (decimal receipt)', 'sent waiting (hex)'].map((l) => ids.get(l)),
  );
  const { rows } = await tdb.pool.query<{ n: number }>(`select count(*)::int as n from sms_receipt where matched_at is null and raw_message_id like 'EEEE%'`);
  assert.equal(rows[0]!.n, 1500, 'the unknown ones stay unmatched');
  await assertNoFailedJobs();
});

test('sms_purge deletes what is past its retention, at the boundaries, and nothing else', async () => {
  await seedEveryStatus(tdb.pool);
  const before = await snapshot(tdb.pool);
  const leasesBefore = await leases();
  await runJob(tdb.pool, 'sms_purge');
  const changes = diff(before, await snapshot(tdb.pool));
  await assertSeededLeases(leasesBefore);
  assert.deepEqual(changes.added, []);
  assert.deepEqual([...changes.changed.keys()], []);
  const purgedMessages = ['sent old', 'delivered old', 'delivered just past retention', 'undelivered old', 'expired by receipt old', 'rejected old', 'failed old', 'cancelled old'];
  // Single-part messages have a part row only when written before migration 0017.
  const withParts = ['delivered old'];
  const receiptKey = (raw: string) => [...before.entries()].find(([k, r]) => k.startsWith('receipt ') && r.raw_message_id === raw)![0];
  assert.deepEqual(
    changes.removed,
    [
      ...purgedMessages.map((l) => `outbox ${l}`),
      ...withParts.map((l) => `part ${l} #1`),
      receiptKey('5B00B2'), // matched to a purged message, and old
      receiptKey('FFFF0003'), // unmatched past its retention
      'inbox 79995550103 inbox past retention',
    ].sort(),
  );
  await assertNoFailedJobs();
});

test('sms_purge deletes a backlog larger than one batch (12,000 old messages)', async () => {
  await tdb.pool.query(`
    with m as (
      insert into sms_outbox (owner, recipient, sender, body, encoding, segments, send_at, expires_at, next_attempt_at, created_at,
                              status, attempts, submitted_at, done_at, message_ids, receipt_state)
      select quote_ident(current_user), '7999' || lpad(i::text, 7, '0'), 'Housekeep', 'old ' || i, 'gsm7', 1, now() - interval '40 days', now() - interval '39 days',
             now() - interval '40 days', now() - interval '40 days', 'delivered', 1, now() - interval '40 days', now() - interval '40 days',
             array[to_hex(i)], 'DELIVRD'
        from generate_series(1, 12000) i
      returning id, message_ids[1] as message_id
    )
    insert into sms_outbox_part (outbox_id, part_no, message_id, submitted_at, receipt_state, done_at)
    select id, 1, message_id, now() - interval '40 days', 'DELIVRD', now() - interval '40 days' from m`);
  await insertReceipt(tdb.pool, { rawId: 'ABCDEF', received: '-1 minute' });
  await runJob(tdb.pool, 'sms_purge', 60_000);
  const counts = await tdb.pool.query<{ outbox: number; parts: number; receipts: number }>(
    `select (select count(*)::int from sms_outbox) as outbox, (select count(*)::int from sms_outbox_part) as parts, (select count(*)::int from sms_receipt) as receipts`,
  );
  assert.deepEqual(counts.rows[0], { outbox: 0, parts: 0, receipts: 1 });
  await assertNoFailedJobs();
});

test('sms_drain kicks the pump: due rows written without sms_send (no NOTIFY) go out, nothing else moves', async () => {
  sim.configure({ refuseBinds: null });
  await worker.waitForLog(/SMPP session bound/, 10_000);
  // The pump looks at the (empty) queue, arms its wake-up, looks again a second later and goes
  // idle with nothing pending: its event says so.
  const quietFrom = worker.logs.indexOf(await worker.waitForEvent('idle', (e) => e.quiet === true, { from: 0 }));
  // Only a NOTIFY on the wake-up channel (or an sms_drain job) could make the quiet pump claim.
  // Notifications reach a listener in commit order: once a marker sent after the seeding has
  // arrived, any wake-up the seeding sent would have arrived before it.
  const heard: string[] = [];
  let before: Awaited<ReturnType<typeof snapshot>>;
  let leasesBefore: Record<string, unknown>;
  const listener = await tdb.connect();
  try {
    listener.on('notification', (n) => heard.push(n.channel));
    await listener.query(`listen ${WAKEUP_CHANNEL}`);
    await listener.query('listen housekeeping_marker');
    await seedEveryStatus(tdb.pool);
    before = await snapshot(tdb.pool);
    leasesBefore = await leases();
    await tdb.pool.query(`select pg_notify('housekeeping_marker', '')`);
    await waitFor('the marker notification', () => heard.includes('housekeeping_marker'));
  } finally {
    await listener.end();
  }
  assert.deepEqual(heard, ['housekeeping_marker'], 'no wake-up NOTIFY for rows written without sms_send');
  assert.equal((await row('queued due')).status, 'queued', 'nothing wakes the pump for rows written without sms_send');
  assert.equal(sim.counters.submits, 0);
  assert.deepEqual(worker.logs.slice(quietFrom).filter((l) => l.msg === 'worker event' && l.event === 'claimed' && Number(l.count) + Number(l.expired) > 0), [], 'the quiet pump claimed nothing');

  await runJob(tdb.pool, 'sms_drain');
  const id = (await row('queued due')).id as string;
  await waitForStatuses(tdb.pool, [id], ['delivered'], 10_000);
  const changes = diff(before, await snapshot(tdb.pool));
  // Its receipt is applied to the message (a single part: no part row since migration 0017); it
  // is kept in sms_receipt only when it overtook the submit result (then matched a moment
  // later), which depends on timing.
  const kept = await tdb.pool.query<{ id: string; raw_message_id: string }>('select id::text, raw_message_id from sms_receipt where outbox_id = $1', [id]);
  assert.deepEqual(changes.added, kept.rows.map((r) => `receipt ${r.raw_message_id} ${r.id}`).sort());
  const smscId = sim.received.submits[0]!.messageId;
  const unmatched = await tdb.pool.query<{ n: number }>('select count(*)::int as n from sms_receipt where raw_message_id = $1 and outbox_id is null', [smscId]);
  assert.equal(unmatched.rows[0]!.n, 0, 'its receipt did not stay unmatched');
  assert.deepEqual(changes.removed, []);
  assert.deepEqual([...changes.changed.keys()].sort(), ['outbox queued due', 'outbox queued overdue']);
  // The claim skipped the messages other workers hold (their rows are queued and due, with a
  // lease), and the lease of the one it sent went with its outcome.
  await assertSeededLeases(leasesBefore!);
  const sent = await row('queued due');
  assert.deepEqual([sent.status, sent.attempts, sent.worker_id, sent.receipt_state], ['delivered', 1, WORKER_ID, 'DELIVRD']);
  // A due row past its expiry met by the claim is expired there, never sent.
  assert.equal((await row('queued overdue')).status, 'expired');
  assert.deepEqual(sim.received.submits.map((s) => s.text), ['fixture queued due']);
  await assertNoFailedJobs();
});
