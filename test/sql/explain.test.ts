/**
 * sms_explain(id): the decision trail of one message (migration 0018), and the attempt log behind
 * it. Messages are sent with sms_send by two apps logged in as their own roles; the worker's
 * writes are made as the worker makes them (its lease, the functions src/db/outbox.ts calls, the
 * receipt's UPDATE as receipts.ts makes it, as the owner), so each part of the trail is checked
 * against what produced it.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { holdMessages } from '../support/rows.js';
import { rejectsWith, TestRoles } from './helpers.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const clients: pg.Client[] = [];
let a: pg.Client;
let b: pg.Client;
let reader: pg.Client;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  const login = async (memberOf: string[]) => {
    const c = await connectAs(tdb.url, await roles.create({ login: password, memberOf }), password);
    clients.push(c);
    return c;
  };
  a = await login(['sms_sender']);
  b = await login(['sms_sender']);
  reader = await login(['sms_reader']);
});
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await tdb.drop();
  await roles.dropAll();
});

type Trail = Record<string, any>;

async function send(c: pg.ClientBase, body: string, extra = ''): Promise<string> {
  return (await c.query<{ id: string }>(`select public.sms_send('+79991234567', $1${extra}) as id`, [body])).rows[0]!.id;
}
async function explain(c: pg.ClientBase | pg.Pool, id: string | null): Promise<Trail | null> {
  return (await c.query<{ t: Trail | null }>('select public.sms_explain($1) as t', [id])).rows[0]!.t;
}

/**
 * The worker's writes. A claim is a lease in sms_private.outbox_lease (migration 0034: the message
 * row is not written), made as sms_private.claim makes it, for this one row; the submit outcomes
 * are the functions src/db/outbox.ts calls (sms_private.mark_unsent, mark_sent), fenced on the lease.
 */
const held = async (id: string): Promise<number> =>
  (await tdb.pool.query<{ attempt: number }>(`select attempt from sms_private.outbox_lease where outbox_id = $1 and worker_id = 'w1'`, [id])).rows[0]!.attempt;
const unsent = async (id: string, permanent: boolean, code: string, message: string) => {
  const { rows } = await tdb.pool.query(`select id, status from sms_private.mark_unsent('w1', $1::jsonb)`, [
    JSON.stringify([{ id, attempts: await held(id), permanent, code, message, delay_ms: 0 }]),
  ]);
  assert.equal(rows.length, 1, 'the outcome was written (the worker held the row)');
};
const worker = {
  claim: (id: string) => holdMessages(tdb.pool, [id], { workerId: 'w1' }),
  transient: (id: string, code: string) => unsent(id, false, code, 'the SMSC is throttling'),
  permanent: (id: string, code: string) => unsent(id, true, code, 'invalid destination address'),
  sent: async (id: string, ids: string[]) => {
    const { rows } = await tdb.pool.query(`select id from sms_private.mark_sent('w1', $1::jsonb, '{}')`, [
      JSON.stringify([{ id, attempts: await held(id), message_ids: ids, parts: ids.map((m) => m.toLowerCase()) }]),
    ]);
    assert.equal(rows.length, 1, 'the outcome was written (the worker held the row)');
  },
  receipt: async (id: string, rawId: string, state: string, err: string, text: string) => {
    await tdb.pool.query(
      `insert into sms_receipt (message_id, raw_message_id, state, error, text, outbox_id, matched_at) values (lower($1), $1, $2, $3, $4, $5, now())`,
      [rawId, state, err, text, id],
    );
    await tdb.pool.query(
      `update sms_outbox set status = case when $2 = 'DELIVRD' then 'delivered' else 'undelivered' end, done_at = now(), receipt_state = $2, receipt_error = $3,
              error_code = case when $2 <> 'DELIVRD' then $3 else error_code end,
              error_message = case when $2 <> 'DELIVRD' then 'receipt: ' || $2 else error_message end
        where id = $1`,
      [id, state, err],
    );
  },
};

