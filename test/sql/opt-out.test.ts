/**
 * Opt-out in SQL: sms_send's category, the opt-out list kept by sms_opt_out / sms_opt_in and by
 * incoming stop and start keywords (a trigger on sms_inbox, whoever inserts), what each records
 * and counts, and who may call what. The worker's side (the claim, a STOP over SMPP) is in
 * test/worker/lifecycle.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { outboxCount, rejectsWith, TestRoles } from './helpers.js';
import { waitFor } from '../support/wait.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
let app: string;
let appClient: pg.Client;
let workerLogin: string;
let workerClient: pg.Client;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  app = await roles.create({ login: password, memberOf: ['sms_sender'] });
  workerLogin = await roles.create({ login: password, memberOf: ['sms_worker'] });
  appClient = await connectAs(tdb.url, app, password);
  workerClient = await connectAs(tdb.url, workerLogin, password);
});
after(async () => {
  await appClient?.end().catch(() => {});
  await workerClient?.end().catch(() => {});
  await tdb.drop();
  await roles.dropAll();
});

let numbers = 0;
/** A fresh phone number per use, so tests do not see each other's opt-outs. */
function phone(): string {
  numbers++;
  return `7999${String(process.pid % 1000).padStart(3, '0')}${String(numbers).padStart(4, '0')}`;
}

type Db = pg.Pool | pg.ClientBase;

async function send(c: Db, recipient: string, body: string, extra = ''): Promise<string> {
  return (await c.query<{ id: string }>(`select public.sms_send($1, $2${extra}) as id`, [recipient, body])).rows[0]!.id;
}
async function row(id: string): Promise<Record<string, any>> {
  return (await tdb.pool.query('select * from sms_outbox where id = $1', [id])).rows[0];
}
const optedOut = async (recipient: string) => (await tdb.pool.query('select * from sms_opt_out where recipient = $1', [recipient])).rows[0];
const log = async (recipient: string) => (await tdb.pool.query('select action, source, keyword, actor, changed, inbox_id from sms_opt_out_log where recipient = $1 order by id', [recipient])).rows;
const stats = async () => (await tdb.pool.query('select * from sms_opt_out_stats')).rows[0] as Record<string, string>;

/** Stores incoming SMS as the worker does (its own login, only sms_worker: sms_inbound_store), returning each keyword_action. */
async function incoming(sender: string, ...bodies: string[]): Promise<(string | null)[]> {
  const actions: (string | null)[] = [];
  for (const body of bodies) {
    const { rows } = await workerClient.query<{ id: string | null }>(`select sms_inbound_store($1, 'MyShop', $2, false, null, 'gsm7', 1, 0) as id`, [sender, body]);
    const id = rows[0]!.id;
    actions.push(id === null ? null : (await workerClient.query('select keyword_action from public.sms_inbox where id = $1', [id])).rows[0].keyword_action);
  }
  return actions;
}

