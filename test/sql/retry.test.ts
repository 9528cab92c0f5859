/**
 * sms_retry in SQL: which messages it puts back in the queue, what it keeps of the outcome it
 * replaces, the fresh expiry, the attempts it counts from, and the ownership rules of
 * sms_cancel. Messages reach their final status through the worker's own queries
 * (src/db/outbox.ts, src/db/receipts.ts) on this database; the whole path through the worker and
 * the simulator is in test/worker/lifecycle.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles } from './helpers.js';
import { claimDue, markSent, markUnsent, reclaimExpiredLeases } from '../../src/db/outbox.js';
import { applyReceipts } from '../../src/db/receipts.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
let appA: string;
let a: pg.Client;
let b: pg.Client;
let readerSender: pg.Client;
const WORKER = 'retry-test-worker';

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  appA = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const appB = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const both = await roles.create({ login: password, memberOf: ['sms_sender', 'sms_reader'] });
  a = await connectAs(tdb.url, appA, password);
  b = await connectAs(tdb.url, appB, password);
  readerSender = await connectAs(tdb.url, both, password);
});
after(async () => {
  for (const c of [a, b, readerSender]) await c?.end().catch(() => {});
  await tdb.drop();
  await roles.dropAll();
});

type Db = pg.Pool | pg.ClientBase;
const retry = async (c: Db, id: string | null) => (await c.query<{ ok: boolean }>('select sms_retry($1) as ok', [id])).rows[0]!.ok;
/** The message row, and `lease`: the worker's hold on it (sms_private.outbox_lease, migration 0034), null when none. */
const row = async (id: string) =>
  (
    await tdb.pool.query(
      `select o.*, (select to_jsonb(l) - 'outbox_id' from sms_private.outbox_lease l where l.outbox_id = o.id) as lease
         from sms_outbox o where o.id = $1`,
      [id],
    )
  ).rows[0] as Record<string, any>;

async function send(c: Db, body = 'Code 4821', extra = ''): Promise<string> {
  return (await c.query<{ id: string }>(`select sms_send('+79991234567', $1${extra}) as id`, [body])).rows[0]!.id;
}

/** The worker's claim, with every other queued message of this file put a day later meanwhile. */
async function claimOnly(id: string): Promise<Awaited<ReturnType<typeof claimDue>>> {
  await tdb.pool.query(`update sms_outbox set next_attempt_at = next_attempt_at + interval '1 day' where status = 'queued' and id <> $1`, [id]);
  try {
    return await claimDue(tdb.db, WORKER, 100, 60);
  } finally {
    await tdb.pool.query(`update sms_outbox set next_attempt_at = next_attempt_at - interval '1 day' where status = 'queued' and id <> $1`, [id]);
  }
}

/** Claims this message as the worker does; returns the attempt. */
async function claim(id: string): Promise<number> {
  const r = await claimOnly(id);
  assert.deepEqual(r.messages.map((m) => m.id), [id]);
  return r.messages[0]!.attempts;
}

async function failPermanently(id: string): Promise<void> {
  const attempts = await claim(id);
  await markUnsent(tdb.db, WORKER, [{ id, attempts, permanent: true, errorCode: 'ESME_RINVDSTADR', errorMessage: 'invalid destination', delayMs: 0 }]);
}

/** Submitted with these SMSC ids, then a receipt with `state` for each part. */
async function submitAndReceipt(id: string, ids: string[], state: string): Promise<void> {
  const attempts = await claim(id);
  await markSent(tdb.db, WORKER, [{ id, attempts, messageIds: ids, normalizedIds: ids.map((x) => x.toLowerCase()) }], []);
  await applyReceipts(tdb.db, ids.map((x) => ({ candidates: [x.toLowerCase()], state, error: state === 'DELIVRD' ? '000' : '011' })));
}

