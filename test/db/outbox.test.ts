/**
 * Every query of src/db/outbox.ts executed against a real, migrated Postgres with realistic rows:
 * what it changes, what it must leave alone (other statuses, other workers' rows, rows past or
 * before their time), what it returns, and what it NOTIFYs.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  armWakeup,
  claimDue,
  disarmWakeup,
  expireOverdue,
  markSent,
  markUnsent,
  nextDueInMs,
  parseWakeupPayload,
  purgeFinished,
  reclaimExpiredLeases,
  releaseUnsent,
  renewLeases,
  WAKEUP_CHANNEL,
} from '../../src/db/outbox.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Listener } from '../support/notifications.js';
import { insertMessage, insertMessages, insertReceipt, truncateAll } from '../support/rows.js';

let tdb: TestDatabase;
let notes: Listener;

before(async () => {
  tdb = await createTestDatabase();
  notes = await listen(tdb.url, ['sms_status', WAKEUP_CHANNEL]);
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
  await tdb.pool.query(`update sms_settings set max_attempts = 5`);
  await tdb.pool.query(`update sms_wakeup set armed_until = null`);
  notes.clear();
});

after(async () => {
  await notes?.close();
  await tdb?.drop();
});

async function byLabel(label: string): Promise<Record<string, unknown>> {
  const { rows } = await tdb.pool.query(`select * from sms_outbox where metadata->>'label' = $1`, [label]);
  return rows[0];
}

interface Lease {
  worker_id: string;
  attempt: number;
  lease_until: Date;
}

/** The lease (sms_private.outbox_lease, migration 0034) on the message labelled `label`; undefined when it has none. */
async function leaseOf(label: string): Promise<Lease | undefined> {
  const { rows } = await tdb.pool.query<Lease>(
    `select l.worker_id, l.attempt, l.lease_until
       from sms_private.outbox_lease l join sms_outbox o on o.id = l.outbox_id
      where o.metadata->>'label' = $1`,
    [label],
  );
  return rows[0];
}

/** Every lease, as label → [worker, attempt], sorted by label. */
async function leases(): Promise<[string, string, number][]> {
  const { rows } = await tdb.pool.query<{ label: string; worker_id: string; attempt: number }>(
    `select coalesce(o.metadata->>'label', l.outbox_id::text) as label, l.worker_id, l.attempt
       from sms_private.outbox_lease l left join sms_outbox o on o.id = l.outbox_id
      order by 1`,
  );
  return rows.map((r) => [r.label, r.worker_id, r.attempt]);
}

/** The attempt log (sms_outbox_attempt), as [label, attempt, status, error_code], in the order written. */
async function attemptLog(): Promise<[string, number, string, string | null][]> {
  const { rows } = await tdb.pool.query<{ label: string; attempt: number; status: string; error_code: string | null }>(
    `select o.metadata->>'label' as label, a.attempt, a.status, a.error_code
       from sms_outbox_attempt a join sms_outbox o on o.id = a.outbox_id
      order by a.id`,
  );
  return rows.map((r) => [r.label, r.attempt, r.status, r.error_code]);
}

/** The row version of a message: unchanged when nothing wrote the row. */
async function rowVersion(label: string): Promise<string> {
  const { rows } = await tdb.pool.query<{ v: string }>(`select ctid::text || '/' || xmin::text as v from sms_outbox where metadata->>'label' = $1`, [label]);
  return rows[0]!.v;
}

/** Seconds from Postgres's now to `t` (negative: in the past). */
async function secondsFromNow(t: unknown): Promise<number> {
  const { rows } = await tdb.pool.query<{ s: number }>('select extract(epoch from $1::timestamptz - now())::float8 as s', [t]);
  return rows[0]!.s;
}