describe('sms_send category', () => {
  test('a marketing message to an opted-out recipient is stored rejected (OPTED_OUT), final at once, announced, and wakes no worker', async () => {
    const to = phone();
    await tdb.pool.query(`select sms_opt_out($1)`, [`+${to}`]);
    const listener = await tdb.connect();
    const heard: { channel: string; payload: string | undefined }[] = [];
    listener.on('notification', (n) => heard.push({ channel: n.channel, payload: n.payload }));
    await listener.query('listen sms_status; listen sms_outbox_wakeup');
    await tdb.pool.query(`update sms_wakeup set armed_until = now() + interval '1 minute'`);
    try {
      const id = await send(appClient, `+${to}`, 'Big sale today', `, category => 'marketing'`);
      const r = await row(id);
      assert.deepEqual(
        { status: r.status, category: r.category, error_code: r.error_code, done: r.done_at instanceof Date, attempts: r.attempts },
        { status: 'rejected', category: 'marketing', error_code: 'OPTED_OUT', done: true, attempts: 0 },
      );
      assert.match(r.error_message, /opted out of marketing messages/);
      const s = (await appClient.query('select status, error_code, category from sms_status($1)', [id])).rows[0];
      assert.deepEqual(s, { status: 'rejected', error_code: 'OPTED_OUT', category: 'marketing' });
      // Notifications arrive in commit order: once a marker sent after it arrived, any the send
      // made has too.
      await tdb.pool.query(`select pg_notify('sms_status', 'marker')`);
      await waitFor('the marker notification', () => heard.some((h) => h.payload === 'marker'));
      heard.splice(heard.findIndex((h) => h.payload === 'marker'), 1);
      assert.deepEqual(heard, [{ channel: 'sms_status', payload: JSON.stringify({ id, status: 'rejected' }).replace(/":"/g, '" : "').replace(/","/g, '", "') }]);
    } finally {
      await tdb.pool.query(`update sms_wakeup set armed_until = null`);
      await listener.end();
    }
  });

  test('a transactional message to the same recipient is queued, on the fast path and the general one', async () => {
    const to = phone();
    await tdb.pool.query(`select sms_opt_out($1)`, [to]);
    for (const extra of ['', `, category => 'transactional'`, `, category => null`, `, sender => 'Shop'`]) {
      const r = await row(await send(appClient, `+${to}`, 'Your code: 4821', extra));
      assert.deepEqual([r.status, r.category], ['queued', 'transactional'], extra);
    }
  });

  test('a marketing message to someone who did not opt out is queued; after an opt-in, again (fast path and general path)', async () => {
    for (const extra of [`, category => 'marketing'`, `, category => 'marketing', sender => 'Shop'`, `, category => 'marketing', priority => 2`]) {
      const to = phone();
      assert.equal((await row(await send(appClient, to, 'Sale', extra))).status, 'queued', extra);
      await tdb.pool.query(`select sms_opt_out($1)`, [to]);
      const rejected = await row(await send(appClient, to, 'Sale “today”', extra));
      assert.deepEqual([rejected.status, rejected.error_code, rejected.category, rejected.body], ['rejected', 'OPTED_OUT', 'marketing', 'Sale "today"'], extra);
      await tdb.pool.query(`select sms_opt_in($1)`, [to]);
      assert.equal((await row(await send(appClient, to, 'Sale', extra))).status, 'queued', extra);
    }
  });

  test('an idempotent repeat of a rejected marketing message returns it, inserting nothing', async () => {
    const to = phone();
    await tdb.pool.query(`select sms_opt_out($1)`, [to]);
    const first = await send(appClient, to, 'Sale', `, category => 'marketing', idempotency_key => 'promo-1'`);
    const before = await outboxCount(tdb.pool);
    assert.equal(await send(appClient, to, 'Sale', `, category => 'marketing', idempotency_key => 'promo-1'`), first);
    assert.equal(await outboxCount(tdb.pool), before);
    assert.equal((await row(first)).status, 'rejected');
  });

  test('a campaign in one transaction goes on past opted-out recipients: nothing is aborted', async () => {
    const out = [phone(), phone()];
    const all = [phone(), out[0]!, phone(), out[1]!, phone()];
    for (const p of out) await tdb.pool.query(`select sms_opt_out($1)`, [p]);
    await appClient.query('begin');
    const ids: string[] = [];
    for (const p of all) ids.push(await send(appClient, p, 'Spring sale', `, category => 'marketing'`));
    await appClient.query('commit');
    const statuses = await Promise.all(ids.map(async (id) => (await row(id)).status));
    assert.deepEqual(statuses, ['queued', 'rejected', 'queued', 'rejected', 'queued']);
  });
});

