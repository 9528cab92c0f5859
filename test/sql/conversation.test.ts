/**
 * Threading and conversations (migration 0020): an incoming SMS answers the last message sent to
 * its sender from the number it was sent to, within sms_settings.reply_window, and belongs to
 * that message's owner; a copy the SMSC delivers again is counted, not stored; sms_conversation
 * shows both directions under sms_status's ownership rules. Two apps log in as their own roles;
 * incoming SMS are stored the way the worker stores them, by a login that holds sms_worker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles } from './helpers.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const clients: pg.Client[] = [];
let a: pg.Client;
let b: pg.Client;
let reader: pg.Client;
let worker: pg.Client;
let appA: string;

async function login(user: string): Promise<pg.Client> {
  const c = await connectAs(tdb.url, user, password);
  clients.push(c);
  return c;
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  appA = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const appB = await roles.create({ login: password, memberOf: ['sms_sender'] });
  a = await login(appA);
  b = await login(appB);
  reader = await login(await roles.create({ login: password, memberOf: ['sms_reader'] }));
  worker = await login(await roles.create({ login: password, memberOf: ['sms_worker'] }));
});
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await tdb.drop();
  await roles.dropAll();
});
beforeEach(async () => {
  await tdb.pool.query('delete from sms_inbox; delete from sms_outbox');
});

/** A message from `c`, already accepted by the SMSC (as the worker marks it). */
async function sent(c: pg.ClientBase, phone: string, body: string, sender = '79000000001', ago = '0'): Promise<string> {
  const { rows } = await c.query<{ id: string }>('select sms_send($1, $2, sender => $3) as id', [phone, body, sender]);
  const id = rows[0]!.id;
  await tdb.pool.query(
    `update sms_outbox set status = 'sent', submitted_at = now() - $2::interval, created_at = now() - $2::interval, attempts = 1 where id = $1`,
    [id, ago],
  );
  return id;
}

/**
 * An incoming SMS stored as the worker stores it (sms_inbound_store); its row, or null when it was
 * counted as a copy. With `extra` columns, inserted by the owner instead (the worker may not insert).
 */
async function incoming(from: string, to: string, text: string, extra: Record<string, unknown> = {}): Promise<Record<string, any> | null> {
  if (Object.keys(extra).length) {
    const cols = ['sender', 'recipient', 'body', 'payload', 'encoding', 'parts', ...Object.keys(extra)];
    const values = [from, to, text, Buffer.from(text, 'utf16le'), 'ucs2', 1, ...Object.values(extra)];
    const { rows } = await tdb.pool.query(
      `insert into sms_inbox (${cols.join(', ')}) values (${cols.map((_, i) => `$${i + 1}`).join(', ')}) returning *`,
      values,
    );
    return rows[0] ?? null;
  }
  const stored = await worker.query<{ id: string | null }>(`select sms_inbound_store($1, $2, $3, false, $4, 'ucs2', 1, 0) as id`, [
    from,
    to,
    text,
    Buffer.from(text, 'utf16le'),
  ]);
  const id = stored.rows[0]!.id;
  return id === null ? null : (await worker.query('select * from sms_inbox where id = $1', [id])).rows[0];
}

const conversation = async (c: pg.ClientBase, phone: string) => (await c.query('select * from sms_conversation($1)', [phone])).rows;