describe('what sms_retry puts back', () => {
  test('a failed message: queued and due now, the failure kept in sms_outbox_retry, retries counted', async () => {
    const id = await send(a);
    await failPermanently(id);
    const failed = await row(id);
    assert.equal(failed.status, 'failed');
    assert.equal(await retry(a, id), true);
    const r = await row(id);
    assert.deepEqual(
      {
        status: r.status, done_at: r.done_at, error_code: r.error_code, error_message: r.error_message, lease: r.lease,
        worker: r.worker_id, retries: r.retries, attempts: r.attempts, attemptsAtRetry: r.attempts_at_retry,
      },
      { status: 'queued', done_at: null, error_code: null, error_message: null, lease: null, worker: null, retries: 1, attempts: 1, attemptsAtRetry: 1 },
    );
    assert.ok(r.next_attempt_at.getTime() <= Date.now() + 1000 && r.next_attempt_at.getTime() >= failed.done_at.getTime());
    const history = (await tdb.pool.query('select * from sms_outbox_retry where outbox_id = $1', [id])).rows;
    assert.equal(history.length, 1);
    assert.deepEqual(
      { status: history[0].status, attempts: history[0].attempts, code: history[0].error_code, by: history[0].retried_by, done: history[0].done_at.getTime() },
      { status: 'failed', attempts: 1, code: 'ESME_RINVDSTADR', by: appA, done: failed.done_at.getTime() },
    );
    const s = (await a.query('select status, retries, attempts from sms_status($1)', [id])).rows[0];
    assert.deepEqual(s, { status: 'queued', retries: 1, attempts: 1 });
  });

  test('rejected, undelivered and expired by receipt: requeued, their parts and SMSC ids dropped, the receipt kept in the history', async () => {
    for (const [state, status] of [['REJECTD', 'rejected'], ['UNDELIV', 'undelivered'], ['EXPIRED', 'expired']] as const) {
      const id = await send(a, `Code for ${state}`);
      const smscId = `A${randomBytes(4).toString('hex').toUpperCase()}`;
      await submitAndReceipt(id, [smscId], state);
      assert.equal((await row(id)).status, status);
      assert.equal(await retry(a, id), true, state);
      const r = await row(id);
      assert.deepEqual([r.status, r.message_ids, r.receipt_state, r.submitted_at], ['queued', null, null, null], state);
      assert.equal((await tdb.pool.query('select count(*)::int as n from sms_outbox_part where outbox_id = $1', [id])).rows[0].n, 0);
      const h = (await tdb.pool.query('select status, receipt_state, message_ids from sms_outbox_retry where outbox_id = $1', [id])).rows[0];
      assert.deepEqual(h, { status, receipt_state: state, message_ids: [smscId] });
      // A late receipt for the replaced attempt's id matches nothing now.
      assert.deepEqual(await applyReceipts(tdb.db, [{ candidates: [smscId.toLowerCase()], state: 'DELIVRD', error: '000' }]), []);
      assert.equal((await row(id)).status, 'queued');
    }
  });

  test('a message expired unsent gets a fresh expiry as long as its first life; one still valid keeps its own', async () => {
    const id = await send(a, 'Code 1', `, expires_at => now() + interval '5 minutes'`);
    // As if it had been enqueued 5 minutes and a second ago.
    await tdb.pool.query(
      `update sms_outbox set created_at = created_at - interval '5 minutes 1 second', send_at = send_at - interval '5 minutes 1 second',
              next_attempt_at = next_attempt_at - interval '5 minutes 1 second', expires_at = expires_at - interval '5 minutes 1 second'
        where id = $1`,
      [id],
    );
    const r0 = await claimOnly(id);
    assert.deepEqual([r0.messages.length, r0.expired], [0, 1]);
    assert.equal((await row(id)).status, 'expired');
    assert.equal(await retry(a, id), true);
    const r = await row(id);
    const life = r.expires_at.getTime() - Date.now();
    assert.ok(life > 4.5 * 60_000 && life <= 5 * 60_000 + 2000, `5 more minutes, got ${life} ms`);

    const valid = await send(a, 'Code 2', `, expires_at => now() + interval '1 hour'`);
    const expiry = (await row(valid)).expires_at.getTime();
    await failPermanently(valid);
    assert.equal(await retry(a, valid), true);
    assert.equal((await row(valid)).expires_at.getTime(), expiry);
  });

  test('max_attempts counts the attempts since the last retry; attempts never go back', async () => {
    const client = await tdb.connect();
    await client.query(`update sms_settings set max_attempts = 2`);
    try {
      const id = await send(a, 'Transient trouble');
      const transient = async () => {
        const attempts = await claim(id);
        await markUnsent(tdb.db, WORKER, [{ id, attempts, permanent: false, errorCode: 'ESME_RSYSERR', errorMessage: 'system error', delayMs: 0 }]);
        return attempts;
      };
      await transient();
      await transient();
      assert.deepEqual([(await row(id)).status, (await row(id)).attempts], ['failed', 2]);
      assert.match((await row(id)).error_message, /^gave up after 2 attempts/);
      assert.equal(await retry(a, id), true);
      assert.equal(await transient(), 3);
      assert.equal((await row(id)).status, 'queued', 'one attempt since the retry: not used up');
      assert.equal(await transient(), 4);
      assert.deepEqual([(await row(id)).status, (await row(id)).attempts_at_retry], ['failed', 2]);
      assert.match((await row(id)).error_message, /^gave up after 2 attempts/);
      // A lease that ran out counts the same way.
      assert.equal(await retry(a, id), true);
      const lapse = async () => {
        const attempt = await claim(id);
        await tdb.pool.query(`update sms_private.outbox_lease set lease_until = now() - interval '1 second' where outbox_id = $1`, [id]);
        await reclaimExpiredLeases(tdb.db);
        return attempt;
      };
      assert.equal(await lapse(), 5);
      const requeued = await row(id);
      assert.deepEqual([requeued.status, requeued.attempts, requeued.lease], ['queued', 5, null], 'the lapsed attempt counted, the lease gone');
      assert.equal(await lapse(), 6);
      const failed = await row(id);
      assert.deepEqual([failed.status, failed.attempts, failed.attempts_at_retry, failed.error_code, failed.lease], ['failed', 6, 4, 'LEASE_EXPIRED', null]);
      assert.match(failed.error_message, /^gave up after 2 attempts: the worker holding it stopped \(lease expired\)$/);
    } finally {
      await client.query(`update sms_settings set max_attempts = 8`);
      await client.end();
    }
  });
});