describe('sms_opt_out and sms_opt_in', () => {
  test('normalise the number, say whether they changed anything, and record who and when', async () => {
    const to = phone();
    const formatted = `+${to.slice(0, 1)} (${to.slice(1, 4)}) ${to.slice(4, 7)}-${to.slice(7, 9)}-${to.slice(9)}`;
    const call = async (fn: string, c: Db = appClient) => (await c.query<{ ok: boolean }>(`select ${fn}($1) as ok`, [formatted])).rows[0]!.ok;
    assert.equal(await call('sms_opt_out'), true);
    assert.equal(await call('sms_opt_out'), false, 'already opted out');
    const entry = await optedOut(to);
    assert.deepEqual(
      { source: entry.source, actor: entry.actor, keyword: entry.keyword, inbox_id: entry.inbox_id },
      { source: 'operator', actor: app, keyword: null, inbox_id: null },
    );
    assert.ok(entry.opted_out_at instanceof Date);
    assert.equal(await call('sms_opt_in', tdb.pool), true);
    assert.equal(await call('sms_opt_in', tdb.pool), false, 'already in');
    assert.equal(await optedOut(to), undefined);
    assert.deepEqual(
      (await log(to)).map((l) => [l.action, l.source, l.actor, l.changed]),
      [
        ['opt_out', 'operator', app, true],
        ['opt_out', 'operator', app, false],
        ['opt_in', 'operator', 'postgres', true],
        ['opt_in', 'operator', 'postgres', false],
      ],
    );
  });

  test('a bad number is the recipient error of sms_send, and nothing is written', async () => {
    const before = (await tdb.pool.query('select count(*)::int as n from sms_opt_out_log')).rows[0].n;
    await rejectsWith(appClient.query(`select sms_opt_out('8 999 123-45-67')`), '22023', 'recipient');
    await rejectsWith(appClient.query(`select sms_opt_out(null)`), '22004', 'recipient');
    await rejectsWith(tdb.pool.query(`select sms_opt_in('call me')`), '22023', 'recipient');
    assert.equal((await tdb.pool.query('select count(*)::int as n from sms_opt_out_log')).rows[0].n, before);
  });

  test("an app may opt a recipient out but not back in unless granted: that overrides what the recipient asked", async () => {
    const to = phone();
    await appClient.query('select sms_opt_out($1)', [to]);
    await rejectsWith(appClient.query('select sms_opt_in($1)', [to]), '42501');
    await tdb.pool.query(`grant execute on function sms_opt_in(text) to ${app}`);
    try {
      assert.equal((await appClient.query('select sms_opt_in($1) as ok', [to])).rows[0].ok, true);
    } finally {
      await tdb.pool.query(`revoke execute on function sms_opt_in(text) from ${app}`);
    }
  });
});

