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
  for (const label of ['high new', 'normal old', 'normal new']) {
    const row = await byLabel(label);
    assert.equal(row.status, 'sending');
    assert.equal(row.worker_id, 'w1');
    assert.equal(row.attempts, 1);
    const lease = await secondsFromNow(row.lease_until);
    assert.ok(lease > 29 && lease <= 30.5, `lease of ${lease} s`);
  }
  for (const label of ['low old', 'scheduled']) assert.equal((await byLabel(label)).status, 'queued', label);
  assert.equal((await byLabel('sending')).worker_id, 'w2');
  // The rest of the queue on the next claim.
  assert.deepEqual((await claimDue(tdb.db, 'w1', 10, 30)).messages.map((x) => x.id), [ids.get('low old')]);
  assert.deepEqual((await claimDue(tdb.db, 'w1', 10, 30)).messages, []);
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
  assert.deepEqual([row.status, row.attempts, row.worker_id, row.lease_until, row.error_message], ['expired', 0, null, null, 'expired before it could be sent']);
  assert.ok(row.done_at instanceof Date);
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
    await other.query('rollback');
  } finally {
    await other.end();
  }
});

test('nextDueInMs: null with nothing queued, 0 when due, else the time until the earliest queued row', async () => {
  assert.equal(await nextDueInMs(tdb.db), null);
  await insertMessages(tdb.pool, [
    { label: 'sending', status: 'sending', created: '-1 hour' },
    { label: 'failed', status: 'failed', created: '-1 hour' },
  ]);
  assert.equal(await nextDueInMs(tdb.db), null, 'only queued rows count');
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
  assert.equal(await renewLeases(tdb.db, 'w1', 60), 2);
  for (const label of ['mine', 'mine too']) {
    const s = await secondsFromNow((await byLabel(label)).lease_until);
    assert.ok(s > 59 && s <= 60, `${label}: ${s}`);
  }
  assert.ok((await secondsFromNow((await byLabel('theirs')).lease_until)) < 3);
  assert.equal((await byLabel('sent by me')).lease_until, null);
});

test('reclaimExpiredLeases returns lapsed rows to the queue (or fails them when out of attempts) and wakes the workers', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'lapsed', status: 'sending', workerId: 'dead', lease: '-1 second', attempts: 2, nextAttempt: '-1 hour' },
    { label: 'lapsed, last attempt', status: 'sending', workerId: 'dead', lease: '-1 second', attempts: 5 },
    { label: 'live', status: 'sending', workerId: 'alive', lease: '1 minute' },
  ]);
  assert.deepEqual(await reclaimExpiredLeases(tdb.db), { requeued: 1, failed: 1 });
  const requeued = await byLabel('lapsed');
  assert.deepEqual([requeued.status, requeued.attempts, requeued.worker_id, requeued.lease_until, requeued.done_at], ['queued', 2, null, null, null]);
  assert.ok(Math.abs(await secondsFromNow(requeued.next_attempt_at)) < 1, 'due now');
  const failed = await byLabel('lapsed, last attempt');
  assert.deepEqual([failed.status, failed.error_code], ['failed', 'LEASE_EXPIRED']);
  assert.match(String(failed.error_message), /gave up after 5 attempts: the worker holding it stopped/);
  assert.equal((await byLabel('live')).status, 'sending');
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), [''], 'every worker is woken for the requeued row');
  assert.deepEqual(await notes.json('sms_status'), [{ id: ids.get('lapsed, last attempt'), status: 'failed' }]);

  notes.clear();
  assert.deepEqual(await reclaimExpiredLeases(tdb.db), { requeued: 0, failed: 0 });
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), [], 'nothing requeued, nobody woken');
});