test('claimDue takes due queued rows, highest priority first then oldest, and holds them for the worker', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'low old', status: 'queued', priority: -5, created: '-10 minutes' },
    { label: 'high new', status: 'queued', priority: 9, created: '-1 minute' },
    { label: 'normal old', status: 'queued', created: '-9 minutes' },
    { label: 'normal new', status: 'queued', created: '-2 minutes' },
    { label: 'scheduled', status: 'queued', priority: 10, nextAttempt: '1 hour' },
    { label: 'sending', status: 'sending', workerId: 'w2' },
    { label: 'sent', status: 'sent' },
    { label: 'cancelled', status: 'cancelled' },
  ]);
  const versions = new Map<string, string>();
  for (const label of ids.keys()) versions.set(label, await rowVersion(label));
  const r = await claimDue(tdb.db, 'w1', 3, 30);
  assert.deepEqual(
    r.messages.map((m) => m.id),
    ['high new', 'normal old', 'normal new'].map((l) => ids.get(l)),
  );
  assert.equal(r.expired, 0);
  const m = r.messages[0]!;
  assert.deepEqual(
    { sender: m.sender, body: m.body, encoding: m.encoding, segments: m.segments, priority: m.priority, attempts: m.attempts },
    { sender: 'Fixture', body: 'fixture high new', encoding: 'gsm7', segments: 1, priority: 9, attempts: 1 },
  );
  assert.equal(m.recipient, (await byLabel('high new')).recipient);
  // The claim is a lease (0034): the message row stays queued, its attempt not yet counted, and is
  // not written at all (no new row version).
  for (const label of ['high new', 'normal old', 'normal new']) {
    const row = await byLabel(label);
    assert.deepEqual([row.status, row.attempts, row.worker_id], ['queued', 0, null], label);
    const lease = (await leaseOf(label))!;
    assert.deepEqual([lease.worker_id, lease.attempt], ['w1', 1], label);
    const s = await secondsFromNow(lease.lease_until);
    assert.ok(s > 29 && s <= 30.5, `${label}: lease of ${s} s`);
  }
  for (const [label, v] of versions) assert.equal(await rowVersion(label), v, `${label}: the claim wrote no row version`);
  assert.deepEqual(
    await leases(),
    [['high new', 'w1', 1], ['normal new', 'w1', 1], ['normal old', 'w1', 1], ['sending', 'w2', 1]],
    'no lease on the rows not taken; the other worker\'s lease untouched',
  );
  for (const label of ['low old', 'scheduled']) assert.equal((await byLabel(label)).status, 'queued', label);
  // Readers of the status see the claimed row as sending, at the attempt in flight.
  const { rows: shown } = await tdb.pool.query('select status, attempts from sms_status($1)', [ids.get('high new')]);
  assert.deepEqual(shown.map((x) => [x.status, x.attempts]), [['sending', 1]]);
  // The rest of the queue on the next claim.
  assert.deepEqual((await claimDue(tdb.db, 'w1', 10, 30)).messages.map((x) => x.id), [ids.get('low old')]);
  assert.deepEqual((await claimDue(tdb.db, 'w1', 10, 30)).messages, [], 'rows held by a lease are not claimed again, though queued');
  assert.equal((await leaseOf('sending'))!.worker_id, 'w2');
  assert.deepEqual(await attemptLog(), [], 'a claim ends no attempt');
  assert.deepEqual(await notes.on('sms_status'), [], 'claiming is internal churn, not announced');
});

test('claimDue expires due rows past expires_at instead of sending them, and announces it', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'overdue', status: 'queued', created: '-2 days', expires: '-1 minute' },
    { label: 'fine', status: 'queued' },
  ]);
  const r = await claimDue(tdb.db, 'w1', 10, 30);
  assert.deepEqual(r.messages.map((m) => m.id), [ids.get('fine')]);
  assert.equal(r.expired, 1);
  const row = await byLabel('overdue');
  assert.deepEqual([row.status, row.attempts, row.worker_id, row.error_message], ['expired', 0, null, 'expired before it could be sent']);
  assert.ok(row.done_at instanceof Date);
  assert.deepEqual(await leases(), [['fine', 'w1', 1]], 'the expired row is not leased');
  assert.deepEqual(await notes.json('sms_status'), [{ id: ids.get('overdue'), status: 'expired' }]);
});

test('claimDue skips rows another transaction holds locked', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'locked', status: 'queued', created: '-5 minutes' },
    { label: 'free', status: 'queued', created: '-1 minute' },
  ]);
  const other = await tdb.connect();
  try {
    await other.query('begin');
    await other.query('select 1 from sms_outbox where id = $1 for update', [ids.get('locked')]);
    const r = await claimDue(tdb.db, 'w1', 10, 30);
    assert.deepEqual(r.messages.map((m) => m.id), [ids.get('free')]);
    assert.deepEqual(await leases(), [['free', 'w1', 1]]);
    await other.query('rollback');
  } finally {
    await other.end();
  }
});

