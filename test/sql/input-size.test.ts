/**
 * Oversized text is refused by its length before anything scans it, in every SQL entry point
 * that takes text: a 10-million-character body used to cost seconds of backend CPU (the segment
 * counter's walk) before it was refused, and a long recipient or sender came back whole inside
 * the error message. Tests do not time anything: the error says which check refused the value
 * ("has N characters", not "needs N segments"), and the message stays short.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { outboxCount, rejectsWith } from './helpers.js';

let tdb: TestDatabase;
const TEN_MILLION = 10_000_000;
/** Extension-table characters: the slowest text for the counter (a greedy walk per character). */
const slowest = '€a'.repeat(TEN_MILLION / 2);

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
});
after(() => tdb.drop());

async function refused(sql: string, params: unknown[], code: string, argument: string, message: RegExp): Promise<void> {
  const before = await outboxCount(tdb.pool);
  const err = await rejectsWith(tdb.pool.query(sql, params), code, argument);
  assert.match(err.message, message);
  assert.ok(err.message.length < 300, `the message does not echo the value (${err.message.length} characters)`);
  assert.equal(await outboxCount(tdb.pool), before);
}

describe('sms_send', () => {
  test('body: 22001 by length, with the limit the settings allow', () =>
    refused(`select public.sms_send('+79991234567', $1)`, [slowest], '22001', 'body', /^body has 10000000 characters; the limit of 10 segments holds at most 1530$/));

  test('body through the general path (with an idempotency key) too', () =>
    refused(`select public.sms_send('+79991234567', $1, idempotency_key => 'k')`, [slowest], '22001', 'body', /^body has 10000000 characters/));

  test('recipient: 22001 by length, not echoed', () =>
    refused(`select public.sms_send($1, 'hi')`, ['1'.repeat(TEN_MILLION)], '22001', 'recipient', /^recipient has 10000000 characters; expected a phone number/));

  test('sender: 22001 by length, not echoed', () =>
    refused(`select public.sms_send('+79991234567', 'hi', sender => $1)`, ['a'.repeat(TEN_MILLION)], '22001', 'sender', /^sender has 10000000 characters; at most 11/));

  test('idempotency_key: 22001 by length, before the body is looked at', () =>
    refused(`select public.sms_send('+79991234567', $1, idempotency_key => $2)`, [slowest, 'k'.repeat(TEN_MILLION)], '22001', 'idempotency_key', /^idempotency_key has 10000000 characters; at most 255/));

  test('a 65-character recipient is refused by length; 64 characters of decoration still get the full diagnosis', async () => {
    await refused(`select public.sms_send($1, 'hi')`, [`+7 ${'-'.repeat(62)}`], '22001', 'recipient', /^recipient has 65 characters/);
    await refused(`select public.sms_send($1, 'hi')`, [`+7 ${'-'.repeat(61)}`], '22023', 'recipient', /is too short: 1 digits/);
  });
});

describe('sms_segments', () => {
  test('a text longer than any SMS is 22001, not counted', async () => {
    const err = await rejectsWith(tdb.pool.query('select * from public.sms_segments($1)', [slowest]), '22001', 'body');
    assert.match(err.message, /^body has 10000000 characters; no SMS holds more than 39015/);
  });

  test('39015 characters, the most 255 parts hold, are still counted', async () => {
    const r = await tdb.pool.query('select * from public.sms_segments($1)', ['x'.repeat(39015)]);
    assert.deepEqual(r.rows[0], { encoding: 'gsm7', units: 39015, segments: 255 });
  });
});

describe('the default sender', () => {
  test('22001 by length, not echoed', async () => {
    const err = await rejectsWith(tdb.pool.query('update sms_settings set default_sender = $1', ['a'.repeat(TEN_MILLION)]), '22001', 'default_sender');
    assert.ok(err.message.length < 300);
  });
});
