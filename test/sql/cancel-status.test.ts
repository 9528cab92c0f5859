/** sms_cancel and sms_status. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen } from '../support/notifications.js';
import { holdMessages } from '../support/rows.js';
import { rejectsWith } from './helpers.js';
import { waitFor } from '../support/wait.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
});
after(() => tdb.drop());

async function enqueue(body = 'Code 4821', extra = ''): Promise<string> {
  const r = await tdb.pool.query<{ id: string }>(`select public.sms_send('+79991234567', $1${extra}) as id`, [body]);
  return r.rows[0]!.id;
}

async function cancel(id: string | null): Promise<boolean> {
  const r = await tdb.pool.query<{ ok: boolean }>('select public.sms_cancel($1) as ok', [id]);
  return r.rows[0]!.ok;
}

async function statusOf(id: string) {
  return (
    await tdb.pool.query(
      `select o.status, o.done_at, o.attempts,
              (select jsonb_build_object('worker_id', l.worker_id, 'attempt', l.attempt)
                 from sms_private.outbox_lease l where l.outbox_id = o.id) as lease
         from public.sms_outbox o where o.id = $1`,
      [id],
    )
  ).rows[0] as {
    status: string;
    done_at: Date | null;
    attempts: number;
    /** The worker's hold on it (sms_private.outbox_lease, migration 0034), null when none. */
    lease: { worker_id: string; attempt: number } | null;
  };
}

/**
 * Moves a row as the worker would. A message being sent stays queued in sms_outbox, held by a
 * lease for its first attempt (migration 0034).
 */
async function setStatus(id: string, status: string): Promise<void> {
  if (status === 'sending') {
    await holdMessages(tdb.pool, [id], { workerId: 'test-worker', lease: '15 seconds' });
    return;
  }
  const final = !['queued', 'sent'].includes(status);
  await tdb.pool.query(
    `update public.sms_outbox
        set status = $2, done_at = case when $3 then now() end,
            submitted_at = case when $2 in ('sent', 'delivered', 'undelivered') then now() end
      where id = $1`,
    [id, status, final],
  );
}