describe('threading', () => {
  test('an SMS answers the last message sent to its sender from the number it came to, and is that message\'s owner\'s', async () => {
    await sent(a, '+79991234567', 'Order 1: reply YES', '79000000001', '2 hours');
    const last = await sent(a, '+79991234567', 'Order 2: reply YES', '79000000001', '1 hour');
    await sent(b, '+79991234567', 'from another number', '79000000002', '1 minute');
    await sent(b, '+79991234567', 'from a name', 'OtherShop', '1 second');
    const row = await incoming('+79991234567', '79000000001', 'YES');
    assert.equal(row!.in_reply_to, last);
    assert.equal(row!.owner, appA);
    assert.equal(row!.deliveries, 1);
  });

  test('only a message that reached the SMSC, within reply_window, is answered; anything else answers nothing', async () => {
    await a.query(`select sms_send('+79991234567', 'still queued', sender => '79000000001')`);
    assert.equal((await incoming('79991234567', '79000000001', 'queued?'))!.in_reply_to, null);
    await sent(a, '+79991234568', 'long ago', '79000000001', '8 days');
    assert.equal((await incoming('79991234568', '79000000001', 'late'))!.in_reply_to, null, 'past the default 7 days');
    await tdb.pool.query(`update sms_settings set reply_window = '9 days'`);
    try {
      assert.ok((await incoming('79991234568', '79000000001', 'late again'))!.in_reply_to);
    } finally {
      await tdb.pool.query(`update sms_settings set reply_window = '7 days'`);
    }
    const fromName = await incoming('Bank', '79000000001', 'a name cannot be answered');
    assert.deepEqual([fromName!.in_reply_to, fromName!.owner], [null, null]);
  });

  test('what the writer puts in in_reply_to, owner and deliveries is not kept', async () => {
    const ours = await sent(a, '+79991234567', 'hello', '79000000001');
    const row = await incoming('79991234567', '79000000002', 'forged', { in_reply_to: ours, owner: 'someone', deliveries: 7 });
    assert.deepEqual([row!.in_reply_to, row!.owner, row!.deliveries], [null, null, 1]);
  });
});

describe('redelivery', () => {
  test('a copy of a stored SMS is counted, not stored, and answers nothing again', async () => {
    await sent(a, '+79991234567', 'Confirm order 7? Reply ДА', '79000000001');
    const first = await incoming('+79991234567', '79000000001', 'ДА');
    const copy = await incoming('79991234567', '79000000001', 'ДА');
    assert.equal(copy, null, 'no row inserted');
    const { rows } = await tdb.pool.query('select id, deliveries from sms_inbox');
    assert.deepEqual(rows, [{ id: first!.id, deliveries: 2 }]);
  });

  test('once something was sent to the number since, the same text is a new SMS; replies to the first one count once sent', async () => {
    await sent(a, '+79991234567', 'Confirm order 7? Reply ДА', '79000000001');
    const first = await incoming('79991234567', '79000000001', 'ДА');
    // A reply made to the first SMS in the transaction that stored it (what a reply handler
    // does) is no news while it waits to be sent: the copy may come first, after a reconnect.
    const { rows } = await a.query<{ id: string }>(`select sms_send('+79991234567', 'Order 7 confirmed', sender => '79000000001') as id`);
    await tdb.pool.query('update sms_outbox set reply_to_inbox = $1, created_at = (select received_at from sms_inbox where id = $1) where id = $2', [first!.id, rows[0]!.id]);
    assert.equal(await incoming('79991234567', '79000000001', 'ДА'), null);
    // Once it went out, the same text may answer it (an auto-responder does): a new SMS.
    await tdb.pool.query(`update sms_outbox set status = 'sent', submitted_at = now(), attempts = 1 where id = $1`, [rows[0]!.id]);
    const answer = await incoming('79991234567', '79000000001', 'ДА');
    assert.equal(answer!.in_reply_to, rows[0]!.id);
    const next = await sent(a, '+79991234567', 'Confirm order 8? Reply ДА', '79000000001');
    const second = await incoming('79991234567', '79000000001', 'ДА');
    assert.ok(second, 'a new answer to a new question is stored');
    assert.equal(second!.in_reply_to, next);
  });

  test('other bytes, another number, or a window of 0 make a new SMS', async () => {
    await incoming('79991234567', '79000000001', 'ДА');
    assert.ok(await incoming('79991234567', '79000000001', 'да'));
    assert.ok(await incoming('79991234567', '79000000009', 'ДА'));
    assert.ok(await incoming('79991234599', '79000000001', 'ДА'));
    await tdb.pool.query(`update sms_settings set redelivery_window = '0'`);
    try {
      assert.ok(await incoming('79991234567', '79000000001', 'ДА'));
    } finally {
      await tdb.pool.query(`update sms_settings set redelivery_window = '1 day'`);
    }
  });

  test('threading and the copy check read the number\'s rows alone, even before the tables have statistics (a new database)', async () => {
    // 3000 messages to other numbers and their 3000 answers, within the windows.
    await tdb.pool.query(`insert into sms_outbox (owner, recipient, sender, body, encoding, segments, send_at, expires_at, next_attempt_at,
                                                  status, attempts, submitted_at, done_at, receipt_state)
                          select quote_ident(current_user), (79500000000 + i)::text, '79000000001', 'Reply YES', 'gsm7', 1,
                                 now(), now() + interval '1 day', now(), 'delivered', 1, now(), now(), 'DELIVRD'
                            from generate_series(1, 3000) i`);
    await tdb.pool.query(`insert into sms_inbox (sender, recipient, body, encoding, parts)
                          select (79500000000 + i)::text, '79000000001', 'YES ' || i, 'gsm7', 1 from generate_series(1, 3000) i`);
    const c = await tdb.connect();
    try {
      await c.query('begin');
      // As in a database created today: no statistics for the planner. The trigger's plans are
      // made in this new session; after five calls PL/pgSQL keeps a generic one, as the
      // worker's long-lived session does.
      await c.query(`delete from pg_statistic where starelid in ('sms_inbox'::regclass, 'sms_outbox'::regclass)`);
      await c.query(`update pg_class set reltuples = -1, relpages = 0 where oid in ('sms_inbox'::regclass, 'sms_outbox'::regclass)`);
      for (let i = 0; i < 10; i++) {
        await c.query(`insert into sms_inbox (sender, recipient, body, encoding, parts) values ($1, '79000000001', 'news', 'gsm7', 1)`, [`7950100000${i}`]);
      }
      const { rows } = await c.query(`
        select i.indexrelid::regclass::text as index, pg_stat_get_xact_tuples_returned(i.indexrelid)::int as read
          from pg_index i where i.indrelid in ('sms_inbox'::regclass, 'sms_outbox'::regclass) and pg_stat_get_xact_tuples_returned(i.indexrelid) > 0`);
      await c.query('rollback');
      const read: Record<string, number> = Object.fromEntries(rows.map((r) => [r.index, r.read]));
      assert.ok(Object.values(read).every((n) => n < 100), `index entries read for 10 SMS: ${JSON.stringify(read)}`);
    } finally {
      await c.end();
    }
  });

  test('a redelivered stop keyword is not applied twice', async () => {
    await incoming('79991234567', '79000000001', 'STOP');
    assert.equal(await incoming('79991234567', '79000000001', 'STOP'), null);
    const { rows } = await tdb.pool.query(`select count(*)::int as n from sms_opt_out_log where recipient = '79991234567'`);
    assert.equal(rows[0].n, 1);
  });
});