test('concurrent claims take every due row exactly once, and none of them fails', async () => {
  // A claim writes no row version (0034): a claim whose snapshot predates another's committed
  // lease still gets the row lock, and must then leave the row alone rather than fail on the
  // lease's unique index (which made about one claim in ten fail under this load).
  const ids = await insertMessages(
    tdb.pool,
    Array.from({ length: 200 }, (_, i) => ({ label: `m${String(i).padStart(3, '0')}`, status: 'queued' as const, priority: (i % 5) - 2 })),
  );
  const taken = new Map<string, string[]>();
  await Promise.all(
    Array.from({ length: 8 }, async (_, k) => {
      for (;;) {
        const { messages } = await claimDue(tdb.db, `w${k}`, 3, 30);
        if (!messages.length) break;
        for (const m of messages) {
          assert.equal(m.attempts, 1);
          taken.set(m.id, [...(taken.get(m.id) ?? []), `w${k}`]);
        }
      }
    }),
  );
  assert.deepEqual([...taken.keys()].sort(), [...ids.values()].sort(), 'every row claimed');
  assert.deepEqual([...taken.values()].filter((w) => w.length > 1), [], 'no row claimed twice');
  const { rows } = await tdb.pool.query<{ id: string; worker_id: string; attempt: number }>('select outbox_id as id, worker_id, attempt from sms_private.outbox_lease');
  assert.deepEqual(
    rows.map((r) => [r.id, r.worker_id, r.attempt]).sort(),
    [...taken].map(([id, w]) => [id, w[0], 1]).sort(),
    'one lease per row, held by the worker the claim returned it to',
  );
});

test('nextDueInMs: null with nothing queued, 0 when due, else the time until the earliest queued row', async () => {
  assert.equal(await nextDueInMs(tdb.db), null);
  await insertMessages(tdb.pool, [
    { label: 'sending', status: 'sending', created: '-1 hour' },
    { label: 'failed', status: 'failed', created: '-1 hour' },
  ]);
  // The 'sending' row is queued in sms_outbox with a lease (0034), due since an hour ago: a row
  // being sent is not due.
  assert.equal(await nextDueInMs(tdb.db), null, 'only queued rows count, not those held by a lease');
  await insertMessage(tdb.pool, { label: 'in 90 s', status: 'queued', nextAttempt: '90 seconds' });
  await insertMessage(tdb.pool, { label: 'in 30 s, low priority', status: 'queued', priority: -10, nextAttempt: '30 seconds' });
  const ms = (await nextDueInMs(tdb.db))!;
  assert.ok(ms > 29_000 && ms <= 30_000, `${ms} ms`);
  await insertMessage(tdb.pool, { label: 'due', status: 'queued', created: '-1 second' });
  assert.equal(await nextDueInMs(tdb.db), 0);
});

test('parseWakeupPayload reads the due time of a wake-up, and treats anything else as "now"', () => {
  assert.equal(parseWakeupPayload(''), 0);
  assert.equal(parseWakeupPayload(undefined), 0);
  assert.equal(parseWakeupPayload('{"due_in_ms": 1834}'), 1834);
  assert.equal(parseWakeupPayload('{"due_in_ms": -5}'), 0);
  assert.equal(parseWakeupPayload('{"due_in_ms": "soon"}'), 0);
  assert.equal(parseWakeupPayload('not json'), 0);
});

test('armWakeup reports whether the wake-up had lapsed; disarmWakeup clears it', async () => {
  assert.equal(await armWakeup(tdb.db), true, 'never armed');
  assert.equal(await armWakeup(tdb.db), false, 'renewed while armed');
  const { rows } = await tdb.pool.query<{ s: number }>('select extract(epoch from armed_until - now())::float8 as s from sms_wakeup');
  assert.ok(rows[0]!.s > 59 && rows[0]!.s <= 60);
  await disarmWakeup(tdb.db);
  assert.equal((await tdb.pool.query('select armed_until from sms_wakeup')).rows[0].armed_until, null);
  assert.equal(await armWakeup(tdb.db), true, 'disarmed');
  await tdb.pool.query(`update sms_wakeup set armed_until = now() - interval '1 second'`);
  assert.equal(await armWakeup(tdb.db), true, 'its lease ran out');
  // sms_send NOTIFYs only while it is armed.
  await tdb.pool.query(`update sms_settings set default_sender = 'Wake'`);
  await tdb.pool.query(`select sms_send('+79990001111', 'armed')`);
  await disarmWakeup(tdb.db);
  await tdb.pool.query(`select sms_send('+79990001111', 'disarmed')`);
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), ['']);
});

