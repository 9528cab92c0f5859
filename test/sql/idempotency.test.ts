/**
 * idempotency_key: a repeat returns the first id and inserts nothing; the same key for a
 * different message is 23505; two sessions racing the same key end with one row and the same
 * id (the second waits for the first to commit, or inserts if the first rolls back).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, uniqueName } from './helpers.js';
import { waitFor } from '../support/wait.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
});
after(() => tdb.drop());

async function sendWithKey(db: pg.Pool | pg.ClientBase, key: string, recipient = '+79991234567', body = 'Code 4821', sender: string | null = null) {
  const r = await db.query<{ id: string }>(`select public.sms_send($1, $2, sender => $3, idempotency_key => $4) as id`, [recipient, body, sender, key]);
  return r.rows[0]!.id;
}

async function rowsWithKey(key: string): Promise<number> {
  const r = await tdb.pool.query('select 1 from public.sms_outbox where idempotency_key = $1', [key]);
  return r.rowCount ?? 0;
}

/** Resolves once the backend `pid` is waiting for a lock (fails after 5 s). */
async function waitUntilBlocked(pid: number): Promise<void> {
  await waitFor(`backend ${pid} waiting for a lock`, async () => {
    const r = await tdb.pool.query<{ w: string | null }>('select wait_event_type as w from pg_stat_activity where pid = $1', [pid]);
    return r.rows[0]?.w === 'Lock';
  }, { timeoutMs: 5000 });
}

