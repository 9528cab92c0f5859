/**
 * An app's INSERT INTO sms_outbox is sms_send by another door: the same table of good and bad
 * inputs goes through `select sms_send(...)` and through `insert into sms_outbox (...)`, as a
 * sender role, one row at a time and as one `insert ... select` of 10,000 rows, and gives the
 * same rows (owner included; times compared relative to the transaction's start) and the same
 * SQLSTATEs (and messages). Also: RETURNING id, the columns an app may not set, idempotency
 * keys (a repeat is skipped), the wake-up and status notifications, and that an INSERT naming
 * owner (the table owner's raw INSERT) is left alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { asRole, type PgError, TestRoles } from './helpers.js';

let tdb: TestDatabase;
let client: pg.Client;
const roles = new TestRoles();
let sender: string;
let other: string;

/** sms_send's arguments; times are SQL expressions (relative to now()), the rest parameters. */
interface Input {
  recipient?: string | null;
  body?: string | null;
  sender?: string | null;
  send_at?: string;
  expires_at?: string;
  priority?: number | null;
  idempotency_key?: string | null;
  metadata?: unknown;
  category?: string | null;
}

const TYPES: Record<keyof Input, string> = {
  recipient: 'text',
  body: 'text',
  sender: 'text',
  send_at: 'timestamptz',
  expires_at: 'timestamptz',
  priority: 'integer',
  idempotency_key: 'text',
  metadata: 'jsonb',
  category: 'text',
};
const TIMES = new Set(['send_at', 'expires_at']);

const GOOD: [string, Input][] = [
  ['the usual call', { recipient: '+79991234567', body: 'Your code: 4821' }],
  ['a formatted number, Cyrillic', { recipient: '+7 (999) 123-45-67', body: 'Код: 4821' }],
  ['a number without +', { recipient: '79991234567', body: 'hello' }],
  ['a long GSM-7 body (3 parts)', { recipient: '+79991234567', body: 'x'.repeat(400) }],
  ['extension characters count 2', { recipient: '+79991234567', body: '{}[]~|^€\\'.repeat(20) }],
  ['a long UCS-2 body', { recipient: '+79991234567', body: 'Ж'.repeat(200) }],
  ['outside the BMP', { recipient: '+79991234567', body: 'ok 😀' }],
  ['smart encoding replaces look-alikes', { recipient: '+79991234567', body: '“Quoted” — text…' }],
  ['an alphanumeric sender', { recipient: '+79991234567', body: 'hi', sender: 'MyShop' }],
  ['a numeric sender', { recipient: '+79991234567', body: 'hi', sender: '79990001122' }],
  ['send_at in the future', { recipient: '+79991234567', body: 'later', send_at: `now() + interval '1 hour'` }],
  ['send_at in the past', { recipient: '+79991234567', body: 'now', send_at: `now() - interval '1 hour'` }],
  ['expires_at', { recipient: '+79991234567', body: 'soon', expires_at: `now() + interval '10 minutes'` }],
  ['send_at and expires_at', { recipient: '+79991234567', body: 'window', send_at: `now() + interval '1 hour'`, expires_at: `now() + interval '2 hours'` }],
  ['priority 10', { recipient: '+79991234567', body: 'urgent', priority: 10 }],
  ['priority -10', { recipient: '+79991234567', body: 'whenever', priority: -10 }],
  ['priority null', { recipient: '+79991234567', body: 'default', priority: null }],
  ['an idempotency key', { recipient: '+79991234567', body: 'keyed', idempotency_key: 'order-1' }],
  ['metadata', { recipient: '+79991234567', body: 'meta', metadata: { order_id: 42 } }],
  ['metadata JSON null', { recipient: '+79991234567', body: 'meta', metadata: null }],
  ['marketing', { recipient: '+79991234567', body: 'Sale!', category: 'marketing' }],
  ['marketing to an opted-out number: stored rejected', { recipient: '+79990000001', body: 'Sale!', category: 'marketing' }],
  ['transactional to an opted-out number', { recipient: '+79990000001', body: 'Your code', category: 'transactional' }],
  ['category null', { recipient: '+79991234567', body: 'plain', category: null }],
  ['every argument', {
    recipient: '+7 999 123 45 67', body: 'all of it', sender: 'Brand', send_at: `now() + interval '5 minutes'`,
    expires_at: `now() + interval '1 day'`, priority: 3, idempotency_key: 'all-1', metadata: { a: [1, 2] }, category: 'marketing',
  }],
];