test('renewLeases extends the leases of this worker\'s sending rows only', async () => {
  await insertMessages(tdb.pool, [
    { label: 'mine', status: 'sending', workerId: 'w1', lease: '2 seconds' },
    { label: 'mine too', status: 'sending', workerId: 'w1', lease: '-1 second' },
    { label: 'theirs', status: 'sending', workerId: 'w2', lease: '2 seconds' },
    { label: 'sent by me', status: 'sent', workerId: 'w1' },
  ]);
  const versions = new Map<string, string>();
  for (const label of ['mine', 'mine too', 'theirs', 'sent by me']) versions.set(label, await rowVersion(label));
  assert.equal(await renewLeases(tdb.db, 'w1', 60), 2);
  for (const label of ['mine', 'mine too']) {
    const lease = (await leaseOf(label))!;
    assert.deepEqual([lease.worker_id, lease.attempt], ['w1', 1], label);
    const s = await secondsFromNow(lease.lease_until);
    assert.ok(s > 59 && s <= 60, `${label}: ${s}`);
  }
  const theirs = await secondsFromNow((await leaseOf('theirs'))!.lease_until);
  assert.ok(theirs > 1 && theirs < 3, `theirs: ${theirs}`);
  assert.equal(await leaseOf('sent by me'), undefined);
  for (const [label, v] of versions) assert.equal(await rowVersion(label), v, `${label}: renewing writes no message row`);
});

test('reclaimExpiredLeases returns lapsed rows to the queue (or fails them when out of attempts) and wakes the workers', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'lapsed', status: 'sending', workerId: 'dead', lease: '-1 second', attempts: 2, nextAttempt: '-1 hour' },
    { label: 'lapsed, last attempt', status: 'sending', workerId: 'dead', lease: '-1 second', attempts: 5 },
    { label: 'live', status: 'sending', workerId: 'alive', lease: '1 minute' },
  ]);
  // Held at attempts 2 and 5: the rows count the attempts that ended, 1 and 4.
  assert.deepEqual([(await byLabel('lapsed')).attempts, (await byLabel('lapsed, last attempt')).attempts], [1, 4]);
  const live = await rowVersion('live');
  assert.deepEqual(await reclaimExpiredLeases(tdb.db), { requeued: 1, failed: 1 });
  const requeued = await byLabel('lapsed');
  assert.deepEqual([requeued.status, requeued.attempts, requeued.worker_id, requeued.done_at], ['queued', 2, null, null], 'the lapsed attempt is counted');
  assert.ok(Math.abs(await secondsFromNow(requeued.next_attempt_at)) < 1, 'due now');
  const failed = await byLabel('lapsed, last attempt');
  assert.deepEqual([failed.status, failed.attempts, failed.error_code], ['failed', 5, 'LEASE_EXPIRED']);
  assert.ok(failed.done_at instanceof Date);
  assert.match(String(failed.error_message), /gave up after 5 attempts: the worker holding it stopped/);
  assert.deepEqual(await leases(), [['live', 'alive', 1]], 'the lapsed leases are gone, the live one kept');
  assert.equal(await rowVersion('live'), live, 'the row of a live lease is left alone');
  assert.deepEqual(await attemptLog(), [['lapsed, last attempt', 5, 'failed', 'LEASE_EXPIRED']]);
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), [''], 'every worker is woken for the requeued row');
  assert.deepEqual(await notes.json('sms_status'), [{ id: ids.get('lapsed, last attempt'), status: 'failed' }]);

  notes.clear();
  assert.deepEqual(await reclaimExpiredLeases(tdb.db), { requeued: 0, failed: 0 });
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), [], 'nothing requeued, nobody woken');
  // The requeued row is claimed again, for its next attempt.
  assert.deepEqual((await claimDue(tdb.db, 'w1', 10, 30)).messages.map((m) => [m.id, m.attempts]), [[ids.get('lapsed'), 3]]);
});

