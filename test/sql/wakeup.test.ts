/**
 * The wake-up: while sms_wakeup.armed_until is ahead, an enqueue NOTIFYs sms_outbox_wakeup, delivered at
 * COMMIT and never before; disarmed, it does not; a rollback (or a rejected call) leaves no row
 * and no notification a worker could act on.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { outboxCount, rejectsWith } from './helpers.js';

let tdb: TestDatabase;
let listener: pg.Client;
const received: { channel: string; payload: string | undefined; at: number }[] = [];

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  await tdb.pool.query("update public.sms_wakeup set armed_until = now() + interval '1 hour'");
  listener = await tdb.connect();
  listener.on('notification', (n) => received.push({ channel: n.channel, payload: n.payload, at: Date.now() }));
  await listener.query('listen sms_outbox_wakeup');
});
after(async () => {
  await listener.end();
  await tdb.drop();
});
afterEach(async () => {
  await tdb.pool.query("update public.sms_wakeup set armed_until = now() + interval '1 hour'");
  received.length = 0;
});

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

/** Waits until `count` notifications arrived (fails after 5 s). */
async function waitFor(count: number): Promise<void> {
  for (let i = 0; i < 100 && received.length < count; i++) await settle(50);
  assert.ok(received.length >= count, `expected ${count} notification(s), got ${received.length}`);
}

async function inTransaction(fn: (c: pg.Client) => Promise<void>, end: 'commit' | 'rollback' = 'commit'): Promise<void> {
  const c = await tdb.connect();
  try {
    await c.query('begin');
    await fn(c);
    await c.query(end);
  } finally {
    await c.end();
  }
}

describe('armed (an idle worker)', () => {
  test('the notification arrives after COMMIT, not before', async () => {
    const c = await tdb.connect();
    try {
      await c.query('begin');
      await c.query(`select public.sms_send('+79991234567', 'wake up')`);
      await settle();
      assert.equal(received.length, 0, 'nothing is delivered before the transaction commits');
      const committedAt = Date.now();
      await c.query('commit');
      await waitFor(1);
      assert.deepEqual(received.map((n) => [n.channel, n.payload]), [['sms_outbox_wakeup', '']]);
      assert.ok(received[0]!.at - committedAt < 1000, 'and within milliseconds of it');
    } finally {
      await c.end();
    }
  });

  test('many enqueues in one transaction wake the worker once', async () => {
    await inTransaction(async (c) => {
      for (let i = 0; i < 5; i++) await c.query(`select public.sms_send('+79991234567', 'batch ' || $1)`, [i]);
    });
    await waitFor(1);
    await settle();
    assert.equal(received.length, 1);
  });

  test('each committed transaction notifies', async () => {
    await tdb.pool.query(`select public.sms_send('+79991234567', 'one')`);
    await tdb.pool.query(`select public.sms_send('+79991234567', 'two')`);
    await waitFor(2);
  });

  test('a scheduled message wakes the worker too (it decides when to look again)', async () => {
    await tdb.pool.query(`select public.sms_send('+79991234567', 'later', send_at => now() + interval '1 hour')`);
    await waitFor(1);
  });
});

describe('disarmed (a busy worker)', () => {
  test('no notification, the row is still there', async () => {
    await tdb.pool.query('update public.sms_wakeup set armed_until = null');
    const before = await outboxCount(tdb.pool);
    await tdb.pool.query(`select public.sms_send('+79991234567', 'quietly')`);
    await settle();
    assert.equal(received.length, 0);
    assert.equal(await outboxCount(tdb.pool), before + 1);
  });

  test('a lapsed lease (no worker renewed it: none running) is disarmed too', async () => {
    await tdb.pool.query("update public.sms_wakeup set armed_until = now() - interval '1 second'");
    await tdb.pool.query(`select public.sms_send('+79991234567', 'nobody listens')`);
    await settle();
    assert.equal(received.length, 0);
  });
});

describe('nothing to act on', () => {
  test('a rolled-back transaction: no row, no notification', async () => {
    const before = await outboxCount(tdb.pool);
    await inTransaction(async (c) => {
      await c.query(`select public.sms_send('+79991234567', 'rolled back')`);
    }, 'rollback');
    await settle();
    assert.equal(received.length, 0);
    assert.equal(await outboxCount(tdb.pool), before);
  });

  test('a rejected call whose error the app caught (savepoint) and then committed: no row, no notification', async () => {
    const before = await outboxCount(tdb.pool);
    await inTransaction(async (c) => {
      await c.query('savepoint s');
      await rejectsWith(c.query(`select public.sms_send('not a number', 'x')`), '22023', 'recipient');
      await c.query('rollback to savepoint s');
    });
    await settle();
    assert.equal(received.length, 0);
    assert.equal(await outboxCount(tdb.pool), before);
  });

  test('an idempotent repeat inserts nothing and does not notify', async () => {
    await tdb.pool.query(`select public.sms_send('+79991234567', 'once', idempotency_key => 'wake-1')`);
    await waitFor(1);
    received.length = 0;
    await tdb.pool.query(`select public.sms_send('+79991234567', 'once', idempotency_key => 'wake-1')`);
    await settle();
    assert.equal(received.length, 0);
  });
});