const BAD: [string, Input][] = [
  ['no recipient', { recipient: null, body: 'x' }],
  ['a recipient with letters', { recipient: 'call me', body: 'x' }],
  ['a recipient too short', { recipient: '+7999', body: 'x' }],
  ['a recipient too long', { recipient: '+7999123456789012', body: 'x' }],
  ['a Russian trunk prefix', { recipient: '89991234567', body: 'x' }],
  ['no body', { recipient: '+79991234567', body: null }],
  ['an empty body', { recipient: '+79991234567', body: '' }],
  ['a blank body', { recipient: '+79991234567', body: '   ' }],
  ['a control character', { recipient: '+79991234567', body: 'a\u0007b' }],
  ['a body over 10 parts', { recipient: '+79991234567', body: 'x'.repeat(1600) }],
  ['a huge body', { recipient: '+79991234567', body: 'x'.repeat(50_000) }],
  ['a sender too long', { recipient: '+79991234567', body: 'x', sender: 'MuchTooLongName' }],
  ['a sender with Cyrillic', { recipient: '+79991234567', body: 'x', sender: 'Магазин' }],
  ['an empty sender', { recipient: '+79991234567', body: 'x', sender: '' }],
  ['send_at infinity', { recipient: '+79991234567', body: 'x', send_at: `'infinity'` }],
  ['send_at in the year 10000', { recipient: '+79991234567', body: 'x', send_at: `'10000-01-02'` }],
  ['send_at whose default expiry reaches 10000', { recipient: '+79991234567', body: 'x', send_at: `'9999-12-31 12:00:00+00'` }],
  ['expires_at in the past', { recipient: '+79991234567', body: 'x', expires_at: `now() - interval '1 minute'` }],
  ['expires_at before send_at', { recipient: '+79991234567', body: 'x', send_at: `now() + interval '2 hours'`, expires_at: `now() + interval '1 hour'` }],
  ['expires_at -infinity', { recipient: '+79991234567', body: 'x', expires_at: `'-infinity'` }],
  ['priority 11', { recipient: '+79991234567', body: 'x', priority: 11 }],
  ['priority -11', { recipient: '+79991234567', body: 'x', priority: -11 }],
  ['an empty idempotency key', { recipient: '+79991234567', body: 'x', idempotency_key: '' }],
  ['an idempotency key too long', { recipient: '+79991234567', body: 'x', idempotency_key: 'k'.repeat(256) }],
  ['metadata an array', { recipient: '+79991234567', body: 'x', metadata: [1, 2] }],
  ['metadata a string', { recipient: '+79991234567', body: 'x', metadata: 'note' }],
  ['metadata too large', { recipient: '+79991234567', body: 'x', metadata: { blob: 'y'.repeat(9000) } }],
  ['an unknown category', { recipient: '+79991234567', body: 'x', category: 'promo' }],
  ['several problems: the first is reported', { recipient: 'x', body: '', priority: 99 }],
];

function keysOf(input: Input): (keyof Input)[] {
  return (Object.keys(TYPES) as (keyof Input)[]).filter((k) => k in input);
}

/** Parameters and SQL value expressions for `input`'s arguments, in keysOf order. */
function values(input: Input, first = 1): { exprs: string[]; params: unknown[] } {
  const exprs: string[] = [];
  const params: unknown[] = [];
  for (const k of keysOf(input)) {
    if (TIMES.has(k)) {
      exprs.push(`(${input[k] as string})::timestamptz`);
    } else {
      const v = input[k];
      params.push(k === 'metadata' && v !== null ? JSON.stringify(v) : v);
      exprs.push(`$${first + params.length - 1}::${TYPES[k]}`);
    }
  }
  return { exprs, params };
}

function sendSql(input: Input): { sql: string; params: unknown[] } {
  const { exprs, params } = values(input);
  const args = keysOf(input).map((k, i) => `${k} => ${exprs[i]}`);
  return { sql: `select public.sms_send(${args.join(', ')}) as id`, params };
}

function insertSql(input: Input): { sql: string; params: unknown[] } {
  const { exprs, params } = values(input);
  return { sql: `insert into public.sms_outbox (${keysOf(input).join(', ')}) values (${exprs.join(', ')}) returning id`, params };
}