test('releaseUnsent returns this worker\'s claimed rows to the queue, undoing the attempt, and wakes the workers', async () => {
  await insertMessages(tdb.pool, [
    { label: 'a', status: 'queued', created: '-3 minutes' },
    { label: 'b', status: 'queued', created: '-2 minutes' },
  ]);
  const before = [await byLabel('a'), await byLabel('b')];
  const claimed = (await claimDue(tdb.db, 'w1', 10, 30)).messages;
  assert.equal(claimed.length, 2);
  // Not this worker's, or not this attempt: left alone.
  assert.equal(await releaseUnsent(tdb.db, 'w2', claimed), 0);
  assert.equal(await releaseUnsent(tdb.db, 'w1', claimed.map((c) => ({ id: c.id, attempts: c.attempts + 1 }))), 0);
  assert.deepEqual(await leases(), [['a', 'w1', 1], ['b', 'w1', 1]]);
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), []);
  assert.equal(await releaseUnsent(tdb.db, 'w1', claimed), 2);
  assert.deepEqual(await leases(), [], 'the leases are gone');
  // The attempt is undone: it was never counted on the row, which is exactly as before the claim.
  assert.deepEqual([await byLabel('a'), await byLabel('b')], before);
  assert.deepEqual([before[0]!.status, before[0]!.attempts, before[0]!.worker_id], ['queued', 0, null]);
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), ['']);
  assert.equal(await releaseUnsent(tdb.db, 'w1', []), 0);
  // Claimed again, they are at the same attempt.
  assert.deepEqual((await claimDue(tdb.db, 'w1', 10, 30)).messages.map((m) => m.attempts), [1, 1]);
});

test('markSent records the SMSC ids, fenced on the worker and attempt, and returns receipts that were waiting', async () => {
  await insertMessages(tdb.pool, [
    { label: 'one part', status: 'queued', created: '-3 minutes' },
    { label: 'two parts', status: 'queued', segments: 2, created: '-2 minutes' },
    { label: 'lost lease', status: 'queued', created: '-1 minute' },
  ]);
  const claimed = (await claimDue(tdb.db, 'w1', 10, 30)).messages;
  const [one, two, lost] = claimed;
  // Another worker took this one over after our lease ran out: taken back (attempt 1 counted), then claimed by w2 for attempt 2.
  await tdb.pool.query(`update sms_private.outbox_lease set lease_until = now() - interval '1 second' where outbox_id = $1`, [lost!.id]);
  assert.deepEqual(await reclaimExpiredLeases(tdb.db), { requeued: 1, failed: 0 });
  assert.deepEqual((await claimDue(tdb.db, 'w2', 10, 30)).messages.map((m) => [m.id, m.attempts]), [[lost!.id, 2]]);
  notes.clear();
  const waiting = await insertReceipt(tdb.pool, { rawId: '00A1B2', received: '-1 second' });
  await insertReceipt(tdb.pool, { rawId: 'FFFF', received: '-1 second' });

  const r = await markSent(
    tdb.db,
    'w1',
    [
      { id: one!.id, attempts: 1, messageIds: ['00A1B2'], normalizedIds: ['a1b2'] },
      { id: two!.id, attempts: 1, messageIds: ['C3', 'C4'], normalizedIds: ['c3', 'c4'] },
      { id: lost!.id, attempts: 1, messageIds: ['D5'], normalizedIds: ['d5'] },
    ],
    ['a1b2', '41394', 'c3', '195', 'c4', '196', 'd5', '213'],
  );
  assert.deepEqual([...r.sent].sort(), [one!.id, two!.id].sort());
  assert.deepEqual(r.waiting, [{ id: waiting, rawId: '00A1B2', state: 'DELIVRD', error: '000' }]);
  const row = await byLabel('two parts');
  assert.deepEqual([row.status, row.message_ids, row.attempts, row.worker_id, row.error_code], ['sent', ['C3', 'C4'], 1, 'w1', null]);
  assert.ok(row.submitted_at instanceof Date);
  const parts = await tdb.pool.query('select part_no, message_id from sms_outbox_part where outbox_id = $1 order by part_no', [two!.id]);
  assert.deepEqual(parts.rows, [{ part_no: 1, message_id: 'c3' }, { part_no: 2, message_id: 'c4' }]);
  assert.equal(row.smsc_message_id, null);
  // A single-part message keeps its normalised id on the row, with no part row (0017).
  const single = await byLabel('one part');
  assert.deepEqual([single.status, single.message_ids, single.smsc_message_id, single.attempts, single.worker_id], ['sent', ['00A1B2'], 'a1b2', 1, 'w1']);
  assert.equal((await tdb.pool.query('select 1 from sms_outbox_part where outbox_id = $1', [one!.id])).rowCount, 0);
  // A result for a row this worker no longer holds is not applied: the row is as w2's claim left it, w2's lease kept.
  const lostRow = await byLabel('lost lease');
  assert.deepEqual([lostRow.status, lostRow.attempts, lostRow.worker_id, lostRow.message_ids, lostRow.submitted_at], ['queued', 1, null, null, null]);
  assert.deepEqual(await leases(), [['lost lease', 'w2', 2]], 'the leases of the rows sent are gone');
  assert.deepEqual(await attemptLog(), [], 'a sent message logs no attempt');
  assert.deepEqual(await notes.json('sms_status'), [one!.id, two!.id].sort().map((id) => ({ id, status: 'sent' })));
  assert.deepEqual(await markSent(tdb.db, 'w1', [], []), { sent: new Set(), waiting: [] });
});