describe('what sms_retry leaves alone', () => {
  test('queued, sending, sent, delivered and cancelled messages, unknown ids, and redacted bodies: false, nothing changed', async () => {
    const queued = await send(a, 'q');
    const cancelled = await send(a, 'c');
    await a.query('select sms_cancel($1)', [cancelled]);
    const delivered = await send(a, 'd');
    await submitAndReceipt(delivered, [`D${randomBytes(4).toString('hex')}`], 'DELIVRD');
    const sent = await send(a, 's');
    const sentAttempts = await claim(sent);
    await markSent(tdb.db, WORKER, [{ id: sent, attempts: sentAttempts, messageIds: ['S1X'], normalizedIds: ['s1x'] }], []);
    const sending = await send(a, 'sending');
    await claim(sending);
    const held = await row(sending);
    assert.deepEqual([held.status, held.lease?.worker_id, held.lease?.attempt], ['queued', WORKER, 1], 'being sent: queued, with the worker\'s lease');
    const redacted = await send(a, 'r');
    await failPermanently(redacted);
    await tdb.pool.query(`update sms_outbox set body_hash = sms_private.body_hash(body), body_length = char_length(body), body = '', redacted_at = now() where id = $1`, [redacted]);
    for (const id of [queued, cancelled, delivered, sent, sending, redacted, randomUUID()]) {
      const before = await row(id);
      assert.equal(await retry(a, id), false, before?.status ?? 'unknown');
      assert.deepEqual(await row(id), before);
    }
    await rejectsWith(a.query('select sms_retry(null)'), '22004', 'id');
  });
});