/** A row as both paths must store it: every column but the id, times relative to created_at. */
const ROW = `
  select to_jsonb(o) - 'id' - 'created_at' - 'updated_at' - 'send_at' - 'expires_at' - 'next_attempt_at' - 'done_at'
         || jsonb_build_object('send_at', o.send_at - o.created_at, 'expires_at', o.expires_at - o.created_at,
                               'next_attempt_at', o.next_attempt_at - o.created_at, 'done_at', o.done_at - o.created_at,
                               'created_now', o.created_at = now(), 'updated_now', o.updated_at = now(),
                               'uuidv7', o.id::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7') as row
    from public.sms_outbox o`;

type Outcome = { rows: unknown[]; ids: string[] } | { code: string; message: string; column: string | undefined };

/** Runs `sql` as the sender in a transaction that is rolled back; the rows it added, or its error. */
async function outcome(sql: string, params: unknown[], setup?: string): Promise<Outcome> {
  await client.query('begin');
  try {
    const before = new Date((await client.query<{ t: Date }>('select clock_timestamp() as t')).rows[0]!.t);
    if (setup) await asRole(client, sender, () => client.query(setup));
    await client.query(`savepoint attempt; set role ${sender}`);
    try {
      await client.query(sql, params);
    } catch (err) {
      const e = err as PgError;
      await client.query('rollback to savepoint attempt; reset role');
      // Times in a message are the transaction's (now()): each path has its own.
      return { code: e.code!, message: e.message.replace(/\d{4,5}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+\d\d/g, '<time>'), column: e.column };
    }
    await client.query('reset role');
    const rows = await client.query<{ row: unknown; id: string }>(
      `${ROW.replace('as row', 'as row, o.id')} where o.created_at = now() and o.id >= sms_private.uuidv7_floor($1) order by o.id`,
      [before],
    );
    return { rows: rows.rows.map((r) => r.row), ids: rows.rows.map((r) => r.id) };
  } finally {
    await client.query('rollback');
  }
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  await tdb.pool.query(`select sms_opt_out('+79990000001')`);
  sender = await roles.create({ memberOf: ['sms_sender'] });
  other = await roles.create({ memberOf: ['sms_sender'] });
  client = await tdb.connect();
});
after(async () => {
  await client?.end();
  await tdb.drop();
  await roles.dropAll();
});

describe('the same inputs through sms_send and INSERT INTO sms_outbox, one row at a time', () => {
  for (const [name, input] of GOOD) {
    test(`good: ${name}: the same row, and RETURNING id is its id`, async () => {
      const s = sendSql(input);
      const i = insertSql(input);
      const viaSend = await outcome(s.sql, s.params);
      const viaInsert = await outcome(i.sql, i.params);
      assert.ok('rows' in viaSend, `sms_send: ${JSON.stringify(viaSend)}`);
      assert.ok('rows' in viaInsert, `INSERT: ${JSON.stringify(viaInsert)}`);
      assert.equal(viaInsert.rows.length, 1);
      assert.deepEqual(viaInsert.rows, viaSend.rows);
      assert.equal((viaInsert.rows[0] as { owner: string }).owner, sender, 'owned by the role that inserted it');
    });
  }
  for (const [name, input] of BAD) {
    test(`bad: ${name}: the same error, nothing inserted`, async () => {
      const s = sendSql(input);
      const i = insertSql(input);
      const viaSend = await outcome(s.sql, s.params);
      const viaInsert = await outcome(i.sql, i.params);
      assert.ok('code' in viaSend, `sms_send accepted it: ${JSON.stringify(viaSend)}`);
      assert.deepEqual(viaInsert, viaSend);
      assert.match(viaSend.code, /^(22|23)/, `a class 22 or 23 SQLSTATE, got ${viaSend.code}`);
    });
  }

  test('a priority beyond smallint: the same SQLSTATE (22003), the column type says it first', async () => {
    const input = { recipient: '+79991234567', body: 'x', priority: 40_000 };
    const s = sendSql(input);
    const i = insertSql(input);
    const viaSend = await outcome(s.sql, s.params);
    const viaInsert = await outcome(i.sql, i.params);
    assert.ok('code' in viaSend && 'code' in viaInsert);
    assert.equal(viaInsert.code, viaSend.code);
    assert.equal(viaSend.code, '22003');
  });
});