test('markUnsent fails permanent errors, queues transient ones after their back-off (waking the workers for then), fails the last attempt', async () => {
  await insertMessages(tdb.pool, [
    { label: 'permanent', status: 'queued', created: '-4 minutes' },
    { label: 'transient', status: 'queued', created: '-3 minutes' },
    { label: 'transient, sooner', status: 'queued', created: '-2 minutes' },
    { label: 'last attempt', status: 'queued', attempts: 4, created: '-1 minute' },
  ]);
  const claimed = new Map((await claimDue(tdb.db, 'w1', 10, 30)).messages.map((m) => [m.body.replace('fixture ', ''), m]));
  const unsent = (label: string, permanent: boolean, delayMs: number, code: string) => ({
    id: claimed.get(label)!.id,
    attempts: claimed.get(label)!.attempts,
    permanent,
    errorCode: code,
    errorMessage: `${code} happened`,
    delayMs,
  });
  const r = await markUnsent(tdb.db, 'w1', [
    unsent('permanent', true, 0, 'ESME_RINVDSTADR'),
    unsent('transient', false, 8000, 'ESME_RSYSERR'),
    unsent('transient, sooner', false, 2500, 'UNKNOWN_OUTCOME'),
    unsent('last attempt', false, 2000, 'ESME_RSYSERR'),
  ]);
  assert.deepEqual(
    Object.fromEntries([...r.statuses].map(([id, s]) => [[...claimed].find(([, m]) => m.id === id)![0], s])),
    { permanent: 'failed', transient: 'queued', 'transient, sooner': 'queued', 'last attempt': 'failed' },
  );
  assert.ok(r.nextDueInMs! > 2000 && r.nextDueInMs! <= 2500, `the soonest requeued row is due in ${r.nextDueInMs} ms`);

  assert.deepEqual(await leases(), [], 'every lease written is gone');
  const permanent = await byLabel('permanent');
  assert.deepEqual(
    [permanent.status, permanent.attempts, permanent.worker_id, permanent.error_code, permanent.error_message],
    ['failed', 1, 'w1', 'ESME_RINVDSTADR', 'ESME_RINVDSTADR happened'],
  );
  assert.ok(permanent.done_at instanceof Date);
  const transient = await byLabel('transient');
  assert.deepEqual(
    [transient.status, transient.attempts, transient.worker_id, transient.done_at, transient.error_code],
    ['queued', 1, 'w1', null, 'ESME_RSYSERR'],
    'the attempt is counted, and the worker that made it named',
  );
  const due = await secondsFromNow(transient.next_attempt_at);
  assert.ok(due > 7.5 && due <= 8, `due in ${due} s`);
  const last = await byLabel('last attempt');
  assert.deepEqual([last.status, last.attempts, last.error_message], ['failed', 5, 'gave up after 5 attempts: ESME_RSYSERR happened']);
  // Every attempt that ended with an error is logged once, with the attempt it was and where it led.
  assert.deepEqual(
    (await attemptLog()).sort((a, b) => a[0].localeCompare(b[0])),
    [
      ['last attempt', 5, 'failed', 'ESME_RSYSERR'],
      ['permanent', 1, 'failed', 'ESME_RINVDSTADR'],
      ['transient', 1, 'queued', 'ESME_RSYSERR'],
      ['transient, sooner', 1, 'queued', 'UNKNOWN_OUTCOME'],
    ],
  );

  const wake = await notes.on(WAKEUP_CHANNEL);
  assert.equal(wake.length, 1, 'one wake-up for the batch, with the soonest due time');
  const dueInMs = parseWakeupPayload(wake[0]);
  assert.ok(dueInMs > 2000 && dueInMs <= 2500, wake[0]);
  assert.equal((await notes.on('sms_status')).length, 2, 'the two failures are announced');

  // Fenced: a second write of the same results changes nothing, and wakes nobody.
  notes.clear();
  const again = await markUnsent(tdb.db, 'w1', [unsent('transient', false, 1000, 'ESME_RSYSERR')]);
  assert.deepEqual(again, { statuses: new Map(), nextDueInMs: null });
  assert.deepEqual(await byLabel('transient'), transient);
  assert.equal((await attemptLog()).length, 4);
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), []);
  assert.deepEqual(await markUnsent(tdb.db, 'w1', []), { statuses: new Map(), nextDueInMs: null });
});