test('releaseUnsent returns this worker\'s claimed rows to the queue, undoing the attempt, and wakes the workers', async () => {
  await insertMessages(tdb.pool, [
    { label: 'a', status: 'queued', created: '-3 minutes' },
    { label: 'b', status: 'queued', created: '-2 minutes' },
  ]);
  const claimed = (await claimDue(tdb.db, 'w1', 10, 30)).messages;
  assert.equal(claimed.length, 2);
  // Not this worker's, or not this attempt: left alone.
  assert.equal(await releaseUnsent(tdb.db, 'w2', claimed), 0);
  assert.equal(await releaseUnsent(tdb.db, 'w1', claimed.map((c) => ({ id: c.id, attempts: c.attempts + 1 }))), 0);
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), []);
  assert.equal(await releaseUnsent(tdb.db, 'w1', claimed), 2);
  for (const label of ['a', 'b']) {
    const row = await byLabel(label);
    assert.deepEqual([row.status, row.attempts, row.worker_id, row.lease_until], ['queued', 0, null, null]);
  }
  assert.deepEqual(await notes.on(WAKEUP_CHANNEL), ['']);
  assert.equal(await releaseUnsent(tdb.db, 'w1', []), 0);
});

test('markSent records the SMSC ids, fenced on the worker and attempt, and returns receipts that were waiting', async () => {
  await insertMessages(tdb.pool, [
    { label: 'one part', status: 'queued', created: '-3 minutes' },
    { label: 'two parts', status: 'queued', segments: 2, created: '-2 minutes' },
    { label: 'lost lease', status: 'queued', created: '-1 minute' },
  ]);
  const claimed = (await claimDue(tdb.db, 'w1', 10, 30)).messages;
  const [one, two, lost] = claimed;
  // Another worker took this one over after our lease ran out.
  await tdb.pool.query(`update sms_outbox set worker_id = 'w2', attempts = 2 where id = $1`, [lost!.id]);
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
  assert.deepEqual([row.status, row.message_ids, row.lease_until, row.error_code], ['sent', ['C3', 'C4'], null, null]);
  assert.ok(row.submitted_at instanceof Date);
  const parts = await tdb.pool.query('select part_no, message_id from sms_outbox_part where outbox_id = $1 order by part_no', [two!.id]);
  assert.deepEqual(parts.rows, [{ part_no: 1, message_id: 'c3' }, { part_no: 2, message_id: 'c4' }]);
  assert.equal(row.smsc_message_id, null);
  // A single-part message keeps its normalised id on the row, with no part row (0017).
  const single = await byLabel('one part');
  assert.deepEqual([single.status, single.message_ids, single.smsc_message_id], ['sent', ['00A1B2'], 'a1b2']);
  assert.equal((await tdb.pool.query('select 1 from sms_outbox_part where outbox_id = $1', [one!.id])).rowCount, 0);
  assert.equal((await byLabel('lost lease')).status, 'sending', 'a result for a row this worker no longer holds is not applied');
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

  const permanent = await byLabel('permanent');
  assert.deepEqual([permanent.error_code, permanent.error_message, permanent.lease_until], ['ESME_RINVDSTADR', 'ESME_RINVDSTADR happened', null]);
  assert.ok(permanent.done_at instanceof Date);
  const transient = await byLabel('transient');
  assert.deepEqual([transient.status, transient.worker_id, transient.lease_until, transient.done_at, transient.error_code], ['queued', null, null, null, 'ESME_RSYSERR']);
  const due = await secondsFromNow(transient.next_attempt_at);
  assert.ok(due > 7.5 && due <= 8, `due in ${due} s`);
  assert.equal((await byLabel('last attempt')).error_message, 'gave up after 5 attempts: ESME_RSYSERR happened');

  const wake = await notes.on(WAKEUP_CHANNEL);
  assert.equal(wake.length, 1, 'one wake-up for the batch, with the soonest due time');
  const dueInMs = parseWakeupPayload(wake[0]);
  assert.ok(dueInMs > 2000 && dueInMs <= 2500, wake[0]);
  assert.equal((await notes.on('sms_status')).length, 2, 'the two failures are announced');

  // Fenced: a second write of the same results changes nothing, and wakes nobody.
  notes.clear();
  const again = await markUnsent(tdb.db, 'w1', [unsent('transient', false, 1000, 'ESME_RSYSERR')]);
  assert.deepEqual(again, { statuses: new Map(), nextDueInMs: null });
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
  assert.deepEqual([(await byLabel('in time')).status, (await byLabel('sending, overdue')).status, (await byLabel('sent, overdue')).status], ['queued', 'sending', 'sent']);
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
  const parts = await tdb.pool.query<{ n: number }>('select count(*)::int as n from sms_outbox_part');
  assert.equal(parts.rows[0]!.n, 2, 'the parts of the kept message of two (single-part messages have none)');
});
