/**
 * What sms_send stores: the row an accepted call creates, scheduling (send_at,
 * next_attempt_at), expiry (expires_at and the configured validity), priority, the id, and that a
 * rolled-back call leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
});
after(() => tdb.drop());

interface Row {
  id: string;
  recipient: string;
  sender: string;
  body: string;
  encoding: string;
  segments: number;
  priority: number;
  status: string;
  attempts: number;
  send_at: Date;
  expires_at: Date;
  next_attempt_at: Date;
  created_at: Date;
  updated_at: Date;
  metadata: unknown;
  idempotency_key: string | null;
  done_at: Date | null;
  worker_id: string | null;
  submitted_at: Date | null;
  message_ids: string[] | null;
}

async function sendAndRead(sql: string, params: unknown[] = []): Promise<Row & { now: Date }> {
  const client = await tdb.connect();
  try {
    await client.query('begin');
    const now = (await client.query<{ now: Date }>('select now()')).rows[0]!.now;
    const id = (await client.query<{ id: string }>(sql, params)).rows[0]!.id;
    const row = (await client.query<Row>('select * from public.sms_outbox where id = $1', [id])).rows[0]!;
    await client.query('commit');
    return { ...row, now };
  } finally {
    await client.end();
  }
}

describe('an accepted message', () => {
  test('is one queued row with everything the worker needs', async () => {
    const row = await sendAndRead(`select public.sms_send('+7 (999) 123-45-67', 'Код: 4821') as id`);
    assert.equal(row.recipient, '79991234567');
    assert.equal(row.sender, 'MyShop');
    assert.equal(row.body, 'Код: 4821');
    assert.equal(row.encoding, 'ucs2');
    assert.equal(row.segments, 1);
    assert.equal(row.priority, 0);
    assert.equal(row.status, 'queued');
    assert.equal(row.attempts, 0);
    assert.equal(row.metadata, null);
    assert.equal(row.idempotency_key, null);
    for (const column of ['done_at', 'worker_id', 'submitted_at', 'message_ids'] as const) assert.equal(row[column], null, column);
    assert.ok(!('lease_until' in row), 'no lease column: a worker\'s lease is a row of sms_private.outbox_lease (0034)');
    const leases = await tdb.pool.query('select 1 from sms_private.outbox_lease where outbox_id = $1', [row.id]);
    assert.equal(leases.rowCount, 0, 'no worker holds it');
    assert.equal(row.send_at.getTime(), row.now.getTime(), 'send_at defaults to now()');
    assert.equal(row.next_attempt_at.getTime(), row.now.getTime(), 'due at once');
    assert.equal(row.created_at.getTime(), row.now.getTime());
    assert.equal(row.expires_at.getTime() - row.now.getTime(), 24 * 3600 * 1000, 'the default validity is 24 hours');
  });

  test('the id is a version-7 UUID whose timestamp is the enqueue time, and ids sort by time', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await tdb.pool.query<{ id: string }>(`select public.sms_send('+79991234567', 'order ' || $1::text) as id`, [i])).rows[0]!.id);
      await new Promise((r) => setTimeout(r, 3));
    }
    for (const id of ids) {
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, id);
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
      assert.ok(Math.abs(ms - Date.now()) < 60_000, `timestamp of ${id} is ${new Date(ms).toISOString()}`);
    }
    assert.deepEqual([...ids].sort(), ids, 'later ids sort after earlier ones');
  });
});

describe('scheduling', () => {
  test('a future send_at is stored and the row is due then', async () => {
    const at = new Date(Date.now() + 2 * 3600 * 1000);
    const row = await sendAndRead(`select public.sms_send('+79991234567', 'later', send_at => $1) as id`, [at]);
    assert.equal(row.send_at.getTime(), at.getTime());
    assert.equal(row.next_attempt_at.getTime(), at.getTime());
    assert.equal(row.expires_at.getTime(), at.getTime() + 24 * 3600 * 1000, 'validity counts from send_at');
    assert.equal(row.status, 'queued');
  });

  test('a send_at in the past means now: stored as given, due now, validity from now', async () => {
    const at = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    const row = await sendAndRead(`select public.sms_send('+79991234567', 'late', send_at => $1) as id`, [at]);
    assert.equal(row.send_at.getTime(), at.getTime());
    assert.equal(row.next_attempt_at.getTime(), row.now.getTime());
    assert.equal(row.expires_at.getTime(), row.now.getTime() + 24 * 3600 * 1000, 'not born expired');
  });

  test('the due index serves the worker claim in priority order, then by due time', async () => {
    const client = await tdb.connect();
    try {
      await client.query('begin');
      await client.query('delete from public.sms_outbox');
      const later = new Date(Date.now() + 3600_000);
      await client.query(`select public.sms_send('+79990000001', 'p0 first')`);
      await client.query(`select public.sms_send('+79990000002', 'p5', priority => 5)`);
      await client.query(`select public.sms_send('+79990000003', 'p0 second')`);
      await client.query(`select public.sms_send('+79990000004', 'p9 but later', priority => 9, send_at => $1)`, [later]);
      await client.query(`select public.sms_send('+79990000005', 'p-3', priority => -3)`);
      const claim = await client.query<{ body: string }>(
        `select body from public.sms_outbox
          where status = 'queued' and next_attempt_at <= now()
          order by priority desc, next_attempt_at, id
          for update skip locked`,
      );
      assert.deepEqual(
        claim.rows.map((r) => r.body),
        ['p5', 'p0 first', 'p0 second', 'p-3'],
      );
    } finally {
      await client.query('rollback');
      await client.end();
    }
  });
});

describe('expiry', () => {
  test('an explicit expires_at is stored', async () => {
    const at = new Date(Date.now() + 600_000);
    const row = await sendAndRead(`select public.sms_send('+79991234567', 'soon', expires_at => $1) as id`, [at]);
    assert.equal(row.expires_at.getTime(), at.getTime());
  });

  test('the default validity comes from sms_settings', async () => {
    const client = await tdb.connect();
    try {
      await client.query('begin');
      await client.query(`update sms_settings set default_validity = '12 hours'`);
      const now = (await client.query<{ now: Date }>('select now()')).rows[0]!.now;
      const id = (await client.query<{ id: string }>(`select public.sms_send('+79991234567', 'validity') as id`)).rows[0]!.id;
      const r = await client.query<{ expires_at: Date }>('select expires_at from public.sms_outbox where id = $1', [id]);
      assert.equal(r.rows[0]!.expires_at.getTime() - now.getTime(), 12 * 3600 * 1000);
    } finally {
      await client.query('rollback');
      await client.end();
    }
  });

  test('a validity under a minute is refused by the settings table', async () => {
    await assert.rejects(tdb.pool.query(`update sms_settings set default_validity = '30 seconds'`), /sms_settings_default_validity_check/);
  });
});

describe('a rolled-back transaction', () => {
  test('leaves no row', async () => {
    const client = await tdb.connect();
    let id: string;
    try {
      await client.query('begin');
      id = (await client.query<{ id: string }>(`select public.sms_send('+79991234567', 'rolled back') as id`)).rows[0]!.id;
      await client.query('rollback');
    } finally {
      await client.end();
    }
    const r = await tdb.pool.query('select 1 from public.sms_outbox where id = $1', [id]);
    assert.equal(r.rowCount, 0);
    const s = await tdb.pool.query('select * from public.sms_status($1)', [id]);
    assert.equal(s.rowCount, 0);
    // (That no wake-up is delivered either is tested in wakeup.test.ts.)
  });
});

describe('a text kept out of the row (sms_private.send with secret, the sign-in hook\'s way)', () => {
  test('the row is inserted blank with the text\'s hash and length, the text in sms_outbox_secret', async () => {
    const { rows } = await tdb.pool.query<{ id: string }>(
      `select sms_private.send('owner_a', '+79990001001', 'Code 4821', null, null, null, 0, null, null, secret => true) as id`,
    );
    const id = rows[0]!.id;
    const row = await tdb.pool.query(
      `select o.status, o.body, o.body_length, o.body_hash = sms_private.body_hash('Code 4821') as hashed, o.redacted_at, s.body as secret
         from sms_outbox o left join sms_outbox_secret s on s.outbox_id = o.id where o.id = $1`,
      [id],
    );
    assert.deepEqual(row.rows, [{ status: 'queued', body: '', body_length: 9, hashed: true, redacted_at: null, secret: 'Code 4821' }]);
  });

  test('a message stored rejected (a marketing one to an opted-out number) keeps no text: it is never sent', async () => {
    await tdb.pool.query(`select sms_opt_out('+79990001002')`);
    const { rows } = await tdb.pool.query<{ id: string }>(
      `select sms_private.send('owner_a', '+79990001002', 'Sale 4821', null, null, null, 0, null, null, 'marketing', true) as id`,
    );
    const row = await tdb.pool.query(
      `select o.status, o.error_code, o.body, (select count(*)::int from sms_outbox_secret s where s.outbox_id = o.id) as secrets
         from sms_outbox o where o.id = $1`,
      [rows[0]!.id],
    );
    assert.deepEqual(row.rows, [{ status: 'rejected', error_code: 'OPTED_OUT', body: '', secrets: 0 }]);
  });
});