describe('ownership: as sms_cancel', () => {
  test("another app's id is answered as an unknown one, without waiting for a lock on it", async () => {
    const id = await send(a);
    await failPermanently(id);
    const before = await row(id);
    assert.equal(await retry(b, id), false);
    assert.equal(await retry(b, id), await retry(b, randomUUID()));
    assert.deepEqual(await row(id), before);
    const locker = await tdb.connect();
    try {
      await locker.query('begin');
      await locker.query('select 1 from sms_outbox where id = $1 for update', [id]);
      await b.query(`set lock_timeout = '1s'`);
      assert.equal(await retry(b, id), false);
      await b.query('reset lock_timeout');
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    assert.equal(await retry(a, id), true, 'the owner may');
  });

  test('a reader sees every message but retries only its own; the owner of the schema retries any', async () => {
    const id = await send(a);
    await failPermanently(id);
    assert.equal((await readerSender.query('select count(*)::int as n from sms_status($1)', [id])).rows[0].n, 1);
    assert.equal(await retry(readerSender, id), false);
    assert.equal(await retry(tdb.pool, id), true);
    const h = (await tdb.pool.query('select retried_by from sms_outbox_retry where outbox_id = $1', [id])).rows[0];
    assert.equal(h.retried_by, 'postgres');
  });
});

describe('the history goes with its message', () => {
  test("the worker's purge deletes a retried message with its sms_outbox_retry rows (the worker holds no right on them)", async () => {
    const id = await send(a);
    await failPermanently(id);
    assert.equal(await retry(a, id), true);
    await failPermanently(id);
    const worker = await connectAs(tdb.url, await roles.create({ login: password, memberOf: ['sms_worker'] }), password);
    try {
      await rejectsWith(worker.query('select * from sms_outbox_retry'), '42501');
      assert.equal((await worker.query('delete from sms_outbox where id = $1', [id])).rowCount, 1);
    } finally {
      await worker.end();
    }
    assert.equal((await tdb.pool.query('select count(*)::int as n from sms_outbox_retry where outbox_id = $1', [id])).rows[0].n, 0);
  });
});

describe('sms_status shows the parts of a long message', () => {
  test('parts delivered and undelivered of segments, as receipts come in', async () => {
    const id = await send(a, 'x'.repeat(400));
    const ids = ['P1A', 'P2B', 'P3C'].map((x) => `${x}${randomBytes(3).toString('hex').toUpperCase()}`);
    const attempts = await claim(id);
    await markSent(tdb.db, WORKER, [{ id, attempts, messageIds: ids, normalizedIds: ids.map((x) => x.toLowerCase()) }], []);
    const parts = async () => (await a.query('select status, segments, parts_delivered, parts_undelivered from sms_status($1)', [id])).rows[0];
    assert.deepEqual(await parts(), { status: 'sent', segments: 3, parts_delivered: 0, parts_undelivered: 0 });
    await applyReceipts(tdb.db, [{ candidates: [ids[0]!.toLowerCase()], state: 'DELIVRD', error: '000' }]);
    await applyReceipts(tdb.db, [{ candidates: [ids[2]!.toLowerCase()], state: 'DELIVRD', error: '000' }]);
    assert.deepEqual(await parts(), { status: 'sent', segments: 3, parts_delivered: 2, parts_undelivered: 0 });
    await applyReceipts(tdb.db, [{ candidates: [ids[1]!.toLowerCase()], state: 'UNDELIV', error: '011' }]);
    assert.deepEqual(await parts(), { status: 'undelivered', segments: 3, parts_delivered: 2, parts_undelivered: 1 });
  });
});