describe('the same inputs as one statement of 10,000 rows', () => {
  /** 10,000 inputs cycling through the good cases; keys made unique per row, except repeats. */
  const MANY = 10_000;
  const inputs = Array.from({ length: MANY }, (_, n) => {
    const input = { ...GOOD[n % GOOD.length]![1] };
    // The same case 300 rounds later repeats the key, so some rows repeat an earlier one.
    if (input.idempotency_key) input.idempotency_key = `${input.idempotency_key}:${Math.floor(n / GOOD.length) % 300}`;
    return input;
  });
  const columns = Object.keys(TYPES) as (keyof Input)[];
  /** The inputs as rows of a set: ($1::jsonb holds them; times are SQL expressions, chosen per row). */
  const source = `
    from jsonb_array_elements($1::jsonb) with ordinality as j(x, n)
    cross join lateral (select ${columns
      .map((k) =>
        TIMES.has(k)
          ? `case j.x ->> '${k}' ${[...new Set([...GOOD, ...BAD].map(([, x]) => x[k]).filter((v) => v !== undefined))]
              .map((expr) => `when ${`'${(expr as string).replaceAll("'", "''")}'`} then ${expr}`)
              .join(' ')} end::timestamptz as ${k}`
          : k === 'metadata'
            ? `j.x -> 'metadata' as metadata`
            : `(j.x ->> '${k}')::${TYPES[k]} as ${k}`,
      )
      .join(', ')}) a`;
  const sendAll = (withBad?: Input) => ({
    sql: `select public.sms_send(${columns.map((k) => `${k} => a.${k}`).join(', ')}) as id ${source} order by j.n`,
    params: [JSON.stringify(rowsWith(withBad))],
  });
  const insertAll = (withBad?: Input) => ({
    sql: `insert into public.sms_outbox (${columns.join(', ')}) select ${columns.map((k) => `a.${k}`).join(', ')} ${source} order by j.n returning id`,
    params: [JSON.stringify(rowsWith(withBad))],
  });
  /**
   * Every row names every argument: sms_send's defaults where the case leaves one out, as the
   * table's are. A bad row goes in at row 2,500 (the statement stops there: the rows before it
   * were inserted and go with it).
   */
  function rowsWith(bad?: Input): Record<string, unknown>[] {
    const all = bad ? [...inputs.slice(0, 2_499), bad, ...inputs.slice(2_500)] : inputs;
    return all.map((x) => ({ priority: 0, category: 'transactional', ...x }));
  }

  test('10,000 good rows (some repeating an idempotency key): the same rows, the repeats inserted once', async () => {
    const s = sendAll();
    const i = insertAll();
    const viaSend = await outcome(s.sql, s.params);
    const viaInsert = await outcome(i.sql, i.params);
    assert.ok('rows' in viaSend && 'rows' in viaInsert, JSON.stringify([viaSend, viaInsert]).slice(0, 500));
    const keyed = inputs.filter((x) => x.idempotency_key).length;
    const repeats = keyed - new Set(inputs.filter((x) => x.idempotency_key).map((x) => x.idempotency_key)).size;
    assert.ok(repeats > 0);
    assert.equal(viaSend.rows.length, MANY - repeats);
    const sort = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
    assert.deepEqual(sort(viaInsert.rows), sort(viaSend.rows));
  });

  // One bad value of each argument, a refusal by the settings, and a key used twice in the
  // statement for two messages (every bad input goes through both one row at a time above).
  const inMany: [string, Input][] = [
    ...BAD.filter(([n]) =>
      ['a recipient with letters', 'an empty body', 'a body over 10 parts', 'a sender too long', 'send_at in the year 10000',
       'expires_at before send_at', 'priority 11', 'an empty idempotency key', 'metadata an array', 'an unknown category'].includes(n),
    ),
    ['a key used before in the statement, for another message', { recipient: '+79991234567', body: 'another', idempotency_key: inputs.find((x) => x.idempotency_key)!.idempotency_key! }],
  ];
  assert.equal(inMany.length, 11);
  for (const [name, input] of inMany) {
    test(`one bad row among 10,000 (${name}): the same error, nothing inserted`, async () => {
      const s = sendAll(input);
      const i = insertAll(input);
      const viaSend = await outcome(s.sql, s.params);
      const viaInsert = await outcome(i.sql, i.params);
      assert.ok('code' in viaSend, 'sms_send refused it');
      assert.deepEqual(viaInsert, viaSend);
    });
  }
});

describe('what an INSERT may set', () => {
  /** A value of each column type sms_outbox has (a new type makes this test fail until added). */
  const SAMPLE: Record<string, string> = {
    uuid: `'01234567-89ab-7def-8123-456789abcdef'`,
    'timestamp with time zone': 'now()',
    text: `'x'`,
    integer: '1',
    smallint: '1',
    jsonb: `'{}'`,
    'text[]': `'{x}'`,
    bytea: `'\\x00'`,
  };
  const APP = new Set(Object.keys(TYPES));

  test('every other column is refused by name (428C9); owner cannot be named at all (42501)', async () => {
    const cols = await tdb.pool.query<{ name: string; type: string }>(
      `select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
        where attrelid = 'public.sms_outbox'::regclass and attnum > 0 and not attisdropped order by attnum`,
    );
    assert.ok(cols.rows.length > 30);
    for (const { name, type } of cols.rows) {
      if (APP.has(name)) continue;
      assert.ok(SAMPLE[type], `a sample value for ${type} (column ${name})`);
      const r = await outcome(`insert into public.sms_outbox (recipient, body, ${name}) values ('+79991234567', 'x', ${SAMPLE[type]}) returning id`, []);
      if (name === 'owner') {
        assert.ok('code' in r && r.code === '42501', `owner: ${JSON.stringify(r)}`);
      } else {
        assert.ok('code' in r, `${name} was accepted`);
        assert.equal(r.code, '428C9', `${name}: ${r.message}`);
        assert.equal(r.column, name);
        assert.match(r.message, new RegExp(`\\b${name}\\b`));
      }
    }
  });

  test('the worker and reader roles may not insert', async () => {
    for (const role of ['sms_worker', 'sms_reader']) {
      const r = await tdb.pool.connect();
      try {
        await r.query(`set role ${role}`);
        await assert.rejects(r.query(`insert into public.sms_outbox (recipient, body) values ('+79991234567', 'x')`), { code: '42501' });
      } finally {
        await r.query('reset role');
        r.release();
      }
    }
  });

  test('a sender sees the ids of its own messages and nothing else of the table', async () => {
    await client.query('begin');
    try {
      await client.query(`insert into public.sms_outbox (recipient, body) values ('+79991234567', 'the owner''s') returning id`);
      await asRole(client, other, () => client.query(`insert into public.sms_outbox (recipient, body) values ('+79991234567', 'another sender''s')`));
      const mine = await asRole(client, sender, async () =>
        (await client.query<{ id: string }>(`insert into public.sms_outbox (recipient, body) values ('+79991234567', 'mine') returning id`)).rows[0]!.id,
      );
      const seen = await asRole(client, sender, async () => (await client.query<{ id: string }>('select id from public.sms_outbox')).rows.map((r) => r.id));
      // The session's login is the owner (postgres here): its messages are the session's too, as
      // sms_status shows them (a SET ROLE to another role counts as that role).
      const login = (await client.query<{ id: string }>(`select id from public.sms_outbox where owner = quote_ident(session_user)`)).rows.map((r) => r.id);
      assert.deepEqual(seen.sort(), [...login, mine].sort());
      assert.ok(login.length >= 1);
      await client.query(`savepoint body; set role ${sender}`);
      await assert.rejects(client.query('select body from public.sms_outbox'), { code: '42501' });
      await client.query('rollback to savepoint body');
    } finally {
      await client.query('rollback');
    }
  });

  test("the table owner's INSERT naming owner is taken as it is (fixtures, restores), with the usual defaults", async () => {
    const r = await tdb.pool.query<{ id: string; status: string; attempts: number; created: boolean; retries: number }>(
      `insert into public.sms_outbox (owner, recipient, sender, body, encoding, segments, send_at, expires_at, next_attempt_at, status, attempts, submitted_at)
       values ('someone', '1', 'Raw', 'raw', 'gsm7', 1, now(), now() + interval '1 day', now(), 'sent', 1, now())
       returning id, status, attempts, created_at = now() as created, retries`,
    );
    assert.match(r.rows[0]!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    assert.deepEqual({ ...r.rows[0], id: undefined }, { id: undefined, status: 'sent', attempts: 1, created: true, retries: 0 });
    await tdb.pool.query('delete from public.sms_outbox where id = $1', [r.rows[0]!.id]);
  });
});

describe('idempotency keys', () => {
  const first = { recipient: '+79991234567', body: 'Order 7 shipped', idempotency_key: 'ship:7' };

  test('a repeat: sms_send returns the first id, INSERT inserts nothing (no row from RETURNING); both insert nothing', async () => {
    const s = sendSql(first);
    const i = insertSql(first);
    for (const setup of [s, i]) {
      const viaSend = await outcome(s.sql, s.params, pgFormat(setup));
      const viaInsert = await outcome(i.sql, i.params, pgFormat(setup));
      assert.ok('rows' in viaSend && 'rows' in viaInsert);
      assert.equal(viaSend.rows.length, 1, 'the first message (inserted by the setup) and no other');
      assert.deepEqual(viaInsert.rows, viaSend.rows);
    }
  });

  test('the same key with another message: 23505 from both', async () => {
    const other = { ...first, body: 'Order 8 shipped' };
    const s = sendSql(other);
    const i = insertSql(other);
    for (const setup of [sendSql(first), insertSql(first)]) {
      const viaSend = await outcome(s.sql, s.params, pgFormat(setup));
      const viaInsert = await outcome(i.sql, i.params, pgFormat(setup));
      assert.ok('code' in viaSend && viaSend.code === '23505', JSON.stringify(viaSend));
      assert.deepEqual(viaInsert, viaSend);
    }
  });

  test("another owner's key neither collides nor shows", async () => {
    const i = insertSql(first);
    const r = await outcome(i.sql, i.params, `reset role; ${pgFormat(sendSql(first))}; set role ${sender}`);
    assert.ok('rows' in r);
    assert.equal(r.rows.length, 2, "the owner's message and the sender's own");
  });
});

describe('notifications', () => {
  async function notified(sql: string, params: unknown[], armed: boolean): Promise<{ channel: string; payload: string }[]> {
    const listener = await tdb.connect();
    const seen: { channel: string; payload: string }[] = [];
    listener.on('notification', (n) => seen.push({ channel: n.channel, payload: n.payload ?? '' }));
    await listener.query('listen sms_outbox_wakeup; listen sms_status');
    try {
      await tdb.pool.query(`update sms_wakeup set armed_until = case when $1 then now() + interval '1 hour' end`, [armed]);
      await client.query('begin');
      const ids = await asRole(client, sender, async () => (await client.query<{ id: string }>(sql, params)).rows.map((r) => r.id));
      await client.query('commit');
      await tdb.pool.query('delete from sms_outbox where id = any($1)', [ids]);
      await listener.query('select 1');
      await new Promise((r) => setTimeout(r, 100));
      return seen.map((n) => ({ channel: n.channel, payload: n.payload.replace(/"id" : "[^"]+"/, '"id" : "…"') }));
    } finally {
      await listener.end();
      await tdb.pool.query('update sms_wakeup set armed_until = null');
    }
  }

  for (const [name, input, armed] of [
    ['an idle worker is woken (once per transaction)', { recipient: '+79991234567', body: 'wake' }, true],
    ['a busy worker is not', { recipient: '+79991234567', body: 'busy' }, false],
    ['a message stored rejected is announced', { recipient: '+79990000001', body: 'Sale', category: 'marketing' }, true],
  ] as const) {
    test(`${name}: the same NOTIFYs from both`, async () => {
      const s = sendSql(input);
      const i = insertSql(input);
      const viaSend = await notified(s.sql, s.params, armed);
      const viaInsert = await notified(i.sql, i.params, armed);
      assert.deepEqual(viaInsert, viaSend);
      if (armed && !('category' in input)) assert.deepEqual(viaSend.map((n) => n.channel), ['sms_outbox_wakeup']);
      if (!armed) assert.deepEqual(viaSend, []);
      if ('category' in input) assert.deepEqual(viaSend.map((n) => n.channel), ['sms_status']);
    });
  }

  test('an insert ... select of 100 rows wakes the worker once', async () => {
    const seen = await notified(
      `insert into public.sms_outbox (recipient, body) select '+7999123' || lpad(i::text, 4, '0'), 'bulk ' || i from generate_series(1, 100) i returning id`,
      [],
      true,
    );
    assert.deepEqual(seen.map((n) => n.channel), ['sms_outbox_wakeup']);
  });
});

/** A statement with its parameters written in (for a setup step). */
function pgFormat(q: { sql: string; params: unknown[] }): string {
  return q.sql.replace(/\$(\d+)::(\w+)/g, (_, n: string, type: string) => {
    const v = q.params[Number(n) - 1];
    return v === null || v === undefined ? `null::${type}` : `'${String(v).replaceAll("'", "''")}'::${type}`;
  });
}