describe('sms_explain', () => {
  test('a UCS-2 message names the character that forced UCS-2, and never returns the body', async () => {
    const id = await send(a, 'Ваш код 4821. Do not share it');
    const t = (await explain(a, id))!;
    assert.equal(t.id, id);
    assert.equal(t.status, 'queued');
    assert.equal(t.encoding.encoding, 'ucs2');
    assert.equal(t.encoding.segments, 1);
    assert.equal(t.encoding.units, 29);
    assert.deepEqual(t.encoding.deciding_characters[0], { char: 'В', codepoint: 'U+0412', first_at: 1, count: 1 });
    assert.deepEqual(
      t.encoding.deciding_characters.map((c: { char: string }) => c.char),
      ['В', 'а', 'ш', 'к', 'о', 'д'],
    );
    assert.match(t.encoding.reason, /^UCS-2 .* because the text contains 'В' \(U\+0412\) at character 1, which GSM-7 cannot encode \(and 5 other such characters\)$/);
    assert.equal(t.outcome, 'waiting for a worker to send it');
    assert.ok(!JSON.stringify(t).includes('4821'), 'no digit of the code anywhere in the trail');
    assert.equal(t.timeline[0].event, 'enqueued');
  });

  test('GSM-7: extension characters count two; smart encoding says what it replaced', async () => {
    const id = await send(a, 'Price: 10€ – “final”');
    const t = (await explain(a, id))!;
    assert.equal(t.encoding.encoding, 'gsm7');
    assert.deepEqual(t.encoding.deciding_characters, []);
    assert.deepEqual(t.encoding.double_characters, [{ char: '€', codepoint: 'U+20AC', first_at: 10, count: 1 }]);
    assert.equal(t.encoding.units, 21);
    assert.equal(t.encoding.replaced_chars, 3);
    assert.match(t.encoding.reason, /^GSM-7 .*; extension characters such as '€' count as two; smart encoding replaced 3 typographic characters by GSM-7 ones$/);
  });

  test('attempts with their errors, the SMSC ids, the raw receipt without its text, and the timeline in order', async () => {
    const id = await send(a, 'Your order 77 has shipped');
    await worker.claim(id);
    await worker.transient(id, 'ESME_RTHROTTLED');
    await worker.claim(id);
    // Held by the worker: a queued row with a lease, explained as sending with its attempt in flight.
    const sending = (await explain(a, id))!;
    assert.equal(sending.status, 'sending');
    assert.equal(sending.outcome, 'a worker (w1) is submitting it');
    assert.equal(sending.attempts.made, 2);
    assert.equal(sending.attempts.last_error_code, 'ESME_RTHROTTLED');
    assert.deepEqual(
      (await tdb.pool.query('select status, attempts from sms_outbox where id = $1', [id])).rows,
      [{ status: 'queued', attempts: 1 }],
      'the table itself: still queued, the attempt in flight not yet counted',
    );
    await worker.sent(id, ['0A1B2C']);
    await worker.receipt(id, '0A1B2C', 'UNDELIV', '034', 'id:0A1B2C sub:001 dlvrd:000 submit date:2501011200 done date:2501011201 stat:UNDELIV err:034 text:Your order 77 has');
    const t = (await explain(a, id))!;
    assert.equal(t.status, 'undelivered');
    assert.equal(t.attempts.made, 2);
    assert.deepEqual(
      t.attempts.errors.map((e: Trail) => [e.attempt, e.status, e.error_code]),
      [
        [1, 'queued', 'ESME_RTHROTTLED'],
        [2, 'undelivered', '034'],
      ],
    );
    assert.deepEqual(t.parts.map((p: Trail) => [p.part_no, p.message_id, p.receipt_state]), [[1, '0A1B2C', 'UNDELIV']]);
    assert.equal(t.receipts.length, 1);
    assert.equal(t.receipts[0].state, 'UNDELIV');
    assert.match(t.receipts[0].text, /stat:UNDELIV err:034 text:$/, 'the receipt keeps everything but the text field');
    assert.deepEqual(t.refusals, [{ by: 'network', code: '034', receipt_state: 'UNDELIV', message: 'receipt: UNDELIV' }]);
    assert.equal(t.outcome, 'not delivered: the receipt said UNDELIV (error 034)');
    const events = t.timeline.map((e: Trail) => e.event);
    assert.deepEqual(events.slice(0, 2), ['enqueued', 'attempt failed, to be retried']);
    assert.ok(events.includes('accepted by the SMSC') && events.includes('receipt') && events.at(-1) === 'undelivered', events.join(', '));
    const times = t.timeline.map((e: Trail) => Date.parse(e.at));
    assert.deepEqual(times, [...times].sort((x: number, y: number) => x - y), 'oldest first');
    assert.ok(!JSON.stringify(t).includes('has shipped'));
  });

  test('a message of several parts lists each part with its SMSC id', async () => {
    const id = await send(a, 'x'.repeat(200));
    await worker.claim(id);
    await worker.sent(id, ['AA01', 'AA02']);
    await tdb.pool.query(`update sms_outbox_part set receipt_state = 'DELIVRD', done_at = now() where outbox_id = $1 and part_no = 1`, [id]);
    const t = (await explain(a, id))!;
    assert.equal(t.encoding.segments, 2);
    assert.deepEqual(t.parts.map((p: Trail) => [p.part_no, p.message_id, p.receipt_state]), [
      [1, 'AA01', 'DELIVRD'],
      [2, 'AA02', null],
    ]);
    assert.match(t.outcome, /^accepted by the SMSC at .*; waiting for the delivery receipt$/);
  });

  test('a permanent refusal, then sms_retry: the replaced outcome is in retries and the timeline', async () => {
    const id = await send(a, 'Hello again');
    await worker.claim(id);
    await worker.permanent(id, 'ESME_RINVDSTADR');
    assert.deepEqual((await explain(a, id))!.refusals, [{ by: 'smsc', code: 'ESME_RINVDSTADR', message: 'invalid destination address' }]);
    assert.equal((await a.query('select public.sms_retry($1) as ok', [id])).rows[0].ok, true);
    const t = (await explain(a, id))!;
    assert.equal(t.status, 'queued');
    assert.equal(t.attempts.retries, 1);
    assert.equal(t.retries[0].status, 'failed');
    assert.equal(t.retries[0].error_code, 'ESME_RINVDSTADR');
    const events = t.timeline.map((e: Trail) => e.event);
    assert.deepEqual(events, ['enqueued', 'attempt ended failed', 'retried']);
    assert.deepEqual(t.refusals, []);
  });

  test('a marketing message to an opted-out number: refused by sms_send', async () => {
    await tdb.pool.query(`select sms_opt_out('+79990001122')`);
    const id = (await a.query<{ id: string }>(`select public.sms_send('+79990001122', 'Sale!', category => 'marketing') as id`)).rows[0]!.id;
    const t = (await explain(a, id))!;
    assert.equal(t.status, 'rejected');
    assert.equal(t.refusals[0].by, 'sms_send');
    assert.equal(t.refusals[0].code, 'OPTED_OUT');
    assert.equal(t.outcome, 'never sent: the recipient opted out of marketing messages');
  });

  test('a redacted body: the encoding as it was sent', async () => {
    const id = await send(a, 'Привет');
    await tdb.pool.query(`update sms_outbox set status = 'cancelled', done_at = now(), body_hash = '\\x00', body_length = 6, body = '', redacted_at = now() where id = $1`, [id]);
    const t = (await explain(a, id))!;
    assert.equal(t.encoding.encoding, 'ucs2');
    assert.equal(t.encoding.characters, 6);
    assert.match(t.encoding.reason, /^the body was redacted; it was sent as UCS-2 in 1 part$/);
    assert.equal(t.timeline.at(-1).event, 'body redacted');
  });

  test('ownership as sms_status: another app gets NULL, as for an unknown id; the reader sees every message', async () => {
    const id = await send(a, 'Mine');
    assert.equal(await explain(b, id), null);
    assert.equal(await explain(b, randomUUID()), null);
    assert.equal((await explain(reader, id))!.id, id);
    assert.equal((await explain(tdb.pool, id))!.owner, (await tdb.pool.query('select owner from sms_outbox where id = $1', [id])).rows[0].owner);
    await rejectsWith(explain(a, null), '22004', 'id');
  });

  test('the attempt log takes nothing from a message delivered at the first try', async () => {
    const id = await send(a, 'Fine');
    await worker.claim(id);
    await worker.sent(id, ['BEEF']);
    await worker.receipt(id, 'BEEF', 'DELIVRD', '000', 'id:BEEF stat:DELIVRD err:000 text:Fine');
    const t = (await explain(a, id))!;
    assert.equal(t.status, 'delivered');
    assert.deepEqual(t.attempts.errors, []);
    assert.equal((await tdb.pool.query('select count(*)::int as n from sms_outbox_attempt where outbox_id = $1', [id])).rows[0].n, 0);
  });
});
