/**
 * The console's queries (src/db/console/), each run as the console runs it: through a pool logged
 * in as a reader, a sender or the owner. Pages by keyset cover every row once, in order, both
 * ways; each filter narrows as it says; texts are never a sign-in code's; the actions are the SQL
 * API's, with its refusals.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { createTestDatabase, type TestDatabase, testPool } from '../support/db.js';
import { insertInbox, insertMessage } from '../support/rows.js';
import { TestRoles } from '../sql/helpers.js';
import { createDb } from '../../src/db/pool.js';
import type { Database } from '../../src/db/schema.js';
import { readCapabilities } from '../../src/db/console/capabilities.js';
import { explainMessage, listMessages, messageRow, messageText, uuidv7Floor } from '../../src/db/console/messages.js';
import { readOverview, readThroughput } from '../../src/db/console/overview.js';
import { listRetrying } from '../../src/db/console/failures.js';
import { inboxText, listInbox, readConversation } from '../../src/db/console/inbox.js';
import { listOptOuts, listParked, optOutLog, optOutStats, signInCodes, signInRefusals } from '../../src/db/console/lists.js';
import { cancelMessages, changeOptOut, replayParked, retryMessages } from '../../src/db/console/actions.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const pools: pg.Pool[] = [];
let reader: Kysely<Database>;
let sender: Kysely<Database>;
let both: Kysely<Database>;
let senderLogin: string;

function as(login: string): Kysely<Database> {
  const u = new URL(tdb.url);
  u.username = login;
  u.password = password;
  const pool = testPool({ connectionString: u.toString(), max: 2 });
  pools.push(pool);
  return createDb(pool);
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Console'`);
  reader = as(await roles.create({ login: password, memberOf: ['sms_reader'] }));
  senderLogin = await roles.create({ login: password, memberOf: ['sms_sender'] });
  sender = as(senderLogin);
  both = as(await roles.create({ login: password, memberOf: ['sms_sender', 'sms_reader'] }));
});
after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await tdb.drop();
  await roles.dropAll();
});

describe('capabilities', () => {
  test('read from the catalogs, per login', async () => {
    const r = await readCapabilities(reader);
    assert.equal(r.readMessages && r.readInbox && r.readParked && r.readWorkers && r.explain, true);
    assert.equal(r.retry || r.cancel || r.optIn || r.replay || r.admin || r.superuser, false);
    const s = await readCapabilities(sender);
    assert.equal(s.readMessages, false);
    assert.equal(s.retry && s.cancel && s.optOut && s.explain, true);
    assert.equal(s.optIn, false, 'sms_opt_in is the owner\'s');
    assert.equal(s.owner, senderLogin);
    const owner = await readCapabilities(tdb.db);
    assert.equal(owner.admin && owner.replay && owner.optIn, true);
    assert.equal(r.conversationFunction && s.conversationFunction, true, 'sms_conversation: the reader\'s and the sender\'s');
  });
});

describe('messages', () => {
  const ids: string[] = [];
  before(async () => {
    // 30 messages a minute apart (oldest first), to three numbers; every fifth failed; two marketing.
    for (let i = 0; i < 30; i++) {
      ids.push(
        await insertMessage(tdb.pool, {
          label: `m${i}`,
          status: i % 5 === 0 ? 'failed' : 'delivered',
          recipient: `7999000000${i % 3}`,
          created: `-${60 - i} minutes`,
          ...(i % 5 === 0 ? { errorCode: 'ESME_RINVDSTADR' } : {}),
        }),
      );
    }
    await tdb.pool.query(`update sms_outbox set category = 'marketing' where id = any($1)`, [[ids[3], ids[4]]]);
    // Ids are UUIDv7 of the insert time (random within one millisecond); the list's order is the ids'.
  });
  const byId = () => [...ids].sort();

  test('keyset pages cover every row once, newest first, and back again', async () => {
    const seen: string[] = [];
    let page = await listMessages(reader, {}, { limit: 7 });
    assert.equal(page.hasNewer, false);
    for (;;) {
      seen.push(...page.rows.map((r) => r.id));
      if (!page.hasOlder) break;
      page = await listMessages(reader, {}, { before: page.rows.at(-1)!.id, limit: 7 });
      assert.equal(page.hasNewer, true);
    }
    assert.deepEqual(seen, byId().reverse());
    const back = await listMessages(reader, {}, { after: byId()[10]!, limit: 5 });
    assert.deepEqual(back.rows.map((r) => r.id), byId().slice(11, 16).reverse(), 'the page just newer, still newest first');
    assert.equal(back.hasNewer, true);
  });

  test('filters: status, ended badly, recipient, category, owner, time', async () => {
    const failed = await listMessages(reader, { status: 'failed' }, { limit: 50 });
    assert.deepEqual(failed.rows.map((r) => r.id), ids.filter((_, i) => i % 5 === 0).sort().reverse());
    assert.equal((await listMessages(reader, { status: 'ended_badly' }, { limit: 50 })).rows.length, 6);
    const to1 = await listMessages(reader, { recipient: '79990000001' }, { limit: 50 });
    assert.ok(to1.rows.length === 10 && to1.rows.every((r) => r.recipient === '79990000001'));
    assert.deepEqual((await listMessages(reader, { category: 'marketing' }, { limit: 50 })).rows.map((r) => r.id), [ids[3]!, ids[4]!].sort().reverse());
    const owner = (await tdb.pool.query('select owner from sms_outbox limit 1')).rows[0].owner as string;
    assert.equal((await listMessages(reader, { owner }, { limit: 50 })).rows.length, 30);
    assert.equal((await listMessages(reader, { owner: 'nobody' }, { limit: 50 })).rows.length, 0);
    const future = new Date(Date.now() + 3_600_000);
    assert.equal((await listMessages(reader, { from: future }, { limit: 50 })).rows.length, 0);
    assert.equal((await listMessages(reader, { to: future }, { limit: 50 })).rows.length, 30);
    assert.equal(uuidv7Floor(new Date(0x0123456789ab)), '01234567-89ab-0000-0000-000000000000');
  });

  test('a message a worker is sending (queued with a lease) is listed, filtered and shown as sending; the oldest due skips it', async () => {
    const sending = await insertMessage(tdb.pool, { label: 'being sent', status: 'sending', created: '-2 hours', workerId: 'console-worker' });
    const waiting = await insertMessage(tdb.pool, { label: 'waiting', status: 'queued', created: '-1 hour' });
    try {
      assert.equal((await tdb.pool.query('select status from sms_outbox where id = $1', [sending])).rows[0].status, 'queued', 'stored queued');
      const bySending = await listMessages(reader, { status: 'sending' }, { limit: 50 });
      assert.deepEqual(bySending.rows.map((r) => [r.id, r.status]), [[sending, 'sending']]);
      const byQueued = await listMessages(reader, { status: 'queued' }, { limit: 50 });
      assert.deepEqual(byQueued.rows.map((r) => [r.id, r.status]), [[waiting, 'queued']]);
      assert.equal((await messageRow(reader, sending))!.status, 'sending');
      assert.equal((await readOverview(reader)).oldestDue?.id, waiting, 'the oldest due message waiting, not the one being sent');
      // The view as the reader reads it (its own SELECT on the leases, through security_invoker).
      const { rows } = await sql<{ id: string; worker_id: string; attempt: number }>`select id, worker_id, attempt from sms_sending`.execute(reader);
      assert.deepEqual(rows, [{ id: sending, worker_id: 'console-worker', attempt: 1 }]);
    } finally {
      await tdb.pool.query('truncate sms_private.outbox_lease');
      await tdb.pool.query('delete from sms_outbox where id = any($1)', [[sending, waiting]]);
    }
  });

  test('a row, a text on request, never a sign-in code\'s, and the trail', async () => {
    const row = await messageRow(reader, ids[1]!);
    assert.equal(row?.status, 'delivered');
    assert.deepEqual(await messageText(reader, ids[1]!), { kind: 'text', text: 'fixture m1' });
    await tdb.pool.query(`update sms_outbox set metadata = '{"via": "supabase_auth_hook"}' where id = $1`, [ids[2]]);
    assert.deepEqual(await messageText(reader, ids[2]!), { kind: 'sign_in_code' });
    assert.equal((await messageRow(reader, ids[2]!))?.signInCode, true);
    assert.deepEqual(await messageText(reader, randomUUID()), { kind: 'not_found' });
    assert.equal((await explainMessage(reader, ids[1]!))?.status, 'delivered');
    assert.equal(await explainMessage(sender, ids[1]!), null, 'another owner\'s: as unknown');
    await assert.rejects(listMessages(sender, {}, { limit: 5 }), (e: { code?: string }) => e.code === '42501');
  });
});

describe('overview, failures, inbox, lists', () => {
  test('the overview and throughput per minute', async () => {
    const o = await readOverview(reader);
    assert.ok(o.counts.delivered >= 24);
    const minutes = await readThroughput(reader, 60);
    assert.equal(minutes.length, 60);
    assert.ok(minutes.every((m, i) => i === 0 || m.minute > minutes[i - 1]!.minute));
    assert.ok(minutes.reduce((s, m) => s + m.enqueued, 0) >= 30, 'enqueued by the time in the ids');
  });

  test('messages waiting to be tried again, and cancelling them', async () => {
    const id = await insertMessage(tdb.pool, { label: 'retrying', status: 'queued', attempts: 2, errorCode: 'ESME_RTHROTTLED', nextAttempt: '1 hour' });
    const rows = await listRetrying(reader, 10);
    assert.deepEqual(rows.map((r) => r.id), [id]);
    assert.deepEqual([...(await cancelMessages(both, [id]))], [[id, false]], 'not the login\'s own: as unknown');
    assert.deepEqual([...(await cancelMessages(tdb.db, [id]))], [[id, true]], 'the owner of the objects cancels any');
  });

  test('retry: the SQL API\'s rules and refusals', async () => {
    const failed = (await listMessages(reader, { status: 'failed' }, { limit: 1 })).rows[0]!.id;
    await assert.rejects(retryMessages(reader, [failed]), (e: { code?: string }) => e.code === '42501');
    assert.deepEqual([...(await retryMessages(tdb.db, [failed]))], [[failed, true]]);
  });

  test('the inbox, a text, and the conversation through sms_conversation', async () => {
    const a = await insertInbox(tdb.pool, { sender: '+79990000001', body: 'Hello?', received: '-2 minutes' });
    const b = await insertInbox(tdb.pool, { sender: '79990000001', body: 'STOP', received: '-1 minute' });
    await insertInbox(tdb.pool, { sender: '79990000009', body: 'Other' });
    const page = await listInbox(reader, { sender: '79990000001' }, { limit: 10 });
    assert.deepEqual(page.rows.map((r) => r.id), [b, a]);
    assert.equal(page.rows[0]!.keywordAction, 'opt_out');
    assert.deepEqual(await inboxText(reader, a), { text: 'Hello?', redacted: false });
    const conv = await readConversation(reader, '79990000001', { withTexts: true, limit: 100 });
    assert.equal(conv.items.filter((i) => i.direction === 'in').length, 2);
    assert.equal(conv.items.filter((i) => i.direction === 'out').length, 10);
    assert.ok(conv.items.every((x, i) => i === 0 || x.at >= conv.items[i - 1]!.at), 'oldest first');
    assert.deepEqual(conv.items.filter((i) => i.direction === 'in').map((i) => [i.text, i.keywordAction]), [
      ['Hello?', null],
      ['STOP', 'opt_out'],
    ]);
    // The function's rows in its order: the last page is the newest 100, the same rows.
    const { rows } = await tdb.pool.query<{ id: string }>(`select id from sms_conversation('79990000001')`);
    assert.deepEqual(conv.items.map((i) => i.id), rows.map((r) => r.id));
    const hidden = await readConversation(reader, '79990000001', { withTexts: false, limit: 3 });
    assert.equal(hidden.items.length, 3);
    assert.equal(hidden.hasEarlier, true);
    assert.ok(hidden.items.every((i) => i.text === null));
    assert.deepEqual(hidden.items.map((i) => i.id), rows.slice(-3).map((r) => r.id), 'the newest three');
    const earlier = await readConversation(reader, '79990000001', { withTexts: false, limit: 3, before: hidden.items[0]!.at });
    assert.deepEqual(earlier.items.map((i) => i.id), rows.slice(-6, -3).map((r) => r.id));

    // A sender sees its own messages to the number and the answers to them, nothing else.
    const mine = (await sender.selectNoFrom(sql<string>`sms_send('+79990000001', 'Yours?', sender => '79001234567')`.as('id')).executeTakeFirstOrThrow()).id;
    await tdb.pool.query(`update sms_outbox set status = 'sent', submitted_at = now(), attempts = 1 where id = $1`, [mine]);
    const answer = (await tdb.pool.query<{ id: string }>(`insert into sms_inbox (sender, recipient, body, encoding, parts) values ('79990000001', '79001234567', 'Mine!', 'gsm7', 1) returning id`)).rows[0]!.id;
    const own = await readConversation(sender, '79990000001', { withTexts: true, limit: 100 });
    assert.deepEqual(own.items.map((i) => [i.direction, i.id, i.text]), [
      ['out', mine, 'Yours?'],
      ['in', answer, 'Mine!'],
    ]);

    // A blank body says why: redacted, or a sign-in code's message (whose body never held it).
    await tdb.pool.query(`update sms_outbox set body = '', redacted_at = now() where id = $1`, [mine]);
    await tdb.pool.query(`update sms_outbox set metadata = metadata || '{"via": "supabase_auth_hook"}' where id = $1`, [conv.items.find((i) => i.direction === 'out')!.id]);
    const flagged = await readConversation(reader, '79990000001', { withTexts: true, limit: 100 });
    const out = flagged.items.filter((i) => i.direction === 'out');
    assert.deepEqual(out.filter((i) => i.redacted).map((i) => [i.id, i.text]), [[mine, null]]);
    assert.deepEqual(out.filter((i) => i.signInCode).map((i) => [i.id, i.text]), [[conv.items.find((i) => i.direction === 'out')!.id, null]]);
  });

  test('opt-outs, their log and counters; parked rows and their replay; phone sign-in', async () => {
    assert.equal(await changeOptOut(sender, 'opt_out', '79990000005'), true);
    await assert.rejects(changeOptOut(sender, 'opt_in', '79990000005'), (e: { code?: string }) => e.code === '42501');
    const list = await listOptOuts(reader, { limit: 10 });
    assert.ok(list.some((r) => r.recipient === '79990000005' && r.source === 'operator'));
    assert.equal((await listOptOuts(reader, { recipient: '79990000005', limit: 10 })).length, 1);
    const older = await listOptOuts(reader, { limit: 10, before: { at: list[0]!.optedOutAt, recipient: list[0]!.recipient } });
    assert.equal(older.length, list.length - 1);
    assert.ok((await optOutLog(reader, { recipient: '79990000005', limit: 5 })).length >= 1);
    assert.ok((await optOutStats(reader)).opted_out! >= 1);
    assert.equal(await changeOptOut(tdb.db, 'opt_in', '79990000005'), true);

    await tdb.pool.query(`insert into sms_inbound_parked (kind, command_id, pdu, error_code, error_message) values ('mo', 5, '\\x0102', '23514', 'check')`);
    const parked = await listParked(reader, 10);
    assert.equal(parked.length, 1);
    assert.equal(parked[0]!.bytes, 2);
    await assert.rejects(replayParked(reader, parked[0]!.id), (e: { code?: string }) => e.code === '42501');
    assert.equal(await replayParked(tdb.db, parked[0]!.id), 1);

    // One row per reason the hook refuses for, the pumping defence's included.
    const reasons = (await tdb.pool.query<{ r: string[] }>('select sms_private.auth_hook_refusal_reasons() as r')).rows[0]!.r;
    assert.deepEqual((await signInRefusals(reader)).map((x) => x.reason), reasons);
    assert.ok(reasons.length >= 9);
    const codes = await signInCodes(reader, 10);
    assert.deepEqual(codes, { byStatus: [], latest: [] });
  });
});