async function pidOf(client: pg.Client): Promise<number> {
  return (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
}

describe('one session', () => {
  test('a repeat returns the first id and inserts nothing', async () => {
    const key = uniqueName('k');
    const first = await sendWithKey(tdb.pool, key);
    assert.equal(await sendWithKey(tdb.pool, key), first);
    assert.equal(await sendWithKey(tdb.pool, key, '+7 (999) 123-45-67'), first, 'the recipient is compared normalised');
    assert.equal(await sendWithKey(tdb.pool, key, '+79991234567', 'Code 4821', 'Other'), first, 'only recipient and body make the message');
    assert.equal(await rowsWithKey(key), 1);
  });

  test('a repeat of a finished message still returns it', async () => {
    const key = uniqueName('k');
    const first = await sendWithKey(tdb.pool, key);
    await tdb.pool.query(`update public.sms_outbox set status = 'delivered', done_at = now() where id = $1`, [first]);
    assert.equal(await sendWithKey(tdb.pool, key), first);
    assert.equal(await rowsWithKey(key), 1);
  });

  test('the same key for a different body or recipient is 23505 naming idempotency_key, and nothing about the first message', async () => {
    const key = uniqueName('k');
    const first = await sendWithKey(tdb.pool, key);
    const body = await rejectsWith(sendWithKey(tdb.pool, key, '+79991234567', 'Code 9999'), '23505', 'idempotency_key');
    const recipient = await rejectsWith(sendWithKey(tdb.pool, key, '+79990000000'), '23505', 'idempotency_key');
    for (const err of [body, recipient]) {
      assert.equal(err.message, `idempotency_key '${key}' was already used for a different message`);
      assert.equal(err.detail, undefined, 'no DETAIL: not which of recipient and body differs');
      assert.ok(!JSON.stringify(err).includes(first), "the first message's id is in no field of the error");
    }
    assert.equal(await rowsWithKey(key), 1);
  });

  test('a repeat returns the first id even if the settings would now refuse the message', async () => {
    const key = uniqueName('k');
    const body = 'a'.repeat(400); // 3 parts
    const first = await sendWithKey(tdb.pool, key, '+79991234567', body);
    const client = await tdb.connect();
    try {
      await client.query('begin');
      await client.query('update sms_settings set default_sender = null, max_segments = 1');
      assert.equal(await sendWithKey(client, key, '+79991234567', body), first);
      await client.query('savepoint s');
      await rejectsWith(sendWithKey(client, uniqueName('k'), '+79991234567', body), '22001', 'body');
      await client.query('rollback to savepoint s');
      await rejectsWith(sendWithKey(client, uniqueName('k'), '+79991234567', 'short'), '22004', 'sender');
    } finally {
      await client.query('rollback');
      await client.end();
    }
  });

  test('keys are independent of each other', async () => {
    const a = await sendWithKey(tdb.pool, uniqueName('k'));
    const b = await sendWithKey(tdb.pool, uniqueName('k'));
    assert.notEqual(a, b);
  });

  test('a repeat inside the same transaction returns the uncommitted row', async () => {
    const key = uniqueName('k');
    const client = await tdb.connect();
    try {
      await client.query('begin');
      const first = await sendWithKey(client, key);
      assert.equal(await sendWithKey(client, key), first);
      await client.query('commit');
    } finally {
      await client.end();
    }
    assert.equal(await rowsWithKey(key), 1);
  });
});

describe('two sessions racing the same key', () => {
  test('the second waits for the first to commit, then gets the same id', async () => {
    const key = uniqueName('k');
    const a = await tdb.connect();
    const b = await tdb.connect();
    try {
      const pidB = await pidOf(b);
      await a.query('begin');
      await b.query('begin');
      const idA = await sendWithKey(a, key);
      const pending = sendWithKey(b, key);
      await waitUntilBlocked(pidB);
      await a.query('commit');
      assert.equal(await pending, idA);
      await b.query('commit');
    } finally {
      await a.end();
      await b.end();
    }
    assert.equal(await rowsWithKey(key), 1);
  });

  test('if the first rolls back, the second inserts its own row', async () => {
    const key = uniqueName('k');
    const a = await tdb.connect();
    const b = await tdb.connect();
    let idB: string;
    let idA: string;
    try {
      const pidB = await pidOf(b);
      await a.query('begin');
      await b.query('begin');
      idA = await sendWithKey(a, key);
      const pending = sendWithKey(b, key);
      await waitUntilBlocked(pidB);
      await a.query('rollback');
      idB = await pending;
      await b.query('commit');
    } finally {
      await a.end();
      await b.end();
    }
    assert.notEqual(idB, idA);
    const r = await tdb.pool.query<{ id: string }>('select id from public.sms_outbox where idempotency_key = $1', [key]);
    assert.deepEqual(r.rows, [{ id: idB }]);
  });

  test('a different message racing the same key gets 23505 once the first commits', async () => {
    const key = uniqueName('k');
    const a = await tdb.connect();
    const b = await tdb.connect();
    try {
      const pidB = await pidOf(b);
      await a.query('begin');
      await b.query('begin');
      await sendWithKey(a, key, '+79991234567', 'first');
      const pending = sendWithKey(b, key, '+79991234567', 'second');
      pending.catch(() => {}); // observed below
      await waitUntilBlocked(pidB);
      await a.query('commit');
      await rejectsWith(pending, '23505', 'idempotency_key');
      await b.query('rollback');
    } finally {
      await a.end();
      await b.end();
    }
    assert.equal(await rowsWithKey(key), 1);
  });

  test('under REPEATABLE READ the second gets a serialization failure (40001) to retry', async () => {
    const key = uniqueName('k');
    const a = await tdb.connect();
    const b = await tdb.connect();
    try {
      const pidB = await pidOf(b);
      await a.query('begin');
      await b.query('begin isolation level repeatable read');
      await b.query('select 1'); // takes the snapshot
      await sendWithKey(a, key);
      const pending = sendWithKey(b, key);
      pending.catch(() => {});
      await waitUntilBlocked(pidB);
      await a.query('commit');
      await rejectsWith(pending, '40001');
      await b.query('rollback');
      // The retry, in a new transaction, finds the committed row.
      await b.query('begin isolation level repeatable read');
      const retried = await sendWithKey(b, key);
      await b.query('commit');
      const r = await tdb.pool.query<{ id: string }>('select id from public.sms_outbox where idempotency_key = $1', [key]);
      assert.deepEqual(r.rows, [{ id: retried }]);
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('sixteen concurrent callers with one key: one row, one id', async () => {
    const key = uniqueName('k');
    const ids = await Promise.all(Array.from({ length: 16 }, () => sendWithKey(tdb.pool, key)));
    assert.equal(new Set(ids).size, 1);
    assert.equal(await rowsWithKey(key), 1);
  });
});