describe('stop and start keywords in incoming SMS', () => {
  test('STOP and СТОП in any case, with spaces, punctuation and emoji, opt the sender out; START and СТАРТ back in', async () => {
    const stops = ['STOP', 'stop', ' Stop! ', 'S.T.O.P.', 'stop 😡', '«Стоп»', 'стоп', 'СТОП!!!', '\u00A0stop\u200B', 'Stop\n'];
    for (const body of stops) {
      const from = phone();
      assert.deepEqual(await incoming(from, body), ['opt_out'], JSON.stringify(body));
      const entry = await optedOut(from);
      assert.equal(entry?.source, 'keyword', JSON.stringify(body));
      assert.ok(['STOP', 'СТОП'].includes(entry.keyword), entry.keyword);
      const inbox = (await tdb.pool.query('select id from sms_inbox where sender = $1', [from])).rows[0];
      assert.equal(entry.inbox_id, inbox.id, 'the incoming SMS is recorded');
    }
    const from = phone();
    assert.deepEqual(await incoming(from, 'stop', 'Start', 'СТАРТ', 'стоп'), ['opt_out', 'opt_in', 'opt_in', 'opt_out']);
    assert.deepEqual(
      (await log(from)).map((l) => [l.action, l.keyword, l.changed]),
      [
        ['opt_out', 'STOP', true],
        ['opt_in', 'START', true],
        ['opt_in', 'СТАРТ', false],
        ['opt_out', 'СТОП', true],
      ],
    );
  });

  test('texts that only contain a keyword, or a long text, do nothing', async () => {
    const from = phone();
    const bodies = ['Stop sending me this', 'STOPP', 'nonstop', 'START the engine', 'STOP1', `STOP ${'!'.repeat(300)}`, 'Привет'];
    assert.deepEqual(await incoming(from, ...bodies), bodies.map(() => null));
    assert.equal(await optedOut(from), undefined);
    assert.deepEqual(await log(from), []);
  });

  test('look-alike forms count: full-width, mathematical and other compatibility letters (NFKC), combining marks, Latin and Cyrillic mixed', async () => {
    const stops: [string, string][] = [
      ['ＳＴＯＰ', 'STOP'], // full-width
      ['ｓｔｏｐ！', 'STOP'],
      ['𝐒𝐓𝐎𝐏', 'STOP'], // mathematical bold
      ['𝕊𝕋𝕆ℙ', 'STOP'], // double-struck, with U+2119
      ['𝓈𝓉𝑜𝓅', 'STOP'], // mathematical script and italic, lower case
      ['S\u0422\u041E\u0420', 'STOP'], // S, then Cyrillic Т, О, Р
      ['\u0405TOP', 'STOP'], // Cyrillic Ѕ
      ['S\u03A4\u039FP', 'STOP'], // Greek Τ and Ο
      ['CTO\u041F', 'СТОП'], // Latin C, T, O and Cyrillic П
      ['ＣＴＯ\u041F', 'СТОП'],
      ['S\u0336T\u0336O\u0336P\u0336', 'STOP'], // struck through with combining marks
      ['ｓ ｔ ｏ ｐ', 'STOP'],
    ];
    for (const [body, keyword] of stops) {
      const from = phone();
      assert.deepEqual(await incoming(from, body), ['opt_out'], JSON.stringify(body));
      assert.equal((await optedOut(from))?.keyword, keyword, `${JSON.stringify(body)}: the list's keyword it matched is recorded`);
    }
    const from = phone();
    assert.deepEqual(await incoming(from, 'ＳＴＯＰ', 'ＳＴＡＲＴ', 'S\u0422\u0410R\u0422', '𝐂𝐓𝐀𝐏𝐓'), ['opt_out', 'opt_in', 'opt_in', 'opt_in']);
    // Only look-alikes: a text that says more, or another word, still does nothing.
    const other = phone();
    const bodies = ['Ｓｔｏｐ ｓｅｎｄｉｎｇ ｍｅ ｔｈｉｓ', 'Stop sending me this', '𝐒𝐓𝐎𝐏𝐏', '\u0421\u0422\u041E\u0420', 'ST0P'];
    assert.deepEqual(await incoming(other, ...bodies), bodies.map(() => null));
    assert.equal(await optedOut(other), undefined);
  });

  test('the sender is matched as sms_send stores numbers; a sender that is no international number is ignored, visibly', async () => {
    const to = phone();
    assert.deepEqual(await incoming(`+${to}`, 'STOP'), ['opt_out']);
    assert.equal((await row(await send(appClient, to, 'Sale', `, category => 'marketing'`))).status, 'rejected');
    assert.deepEqual(await incoming('MyBrand', 'STOP'), ['ignored']);
    assert.deepEqual(await incoming('89991234567', 'STOP'), ['ignored']);
    assert.deepEqual(await incoming('0123456', 'СТОП'), ['ignored']);
    assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_opt_out_log where recipient in ('MyBrand', '89991234567', '0123456')`)).rows[0].n, 0);
  });

  test('an inserter cannot set keyword_action itself; the worker role cannot insert at all', async () => {
    const r = await tdb.pool.query(
      `insert into public.sms_inbox (sender, recipient, body, encoding, parts, keyword_action) values ($1, 'X', 'hello', 'gsm7', 1, 'opt_out') returning keyword_action`,
      [phone()],
    );
    assert.equal(r.rows[0].keyword_action, null);
    const to = phone();
    await rejectsWith(
      workerClient.query(`insert into public.sms_inbox (sender, recipient, body, encoding, parts) values ($1, 'X', 'STOP', 'gsm7', 1)`, [to]),
      '42501',
    );
    assert.equal(await optedOut(to), undefined);
  });

  test('case is ignored on any server: Cyrillic under the C collation too', async () => {
    const r = await tdb.pool.query(
      `select sms_private.keyword_form('стоп' collate "C") as c, sms_private.keyword_form('Стоп' collate "POSIX") as p, sms_private.keyword_form('arrêt' collate "C") as l`,
    );
    assert.deepEqual(r.rows[0], { c: 'СТОП', p: 'СТОП', l: 'ARRÊT' });
  });

  test('the lists are configurable, stored as compared, and must keep STOP and СТОП', async () => {
    const client = await tdb.connect();
    try {
      await client.query('begin');
      await client.query(`update sms_settings set stop_keywords = stop_keywords || array['Unsubscribe', 'отписаться!', 'unsubscribe'], start_keywords = array['Subscribe', 'yes']`);
      const s = (await client.query('select stop_keywords, start_keywords from sms_settings')).rows[0];
      assert.deepEqual(s, { stop_keywords: ['STOP', 'СТОП', 'UNSUBSCRIBE', 'ОТПИСАТЬСЯ'], start_keywords: ['SUBSCRIBE', 'YES'] });
      const from = phone();
      const r = await client.query<{ keyword_action: string }>(
        `insert into sms_inbox (sender, recipient, body, encoding, parts) values ($1, 'X', 'Отписаться', 'ucs2', 1), ($1, 'X', 'start', 'gsm7', 1), ($1, 'X', 'yes!', 'gsm7', 1) returning keyword_action`,
        [from],
      );
      assert.deepEqual(r.rows.map((x) => x.keyword_action), ['opt_out', null, 'opt_in'], 'START is no start keyword any more');
      await client.query('savepoint s');
      const cases: [string, RegExp][] = [
        [`stop_keywords = array['STOP']`, /stop_keywords must include STOP and СТОП/],
        [`stop_keywords = stop_keywords || array['!!!']`, /a keyword must have a letter or digit/],
        [`start_keywords = array['stop']`, /keyword 'STOP' is in both stop_keywords and start_keywords/],
        [`start_keywords = array['CTOП']`, /keyword 'СТОП' is in both stop_keywords and start_keywords/],
      ];
      for (const [set, message] of cases) {
        const err = await rejectsWith(client.query(`update sms_settings set ${set}`), '22023');
        assert.match(err.message, message);
        await client.query('rollback to savepoint s');
      }
    } finally {
      await client.query('rollback');
      await client.end();
    }
  });

  test('sms_opt_out_stats counts keywords received and the changes they and operators made', async () => {
    const before = await stats();
    const a = phone();
    const b = phone();
    // A second stop keyword while opted out (another text: the same bytes again would be a redelivery).
    await incoming(a, 'STOP', 'Stop!', 'START');
    await incoming(b, 'stop');
    await tdb.pool.query('select sms_opt_out($1), sms_opt_in($2), sms_opt_in($2)', [a, b]);
    const after = await stats();
    const delta = (k: string) => Number(after[k]) - Number(before[k]);
    assert.deepEqual(
      Object.fromEntries(['opted_out', 'stop_keywords', 'start_keywords', 'keyword_opt_outs', 'keyword_opt_ins', 'operator_opt_outs', 'operator_opt_ins'].map((k) => [k, delta(k)])),
      { opted_out: 1, stop_keywords: 3, start_keywords: 1, keyword_opt_outs: 2, keyword_opt_ins: 1, operator_opt_outs: 1, operator_opt_ins: 1 },
    );
    assert.equal(Number(after.opted_out), (await tdb.pool.query('select count(*)::int as n from sms_opt_out')).rows[0].n);
  });
});
