/**
 * Every rule sms_send enforces: the SQLSTATE, that the message (and the error's COLUMN field)
 * names the argument, and that nothing was inserted. Plus what each rule accepts and how it is
 * stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { outboxCount, rejectsWith, type PgError } from './helpers.js';
import { smartEncode } from '../../src/smpp/smart-encoding.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
});
after(() => tdb.drop());

const OK_BODY = 'Your code: 4821';

interface Args {
  recipient?: unknown;
  body?: unknown;
  sender?: unknown;
  send_at?: unknown;
  expires_at?: unknown;
  priority?: unknown;
  idempotency_key?: unknown;
  metadata?: unknown;
  category?: unknown;
}

/** sms_send with named arguments, as Supabase RPC calls it; returns the id. */
async function send(args: Args): Promise<string> {
  const a = { recipient: '+79991234567', body: OK_BODY, ...args };
  const names = Object.keys(a) as (keyof Args)[];
  const casts: Record<keyof Args, string> = {
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
  const sql = `select public.sms_send(${names.map((n, i) => `${n} => $${i + 1}::${casts[n]}`).join(', ')}) as id`;
  const r = await tdb.pool.query<{ id: string }>(sql, names.map((n) => a[n]));
  return r.rows[0]!.id;
}

/** The call must fail with `code`, name `argument`, and insert nothing. */
async function rejected(args: Args, code: string, argument: string | undefined, message?: RegExp): Promise<PgError> {
  const before = await outboxCount(tdb.pool);
  const err = await rejectsWith(send(args), code, argument);
  if (message) assert.match(err.message, message);
  assert.equal(await outboxCount(tdb.pool), before, 'a rejected call must insert nothing');
  return err;
}

/** `rejected` for one-line tests (which must resolve to nothing). */
async function must(...args: Parameters<typeof rejected>): Promise<void> {
  await rejected(...args);
}

async function stored(id: string) {
  const r = await tdb.pool.query('select * from public.sms_outbox where id = $1', [id]);
  assert.equal(r.rows.length, 1);
  return r.rows[0] as Record<string, unknown>;
}

describe('recipient', () => {
  test('null', () => must({ recipient: null }, '22004', 'recipient', /must not be null/));
  test('empty, or nothing but decoration', async () => {
    await rejected({ recipient: '' }, '22023', 'recipient', /must not be empty.*\+79991234567/);
    await rejected({ recipient: ' ( ) - ' }, '22023', 'recipient', /must not be empty/);
  });
  test('letters', () => must({ recipient: '+7999abc4567' }, '22023', 'recipient', /the letter 'a', which is not a digit/));
  test('other characters', () => must({ recipient: '+7999#1234567' }, '22023', 'recipient', /'#', which is not a digit/));
  test('a "+" that is not at the start', () => must({ recipient: '+7 999 123+4567' }, '22023', 'recipient', /"\+" after the start/));
  test('too short', () => must({ recipient: '+123456' }, '22023', 'recipient', /too short: 6 digits, at least 7/));
  test('too long', () => must({ recipient: '+1234567890123456' }, '22001', 'recipient', /too long: 16 digits, at most 15/));
  test('a leading 0 cannot be international', () => must({ recipient: '+0123456789' }, '22023', 'recipient', /starts with 0/));
  test('00 is told to use +', async () => {
    const err = await rejected({ recipient: '00 7 999 123 45 67' }, '22023', 'recipient', /international prefix 00/);
    assert.match(err.hint ?? '', /'\+79991234567'/);
  });
  test('89... (a Russian number in national form) is not a country code', async () => {
    const err = await rejected({ recipient: '8 (999) 123-45-67' }, '22023', 'recipient', /starts with 89, which is not a country code/);
    assert.match(err.hint ?? '', /'\+79991234567'/);
  });
  test('every rejection says what is expected', async () => {
    for (const recipient of ['', 'abc', '+0123456789', '0079991234567', '89991234567']) {
      const err = await rejected({ recipient }, '22023', 'recipient');
      assert.match(err.message, /international|country code/, recipient);
    }
  });
  test('decorated numbers are accepted and stored as digits', async () => {
    for (const recipient of ['+7 (999) 123-45-67', '7.999.123.45.67', '+7\u00A0999\u00A0123\u00A045\u00A067', '79991234567', ' +79991234567 ']) {
      assert.equal((await stored(await send({ recipient }))).recipient, '79991234567', recipient);
    }
    assert.equal((await stored(await send({ recipient: '+1234567' }))).recipient, '1234567');
    assert.equal((await stored(await send({ recipient: '+123456789012345' }))).recipient, '123456789012345');
  });
});

describe('body', () => {
  test('null', () => must({ body: null }, '22004', 'body', /must not be null/));
  test('empty', () => must({ body: '' }, '22023', 'body', /must not be empty/));
  test('white space only', async () => {
    await rejected({ body: ' ' }, '22023', 'body', /more than white space/);
    await rejected({ body: ' \t\r\n\f ' }, '22023', 'body', /more than white space/);
    await rejected({ body: '\u00A0\u2009\u3000\uFEFF' }, '22023', 'body', /more than white space/);
    await rejected({ body: ' '.repeat(500) }, '22023', 'body', /more than white space/);
  });
  test('control characters other than tab, LF, FF and CR', async () => {
    const err = await rejected({ body: 'Code\u0007 4821' }, '22021', 'body', /U\+0007 \(a control character\) at character 5/);
    assert.equal(err.hint, undefined);
    await rejected({ body: 'a\u001Bb' }, '22021', 'body', /U\+001B/);
    await rejected({ body: 'a\u007Fb' }, '22021', 'body', /U\+007F/);
    const c1 = await rejected({ body: 'Caf\u0085' }, '22021', 'body', /U\+0085/);
    assert.match(c1.hint ?? '', /character set/);
  });
  test('the replacement character U+FFFD means the text was mangled', async () => {
    const err = await rejected({ body: 'Код: \uFFFD4821' }, '22021', 'body', /U\+FFFD \(the replacement character.*mangled/);
    assert.match(err.hint ?? '', /UTF-8/);
  });
  test('a lone surrogate from a JavaScript string arrives as U+FFFD and is refused', () =>
    must({ body: 'broken \uD83D emoji' }, '22021', 'body', /U\+FFFD/));
  test('U+FFFE and U+FFFF are not characters', async () => {
    await rejected({ body: 'a\uFFFEb' }, '22021', 'body', /U\+FFFE \(not a character\)/);
    await rejected({ body: 'a\uFFFFb' }, '22021', 'body', /U\+FFFF/);
  });
  test('a NUL byte never reaches the function: PostgreSQL refuses it with 22021, nothing is inserted', async () => {
    const before = await outboxCount(tdb.pool);
    await rejectsWith(send({ body: 'Code\u00004821' }), '22021');
    await rejectsWith(send({ recipient: '+7999\u00001234567' }), '22021');
    assert.equal(await outboxCount(tdb.pool), before);
  });
  test('invalid UTF-8 never reaches the function either', async () => {
    const before = await outboxCount(tdb.pool);
    await rejectsWith(tdb.pool.query(`select public.sms_send('+79991234567', convert_from('\\x436fc3'::bytea, 'UTF8'))`), '22021');
    assert.equal(await outboxCount(tdb.pool), before);
  });
  test('too many segments, GSM-7 and UCS-2, say how many and the limit', async () => {
    await rejected({ body: 'a'.repeat(1531) }, '22001', 'body', /^body needs 11 segments \(GSM-7, 1531 septets\); the limit is 10$/);
    await rejected({ body: 'Ж'.repeat(671) }, '22001', 'body', /^body needs 11 segments \(UCS-2, 671 UTF-16 code units\); the limit is 10$/);
    await rejected({ body: '€'.repeat(765) }, '22001', 'body', /^body needs 11 segments \(GSM-7, 1530 septets\)/);
  });
  test('a body longer than any SMS is refused by its length, before it is scanned or counted', async () => {
    await rejected({ body: 'x'.repeat(100_000) }, '22001', 'body', /^body has 100000 characters; the limit of 10 segments holds at most 1530$/);
    await rejected({ body: '€a'.repeat(5_000_000) }, '22001', 'body', /^body has 10000000 characters; /);
  });
  test('made only of invisible characters (format characters, tags, fillers), alone or with white space', async () => {
    const invisible = [
      '\u200D',
      '\u2060\u2060\u2060',
      '\u202E',
      '\u200B\u200C\u200D\u200E\u200F \uFEFF',
      '\u00AD\u034F\u061C',
      '\u3164\u115F\uFFA0',
      '\uFE0F\u180E',
      '\u2800\u2800',
      '\u{E0041}\u{E0042}\u{E007F}', // tag characters
      '\u{E0100}', // a variation selector outside the BMP
      ' \u2066\u2069\u{1D173} ',
      '\u200D'.repeat(100), // the general path (over 70 characters)
    ];
    for (const body of invisible) {
      const err = await rejected({ body }, '22023', 'body', /more than white space and invisible characters/);
      assert.match(err.hint ?? '', /display as nothing/);
    }
  });
  // Stored as sent: smart encoding (on by default) drops an invisible character or turns a tab
  // into a space when that makes the text GSM-7, and says so in replaced_chars; with it off, the
  // text is stored exactly as given.
  test('invisible characters next to visible ones are fine', async () => {
    for (const body of ['a\u200D', '\u202Eabc', '👨\u200D👩\u200D👧', '\u2060x\u2060', 'ok\u{E0041}']) {
      const row = await stored(await send({ body }));
      const sent = smartEncode(body);
      assert.deepEqual({ body: row.body, replaced: row.replaced_chars }, { body: sent.text, replaced: sent.replaced }, JSON.stringify(body));
    }
    assert.equal((await stored(await send({ body: 'a\u200D' }))).body, 'a', 'the zero-width joiner of a Latin text goes');
    assert.equal((await stored(await send({ body: '👨\u200D👩\u200D👧' }))).body, '👨\u200D👩\u200D👧', 'an emoji sequence keeps its joiners');
  });
  test('tab, LF, CR and FF are allowed; text is stored exactly as given with smart encoding off', async () => {
    const bodies = ['a\tb', 'line1\nline2\r\nline3', 'a\fb', '  padded code 4821  ', '😀 Код'];
    for (const body of bodies) {
      const row = await stored(await send({ body }));
      assert.equal(row.body, smartEncode(body).text);
    }
    assert.equal((await stored(await send({ body: 'a\tb' }))).body, 'a b');
    const client = await tdb.connect();
    try {
      await client.query('begin');
      await client.query('update sms_settings set smart_encoding = false');
      for (const body of [...bodies, 'a\u200D', '\u2060x\u2060']) {
        const id = (await client.query<{ id: string }>(`select public.sms_send('+79991234567', $1) as id`, [body])).rows[0]!.id;
        const r = await client.query('select body, replaced_chars from public.sms_outbox where id = $1', [id]);
        assert.deepEqual(r.rows[0], { body, replaced_chars: 0 });
      }
    } finally {
      await client.query('rollback');
      await client.end();
    }
  });
});

describe('sender', () => {
  test('empty', () => must({ sender: '' }, '22023', 'sender', /must not be empty/));
  test('alphanumeric longer than 11', () => must({ sender: 'ABCDEFGHIJKL' }, '22001', 'sender', /has 12 characters; at most 11/));
  test('numeric longer than 15 digits', () => must({ sender: '+1234567890123456' }, '22001', 'sender', /has 16 digits; at most 15/));
  test('an alphanumeric sender needs a letter; a formatted phone number is told to pass digits', async () => {
    for (const sender of ['+7 999 123-45-67', '+7 999', '24-7', '+']) {
      const err = await rejected({ sender }, '22023', 'sender', /has no letter/);
      assert.match(err.hint ?? '', /digits only/);
    }
  });
  test('characters outside the GSM 7-bit basic table', async () => {
    await rejected({ sender: 'Магазин' }, '22021', 'sender', /'М' \(U\+041C\), which an alphanumeric sender cannot carry/);
    // In the GSM basic table, but not ASCII: SMPP's source_addr could not carry it.
    await rejected({ sender: 'Øresund' }, '22021', 'sender', /'Ø' \(U\+00D8\), which an alphanumeric sender cannot carry/);
    await rejected({ sender: 'Shop€' }, '22021', 'sender', /U\+20AC/);
    await rejected({ sender: 'Shop[1]' }, '22021', 'sender', /'\['/);
    await rejected({ sender: 'My\nShop' }, '22021', 'sender', /U\+000A/);
  });
  test('leading or trailing space', () => must({ sender: ' MyShop' }, '22023', 'sender', /must not start or end with a space/));
  test('a numeric sender is an international number: it cannot start with 0', async () => {
    for (const sender of ['0', '0000', '+0123456789', '00791234567']) {
      const err = await rejected({ sender }, '22023', 'sender', /starts with 0; a numeric sender is an international number/);
      assert.match(err.hint ?? '', /international form/);
    }
    await rejectsWith(tdb.pool.query(`update sms_settings set default_sender = '0'`), '22023', 'default_sender');
  });
  test('no sender and no default', async () => {
    const client = await tdb.connect();
    try {
      await client.query('begin');
      await client.query('update sms_settings set default_sender = null');
      const err = await rejectsWith(client.query(`select public.sms_send('+79991234567', 'hi')`), '22004', 'sender');
      assert.match(err.message, /no default sender is configured/);
      assert.match(err.hint ?? '', /sms_settings set default_sender/);
      assert.match(err.hint ?? '', /SMS_DEFAULT_SENDER/);
    } finally {
      await client.query('rollback');
      await client.end();
    }
  });
  test('accepted senders and how they are stored', async () => {
    const cases: [string | null, string][] = [
      [null, 'MyShop'],
      ['Shop-24', 'Shop-24'],
      ['My Shop', 'My Shop'],
      ['ABCDEFGHIJK', 'ABCDEFGHIJK'],
      ['Shop_1.ru', 'Shop_1.ru'],
      ['+79991234567', '79991234567'],
      ['123456789012345', '123456789012345'],
      ['1', '1'],
      ['900', '900'],
    ];
    for (const [sender, want] of cases) {
      assert.equal((await stored(await send({ sender }))).sender, want, String(sender));
    }
  });
  test('the default sender is checked by the same rules when it is set', async () => {
    await rejectsWith(tdb.pool.query(`update sms_settings set default_sender = 'Магазин'`), '22021', 'default_sender');
    await rejectsWith(tdb.pool.query(`update sms_settings set default_sender = 'WayTooLongName'`), '22001', 'default_sender');
    await rejectsWith(tdb.pool.query(`update sms_settings set default_sender = ''`), '22023', 'default_sender');
    const client = await tdb.connect();
    try {
      await client.query('begin');
      await client.query(`update sms_settings set default_sender = '+7 999'`).catch(() => {});
      await client.query('rollback');
      await client.query('begin');
      const r = await client.query<{ default_sender: string }>(`update sms_settings set default_sender = '+79990001122' returning default_sender`);
      assert.equal(r.rows[0]?.default_sender, '79990001122', 'a numeric default is normalised like a numeric sender');
    } finally {
      await client.query('rollback');
      await client.end();
    }
  });
});

describe('send_at and expires_at', () => {
  test('send_at must be finite', () => must({ send_at: 'infinity' }, '22023', 'send_at', /finite/));
  test('expires_at in the past', () => must({ expires_at: new Date(Date.now() - 60_000) }, '22023', 'expires_at', /is in the past/));
  test('expires_at before send_at', () =>
    must(
      { send_at: new Date(Date.now() + 3_600_000), expires_at: new Date(Date.now() + 1_800_000) },
      '22023',
      'expires_at',
      /is not after send_at/,
    ));
  test('expires_at equal to send_at', async () => {
    const at = new Date(Date.now() + 3_600_000);
    await rejected({ send_at: at, expires_at: at }, '22023', 'expires_at', /is not after send_at/);
  });
  test('expires_at must be finite', async () => {
    await rejected({ expires_at: 'infinity' }, '22023', 'expires_at', /finite/);
    await rejected({ expires_at: '-infinity' }, '22023', 'expires_at', /finite/);
  });
  test('a time from the year 10000 on is refused naming the argument (the last time PostgreSQL stores overflowed unnamed)', async () => {
    await rejected({ send_at: '294276-12-31' }, '22008', 'send_at', /^send_at .* is too far in the future; expected a time before the year 10000$/);
    await rejected({ expires_at: '294276-12-31' }, '22008', 'expires_at', /^expires_at .* is too far in the future/);
    await rejected({ send_at: '10000-01-01T00:00:00Z' }, '22008', 'send_at');
    await rejected({ send_at: '294276-12-30', expires_at: '294276-12-31' }, '22008', 'send_at');
  });
  test('the year 9999 is still fine, as long as the expiry computed from it is too', async () => {
    const row = await stored(await send({ send_at: '9999-12-30T12:00:00Z' }));
    assert.equal((row.send_at as Date).toISOString(), '9999-12-30T12:00:00.000Z');
    assert.equal((row.expires_at as Date).toISOString(), '9999-12-31T12:00:00.000Z', 'send_at plus the default validity (24 hours)');
    const late = await stored(await send({ send_at: '9999-12-31T12:00:00Z', expires_at: '9999-12-31T23:59:59Z' }));
    assert.equal((late.expires_at as Date).toISOString(), '9999-12-31T23:59:59.000Z');
  });

  test('a send_at whose default expiry (send_at plus the default validity) falls in the year 10000: 22008 naming send_at, nothing stored', async () => {
    // The README promises no stored time from the year 10000 on: many clients cannot read one
    // (Python's datetime stops at 9999). With and without a key.
    await rejected({ send_at: '9999-12-31T23:00:00Z' }, '22008', 'send_at', /year 10000/);
    await rejected({ send_at: '9999-12-31T12:00:00Z', idempotency_key: 'late-key' }, '22008', 'send_at', /default validity/);
    await rejected({ send_at: '9999-12-31T12:00:00Z', priority: 3 }, '22008', 'send_at');
    const { rows } = await tdb.pool.query(`select count(*)::int as n from sms_outbox where expires_at >= '10000-01-01'`);
    assert.equal(rows[0].n, 0);
  });

  test('the default validity is at most 100 years, so now() plus it stays far from the year 10000', async () => {
    const c = await tdb.connect();
    try {
      await c.query('begin');
      const err = await rejectsWith(c.query(`update sms_settings set default_validity = '8000 years'`), '22023', 'default_validity');
      assert.match(err.message, /at most 100 years/);
      await c.query('rollback');
      await c.query('begin');
      await c.query(`update sms_settings set default_validity = '100 years'`);
      await c.query('rollback');
    } finally {
      await c.end();
    }
  });
});

describe('priority', () => {
  test('outside -10..10', async () => {
    await rejected({ priority: 11 }, '22003', 'priority', /between -10 and 10.*got 11/);
    await rejected({ priority: -11 }, '22003', 'priority', /got -11/);
    await rejected({ priority: 2147483647 }, '22003', 'priority');
  });
  test('the range ends and NULL (= 0) are accepted', async () => {
    assert.equal((await stored(await send({ priority: 10 }))).priority, 10);
    assert.equal((await stored(await send({ priority: -10 }))).priority, -10);
    assert.equal((await stored(await send({ priority: null }))).priority, 0);
  });
});

describe('metadata', () => {
  test('anything but a JSON object', async () => {
    await rejected({ metadata: '[1, 2]' }, '22023', 'metadata', /must be a JSON object, got a JSON array/);
    await rejected({ metadata: '"order 42"' }, '22023', 'metadata', /got a JSON string/);
    await rejected({ metadata: '42' }, '22023', 'metadata', /got a JSON number/);
    await rejected({ metadata: 'true' }, '22023', 'metadata', /got a JSON boolean/);
  });
  test('larger than 8 KiB as JSON text', () =>
    must({ metadata: JSON.stringify({ blob: 'x'.repeat(8200) }) }, '22001', 'metadata', /at most 8192/));
  test('an object up to the limit is stored as given; JSON null means none', async () => {
    const meta = { order_id: 42, tags: ['otp'], nested: { ok: true } };
    assert.deepEqual((await stored(await send({ metadata: JSON.stringify(meta) }))).metadata, meta);
    const big = { blob: 'x'.repeat(8192 - 12) }; // {"blob": "..."} is 8192 bytes as jsonb text
    assert.equal(JSON.stringify(big).length + 1, 8192);
    assert.deepEqual((await stored(await send({ metadata: JSON.stringify(big) }))).metadata, big);
    assert.equal((await stored(await send({ metadata: 'null' }))).metadata, null);
  });
});

describe('category', () => {
  test('anything but transactional or marketing', async () => {
    await rejected({ category: 'promo' }, '22023', 'category', /^category must be 'transactional' or 'marketing', got 'promo'$/);
    await rejected({ category: 'Marketing' }, '22023', 'category', /got 'Marketing'/);
    await rejected({ category: '' }, '22023', 'category', /got ''$/);
    const err = await rejected({ category: 'x'.repeat(5000) }, '22023', 'category');
    assert.ok(err.message.length < 200, 'a long value is not echoed whole');
  });
  test('transactional by default and for NULL; marketing as asked', async () => {
    assert.equal((await stored(await send({}))).category, 'transactional');
    assert.equal((await stored(await send({ category: null }))).category, 'transactional');
    assert.equal((await stored(await send({ category: 'transactional' }))).category, 'transactional');
    const row = await stored(await send({ category: 'marketing' }));
    assert.deepEqual([row.category, row.status], ['marketing', 'queued']);
  });
});

describe('idempotency_key', () => {
  test('empty', () => must({ idempotency_key: '' }, '22023', 'idempotency_key', /must not be empty/));
  test('longer than 255 characters', () => must({ idempotency_key: 'k'.repeat(256) }, '22001', 'idempotency_key', /256 characters; at most 255/));
  test('255 characters are fine', async () => {
    assert.equal((await stored(await send({ idempotency_key: 'k'.repeat(255) }))).idempotency_key, 'k'.repeat(255));
  });
});

test('positional calls work the same as named ones', async () => {
  const r = await tdb.pool.query<{ id: string }>(`select public.sms_send('+79991234567', 'positional', 'Shop', null, null, 3) as id`);
  const row = await stored(r.rows[0]!.id);
  assert.equal(row.sender, 'Shop');
  assert.equal(row.priority, 3);
});

test('a database whose sms_settings row was deleted says how to repair it (55000), inserting nothing', async () => {
  const client = await tdb.connect();
  try {
    await client.query('begin');
    await client.query('delete from sms_settings');
    const before = await outboxCount(client);
    await client.query('savepoint s');
    const err = await rejectsWith(client.query(`select public.sms_send('+79991234567', 'hi')`), '55000');
    assert.match(err.message, /sms_settings has no row/);
    assert.match(err.hint ?? '', /insert into sms_settings default values/);
    await client.query('rollback to savepoint s');
    assert.equal(await outboxCount(client), before);
  } finally {
    await client.query('rollback');
    await client.end();
  }
});