/** The backend's pid of a client, to watch it in pg_stat_activity. */
async function pidOf(client: pg.Client): Promise<number> {
  return (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
}

/** Resolves once the backend `pid` waits for a heavyweight lock; fails if `pending` settles first. */
async function waitsForLock(pid: number, pending: Promise<unknown>, what: string): Promise<void> {
  let settled = false;
  void pending.then(
    () => (settled = true),
    () => (settled = true),
  );
  await waitFor(what, async () => {
    if (settled) throw new Error('it answered without waiting');
    const { rows } = await tdb.pool.query(`select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`, [pid]);
    return rows.length > 0;
  });
}

/**
 * A worker's claim left open in `worker`'s transaction, holding the row `id` locked and its lease
 * inserted (not yet committed): priority 10 and one row, so it takes that message and no other.
 */
async function openClaim(worker: pg.Client, id: string): Promise<void> {
  await worker.query('begin');
  const { rows } = await worker.query<{ id: string; status: string; attempts: number }>(
    `select id, status, attempts from sms_private.claim('race-worker', 1, 15)`,
  );
  assert.deepEqual(rows, [{ id, status: 'sending', attempts: 1 }]);
}

describe('sms_cancel', () => {
  test('a queued message is cancelled: true, status cancelled, done_at set', async () => {
    const id = await enqueue();
    assert.equal(await cancel(id), true);
    const row = await statusOf(id);
    assert.equal(row.status, 'cancelled');
    assert.ok(row.done_at instanceof Date);
  });

  test('a cancel is announced on sms_status after commit, like every final status; a rolled-back or refused one is not', async () => {
    const notes = await listen(tdb.url, ['sms_status']);
    try {
      const kept = await enqueue('announced');
      const undone = await enqueue('rolled back');
      assert.equal(await cancel(kept), true);
      const client = await tdb.connect();
      try {
        await client.query('begin');
        assert.equal((await client.query('select public.sms_cancel($1) as ok', [undone])).rows[0].ok, true);
        await client.query('rollback');
      } finally {
        await client.end();
      }
      assert.equal(await cancel(kept), false, 'already cancelled');
      assert.deepEqual(await notes.json('sms_status'), [{ id: kept, status: 'cancelled' }]);
      assert.equal((await statusOf(undone)).status, 'queued');
    } finally {
      await notes.close();
    }
  });

  test('a scheduled (future) message can be cancelled', async () => {
    const id = await enqueue('later', `, send_at => now() + interval '1 day'`);
    assert.equal(await cancel(id), true);
    assert.equal((await statusOf(id)).status, 'cancelled');
  });

  test('cancelling twice: the second call is false and changes nothing', async () => {
    const id = await enqueue();
    assert.equal(await cancel(id), true);
    const first = await statusOf(id);
    assert.equal(await cancel(id), false);
    assert.deepEqual(await statusOf(id), first);
  });

  test('false for an unknown id', async () => {
    assert.equal(await cancel(randomUUID()), false);
  });

  test('false once the worker has it (sending) or it is further along, and nothing changes', async () => {
    for (const status of ['sending', 'sent', 'delivered', 'undelivered', 'expired', 'rejected', 'failed']) {
      const id = await enqueue(`in ${status}`);
      await setStatus(id, status);
      const before = await statusOf(id);
      assert.equal(await cancel(id), false, status);
      assert.deepEqual(await statusOf(id), before, status);
    }
  });

  test('false for a message a worker holds (a lease): it stays queued with its lease, and nothing is announced', async () => {
    const notes = await listen(tdb.url, ['sms_status']);
    try {
      const id = await enqueue('held');
      await setStatus(id, 'sending');
      const held = { status: 'queued', done_at: null, attempts: 0, lease: { worker_id: 'test-worker', attempt: 1 } };
      assert.deepEqual(await statusOf(id), held);
      assert.equal(await cancel(id), false);
      assert.deepEqual(await statusOf(id), held, 'still queued, the worker still holding it');
      const lease = await tdb.pool.query(`select lease_until > now() as live from sms_private.outbox_lease where outbox_id = $1`, [id]);
      assert.deepEqual(lease.rows, [{ live: true }], 'the lease is the worker\'s, untouched');
      // A cancel that succeeds is announced after it: the refused one must not be.
      const other = await enqueue('cancelled after');
      assert.equal(await cancel(other), true);
      assert.deepEqual(await notes.json('sms_status'), [{ id: other, status: 'cancelled' }]);
    } finally {
      await notes.close();
    }
  });

  test('a cancel racing the worker claim waits for it and then reports false (READ COMMITTED)', async () => {
    const id = await enqueue('claimed', ', priority => 10');
    const worker = await tdb.connect();
    const canceller = await tdb.connect();
    try {
      const pid = await pidOf(canceller);
      await openClaim(worker, id);
      const pending = canceller.query<{ ok: boolean }>('select public.sms_cancel($1) as ok', [id]);
      await waitsForLock(pid, pending, 'sms_cancel to wait for the claim\'s lock on the row');
      await worker.query('commit');
      assert.deepEqual((await pending).rows, [{ ok: false }]);
    } finally {
      await worker.end();
      await canceller.end();
    }
    assert.deepEqual(await statusOf(id), { status: 'queued', done_at: null, attempts: 0, lease: { worker_id: 'race-worker', attempt: 1 } });
    const shown = await tdb.pool.query('select status, attempts from public.sms_status($1)', [id]);
    assert.deepEqual(shown.rows, [{ status: 'sending', attempts: 1 }]);
  });

  test('in REPEATABLE READ, a cancel that waited for a claim fails with a serialization failure (40001), and nothing changes', async () => {
    const id = await enqueue('claimed, repeatable read', ', priority => 10');
    const worker = await tdb.connect();
    const canceller = await tdb.connect();
    try {
      const pid = await pidOf(canceller);
      await canceller.query('begin isolation level repeatable read');
      await openClaim(worker, id);
      const pending = canceller.query('select public.sms_cancel($1) as ok', [id]);
      await waitsForLock(pid, pending, 'sms_cancel to wait for the claim\'s lock on the row');
      await worker.query('commit');
      await rejectsWith(pending, '40001');
      await canceller.query('rollback');
    } finally {
      await worker.end();
      await canceller.end();
    }
    assert.deepEqual(await statusOf(id), { status: 'queued', done_at: null, attempts: 0, lease: { worker_id: 'race-worker', attempt: 1 } });
  });

  test('a cancelled message is skipped by the worker claim', async () => {
    const id = await enqueue('skip me');
    await cancel(id);
    const r = await tdb.pool.query(`select 1 from public.sms_outbox where status = 'queued' and id = $1`, [id]);
    assert.equal(r.rowCount, 0);
  });

  test('a NULL id is an error naming id', async () => {
    await rejectsWith(cancel(null), '22004', 'id');
  });
});

describe('sms_status', () => {
  test('one row with the contract columns for a known id', async () => {
    const id = await enqueue('Код 4821', `, priority => 2, idempotency_key => 'status-1', metadata => '{"order": 7}'`);
    const r = await tdb.pool.query('select * from public.sms_status($1)', [id]);
    assert.equal(r.rows.length, 1);
    const row = r.rows[0] as Record<string, unknown>;
    for (const column of [
      'id',
      'status',
      'recipient',
      'sender',
      'segments',
      'encoding',
      'attempts',
      'created_at',
      'submitted_at',
      'done_at',
      'error_code',
      'error_message',
      'send_at',
      'expires_at',
      'message_ids',
      'receipt_state',
      'receipt_error',
      'priority',
      'metadata',
    ]) {
      assert.ok(column in row, `sms_status returns ${column}`);
    }
    assert.equal(row.id, id);
    assert.equal(row.status, 'queued');
    assert.equal(row.recipient, '79991234567');
    assert.equal(row.sender, 'MyShop');
    assert.equal(row.encoding, 'ucs2');
    assert.equal(row.segments, 1);
    assert.equal(row.attempts, 0);
    assert.equal(row.priority, 2);
    assert.equal(row.idempotency_key, 'status-1');
    assert.deepEqual(row.metadata, { order: 7 });
    assert.equal(row.submitted_at, null);
    assert.ok(!('body' in row), 'the body (often a one-time code) is not echoed');
  });

  test('reflects what the worker recorded', async () => {
    const id = await enqueue();
    await tdb.pool.query(
      `update public.sms_outbox
          set status = 'undelivered', attempts = 1, submitted_at = now(), done_at = now(),
              message_ids = array['a1b2', 'a1b3'], receipt_state = 'UNDELIV', receipt_error = '001',
              error_code = '001', error_message = 'absent subscriber'
        where id = $1`,
      [id],
    );
    const row = (await tdb.pool.query('select * from public.sms_status($1)', [id])).rows[0] as Record<string, unknown>;
    assert.equal(row.status, 'undelivered');
    assert.deepEqual(row.message_ids, ['a1b2', 'a1b3']);
    assert.equal(row.receipt_state, 'UNDELIV');
    assert.equal(row.error_message, 'absent subscriber');
    assert.ok(row.done_at instanceof Date);
  });

  test('a message a worker holds (queued with a lease) shows as sending, its attempt in flight counted', async () => {
    const id = await enqueue('held, shown');
    await tdb.pool.query(`update public.sms_outbox set attempts = 2, error_code = 'ESME_RTHROTTLED' where id = $1`, [id]);
    await setStatus(id, 'sending');
    const shown = await tdb.pool.query('select status, attempts, error_code from public.sms_status($1)', [id]);
    assert.deepEqual(shown.rows, [{ status: 'sending', attempts: 3, error_code: 'ESME_RTHROTTLED' }]);
    assert.deepEqual(await statusOf(id), { status: 'queued', done_at: null, attempts: 2, lease: { worker_id: 'test-worker', attempt: 3 } });
  });

  test('zero rows for an unknown id', async () => {
    const r = await tdb.pool.query('select * from public.sms_status($1)', [randomUUID()]);
    assert.equal(r.rowCount, 0);
  });

  test('a NULL id is an error naming id', async () => {
    await rejectsWith(tdb.pool.query('select * from public.sms_status($1)', [null]), '22004', 'id');
  });

  test('a malformed id is rejected by the uuid type before the function runs', async () => {
    await rejectsWith(tdb.pool.query('select * from public.sms_status($1)', ['not-a-uuid']), '22P02');
  });
});
