/** sms_cancel and sms_status. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen } from '../support/notifications.js';
import { rejectsWith } from './helpers.js';
import { blockedOrSettled } from '../support/wait.js';

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
  return (await tdb.pool.query('select status, done_at from public.sms_outbox where id = $1', [id])).rows[0] as {
    status: string;
    done_at: Date | null;
  };
}

/** Moves a row as the worker would. */
async function setStatus(id: string, status: string): Promise<void> {
  const final = !['queued', 'sending', 'sent'].includes(status);
  await tdb.pool.query(
    `update public.sms_outbox
        set status = $2, done_at = case when $3 then now() end,
            lease_until = case when $2 = 'sending' then now() + interval '15 seconds' end,
            submitted_at = case when $2 in ('sent', 'delivered', 'undelivered') then now() end
      where id = $1`,
    [id, status, final],
  );
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

  test('a cancel racing the worker claim waits for it and then reports false', async () => {
    const id = await enqueue('claimed');
    const worker = await tdb.connect();
    try {
      await worker.query('begin');
      await worker.query(`select id from public.sms_outbox where id = $1 for update skip locked`, [id]);
      await worker.query(`update public.sms_outbox set status = 'sending', lease_until = now() + interval '15 s' where id = $1`, [id]);
      const pending = cancel(id);
      await blockedOrSettled(tdb.pool, pending, { what: 'sms_cancel waiting for the worker (or answering)' });
      await worker.query('commit');
      assert.equal(await pending, false);
    } finally {
      await worker.end();
    }
    assert.equal((await statusOf(id)).status, 'sending');
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