describe('sms_conversation', () => {
  test('both directions, oldest first, each owner seeing its own; the reader sees every row', async () => {
    const q = await sent(a, '+79991234567', 'Confirm order 7? Reply ДА', '79000000001', '10 minutes');
    const other = await sent(b, '+79991234567', 'Your code 1234', 'OtherShop', '5 minutes');
    const answer = await incoming('+79991234567', '79000000001', 'ДА');
    const stray = await incoming('+79991234567', '79000000555', 'who is this?');
    const mine = await conversation(a, '+7 (999) 123-45-67');
    assert.deepEqual(
      mine.map((r) => [r.direction, r.id, r.in_reply_to]),
      [
        ['out', q, null],
        ['in', answer!.id, q],
      ],
    );
    assert.equal(mine[0].status, 'sent');
    assert.equal(mine[1].body, 'ДА');
    assert.deepEqual((await conversation(b, '79991234567')).map((r) => r.id), [other]);
    assert.deepEqual((await conversation(reader, '79991234567')).map((r) => r.id), [q, other, answer!.id, stray!.id]);
    assert.deepEqual(await conversation(a, '79990000000'), []);
  });

  test('a number that is not one is refused, naming phone', async () => {
    await rejectsWith(conversation(a, 'Bank'), '22023', 'phone');
    await rejectsWith(conversation(a, null as unknown as string), '22004', 'phone');
  });

  test('the worker role may not call it', async () => {
    await rejectsWith(conversation(worker, '79991234567'), '42501');
  });
});