test('expireOverdue expires queued rows past expires_at, at most `limit` per call, and announces them', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'overdue 1', status: 'queued', created: '-2 days', expires: '-3 hours' },
    { label: 'overdue 2', status: 'queued', created: '-2 days', expires: '-2 hours', nextAttempt: '1 hour' },
    { label: 'overdue 3', status: 'queued', created: '-2 days', expires: '-1 hour' },
    { label: 'in time', status: 'queued', expires: '1 hour' },
    { label: 'sending, overdue', status: 'sending', expires: '-1 hour' },
    { label: 'sent, overdue', status: 'sent', expires: '-1 hour' },
  ]);
  assert.equal(await expireOverdue(tdb.db, 2), 2);
  assert.equal(await expireOverdue(tdb.db, 2), 1);
  assert.equal(await expireOverdue(tdb.db, 2), 0);
  for (const label of ['overdue 1', 'overdue 2', 'overdue 3']) {
    const row = await byLabel(label);
    assert.deepEqual([row.status, row.error_message], ['expired', 'expired before it could be sent'], label);
    assert.ok(row.done_at instanceof Date);
  }
  // 'sending, overdue' is queued in sms_outbox with a lease (0034): a message being sent is not expired under its worker.
  assert.deepEqual([(await byLabel('in time')).status, (await byLabel('sending, overdue')).status, (await byLabel('sent, overdue')).status], ['queued', 'queued', 'sent']);
  assert.equal((await leaseOf('sending, overdue'))?.worker_id, 'fixture-worker');
  assert.deepEqual(
    await notes.json('sms_status'),
    ['overdue 1', 'overdue 2', 'overdue 3'].map((l) => ids.get(l)!).sort().map((id) => ({ id, status: 'expired' })),
  );
});

test('purgeFinished deletes finished rows past the retention (and sent ones never receipted) with their parts, in batches', async () => {
  await insertMessages(tdb.pool, [
    { label: 'delivered old', status: 'delivered', segments: 2, created: '-12 days', done: '-11 days' },
    { label: 'failed old', status: 'failed', created: '-12 days', done: '-10 days -1 minute' },
    { label: 'sent old', status: 'sent', created: '-12 days', submitted: '-11 days' },
    { label: 'delivered at the edge', status: 'delivered', segments: 2, created: '-12 days', done: '-9 days -23 hours' },
    { label: 'sent recently', status: 'sent', submitted: '-1 day' },
    { label: 'queued old', status: 'queued', created: '-12 days', expires: '1 day' },
    { label: 'sending old', status: 'sending', created: '-12 days' },
  ]);
  assert.equal(await purgeFinished(tdb.db, 10, 2), 2);
  assert.equal(await purgeFinished(tdb.db, 10, 2), 1);
  assert.equal(await purgeFinished(tdb.db, 10, 2), 0);
  const { rows } = await tdb.pool.query<{ label: string }>(`select metadata->>'label' as label from sms_outbox order by 1`);
  assert.deepEqual(rows.map((r) => r.label), ['delivered at the edge', 'queued old', 'sending old', 'sent recently']);
  assert.deepEqual(await leases(), [['sending old', 'fixture-worker', 1]]);
  const parts = await tdb.pool.query<{ n: number }>('select count(*)::int as n from sms_outbox_part');
  assert.equal(parts.rows[0]!.n, 2, 'the parts of the kept message of two (single-part messages have none)');
});
