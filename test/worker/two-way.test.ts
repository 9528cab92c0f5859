/**
 * Two-way SMS end to end: a real Postgres, the worker as a real child process logged in as a
 * role that holds nothing but sms_worker, the SMSC simulator over TCP driven through its control
 * port (POST /mo, POST /auto-reply, as a developer would with curl), and apps that register their
 * reply handlers as their own login roles. An order confirmed by SMS is updated exactly once
 * although the worker is killed (SIGKILL) between storing the ДА and the SMSC getting its
 * acknowledgement and the SMSC delivers it again; a handler that raises parks only its own SMS,
 * and a replay runs it; an auto-reply is delivered; two auto-responders answering each other are
 * stopped by the loop guard; a stop keyword is recorded before a handler runs, which sees it;
 * one owner's handler never sees another owner's SMS; a hostile handler gets nothing of the
 * worker's; and the worked example of docs/guides/two-way.md, run as written, confirms its order.
 * The same paths without the worker process, in more cases: test/db/reply-handlers.test.ts.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { TestRoles } from '../sql/helpers.js';
import { waitFor } from '../ops/helpers.js';
import { blocks } from '../docs/markdown.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { startControlServer, type ControlServer } from '../../src/simulator/control.js';

let tdb: TestDatabase;
let sim: Simulator;
let ctl: ControlServer;
let worker: WorkerProcess;
let app: pg.Client;
let appRole: string;
let workerRole: string;
let workerUrl: string;
const clients: pg.Client[] = [];
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
/** Our number at the carrier: messages that expect an answer go out from it. */
const OURS = '79001234567';

const DEFAULTS: Partial<SimulatorOptions> = { receiptDelayMs: 20, autoReplies: {}, deliverTimeoutMs: 120_000 };

function startWorker(): WorkerProcess {
  return startWorkerProcess({
    DATABASE_URL: workerUrl,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_RECONNECT_MAX_S: '1',
    SMS_LEASE_S: '5',
  });
}

/** A login role of an app (holding sms_sender) with a schema of its own, connected. */
async function newApp(schema: string): Promise<{ role: string; c: pg.Client }> {
  const role = await roles.create({ login: password, memberOf: ['sms_sender'] });
  await tdb.pool.query(`create schema ${schema} authorization ${role}`);
  const c = await connectAs(tdb.url, role, password);
  clients.push(c);
  return { role, c };
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Shop'`);
  sim = await startSimulator(DEFAULTS);
  // /mo waits for the worker's answer; the one a killed worker's successor gives takes a while.
  ctl = await startControlServer(sim, { port: 0, ackTimeoutMs: 90_000 });
  workerRole = await roles.create({ login: password, memberOf: ['sms_worker'] });
  const u = new URL(tdb.url);
  u.username = workerRole;
  u.password = password;
  workerUrl = u.toString();
  ({ role: appRole, c: app } = await newApp('app'));
  await app.query(`
    create table app.orders (id int primary key, phone text not null, status text not null default 'awaiting',
                             confirmations int not null default 0, question uuid);
    create table app.handled (body text);
    create table app.stops (keyword_action text, marketing_status text, marketing_error text);
    -- Confirms the order the SMS answers. Counting every call (not only the first) makes a
    -- second call visible: exactly once is the worker's doing here, not the handler's.
    create function app.confirm(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app, public, pg_temp as $$
    begin
      update orders set status = 'confirmed', confirmations = confirmations + 1 where question = in_reply_to;
    end $$;
    create function app.picky(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app, public, pg_temp as $$
    begin
      if inbox.body like 'boom%' then raise exception 'cannot handle %', inbox.body; end if;
      insert into handled values (inbox.body);
    end $$;
    create function app.thank(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app, public, pg_temp as $$
    begin
      perform sms_send(inbox.sender, 'Thank you for your feedback!', sender => inbox.recipient);
    end $$;
    create function app.echo(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app, public, pg_temp as $$
    begin
      perform sms_send(inbox.sender, 'We got: ' || inbox.body, sender => inbox.recipient);
    end $$;
    -- What a handler for stop keywords sees: the SMS's keyword_action, and the number already
    -- opted out (a marketing message to it is refused, OPTED_OUT).
    create function app.on_stop(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app, public, pg_temp as $$
    declare offer uuid;
    begin
      offer := sms_send(inbox.sender, 'We will miss you: 10% off', category => 'marketing');
      insert into stops select inbox.keyword_action, s.status, s.error_code from sms_status(offer) s;
    end $$;
    select sms_on_inbound('app.confirm(sms_inbox, uuid)', keywords => array['ДА', 'YES']);
    select sms_on_inbound('app.picky(sms_inbox, uuid)', pattern => '^(boom|ok)');
    select sms_on_inbound('app.thank(sms_inbox, uuid)', keywords => array['FEEDBACK']);
    select sms_on_inbound('app.echo(sms_inbox, uuid)', pattern => '^Auto:');
    select sms_on_inbound('app.on_stop(sms_inbox, uuid)', keywords => array['STOP', 'СТОП']);`);
  worker = startWorker();
  await worker.waitForLog(/SMPP session bound/);
});

beforeEach(() => sim.configure(DEFAULTS));

after(async () => {
  await worker?.stop();
  await ctl?.close();
  await sim?.stop();
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await tdb?.drop();
  await roles.dropAll();
});

/** A request to the simulator's control port; resolves with the status and the JSON answer. */
async function control(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://${ctl.host}:${ctl.port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** A message from `c` to `phone`, sent from our number, once delivered. */
async function ask(phone: string, body: string, c: pg.Client = app): Promise<string> {
  const { rows } = await c.query<{ id: string }>(`select sms_send($1, $2, sender => '${OURS}') as id`, [phone, body]);
  await waitForStatuses(tdb.pool, [rows[0]!.id], ['delivered']);
  return rows[0]!.id;
}

/**
 * An SMS from `phone` to our number through POST /mo; resolves with the command_status of the
 * worker's answer the SMSC counted (with `loseAck`, its first one is taken as lost).
 */
async function answer(phone: string, text: string, loseAck = false): Promise<string> {
  const r = await control('/mo', { from: `+${phone}`, to: OURS, text, ...(loseAck ? { lose_ack: true } : {}) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.acknowledged[0].command_status;
}

const inboxOf = async (phone: string) => (await tdb.pool.query('select id, body, in_reply_to, owner, deliveries from sms_inbox where sender = $1 order by id', [phone])).rows;

test('a ДА confirms the order exactly once, although the worker was killed before the SMSC got its acknowledgement and the SMSC delivered it again', async () => {
  const phone = '79991110001';
  await app.query(`insert into app.orders (id, phone) values (1, $1)`, [phone]);
  const question = await ask(`+${phone}`, 'Order 1: reply ДА to confirm');
  await app.query('update app.orders set question = $1 where id = 1', [question]);

  // lose_ack: the worker stores the SMS (its handler confirms the order), commits and answers;
  // that answer never reaches the SMSC, as when the worker dies before sending it. Then the
  // worker is killed. To the SMSC and to the database the two are the same.
  const acked = answer(phone, 'Да!', true);
  await waitFor('the ДА to be stored and its answer lost', async () => sim.counters.acksLost === 1 && (await inboxOf(phone)).length === 1);
  assert.deepEqual((await app.query('select status, confirmations from app.orders where id = 1')).rows[0], { status: 'confirmed', confirmations: 1 });
  assert.equal(await worker.kill(), 'SIGKILL');
  // The SMSC sends it again on the next bind; the new worker recognises the copy and answers it.
  worker = startWorker();
  assert.equal(await acked, 'ESME_ROK', 'the copy is acknowledged');
  assert.ok(sim.counters.redeliveries >= 1);
  assert.deepEqual((await app.query('select status, confirmations from app.orders where id = 1')).rows[0], { status: 'confirmed', confirmations: 1 });
  const stored = (await inboxOf(phone)).map(({ id: _id, ...r }) => r);
  assert.deepEqual(stored, [{ body: 'Да!', in_reply_to: question, owner: appRole, deliveries: 2 }]);
  assert.deepEqual((await app.query('select count(*)::int as n from sms_handler_errors()')).rows[0], { n: 0 });
  await worker.waitForLog(/SMPP session bound/);
});

test('a handler that raises parks only its own SMS; the ones behind it are handled, all are acknowledged; a replay runs it', async () => {
  const phone = '79991110002';
  await ask(phone, 'Tell us what you think');
  const statuses = await Promise.all([answer(phone, 'ok one'), answer(phone, 'boom!'), answer(phone, 'ok two')]);
  assert.deepEqual(statuses, ['ESME_ROK', 'ESME_ROK', 'ESME_ROK']);
  assert.deepEqual((await app.query('select body from app.handled order by body')).rows.map((r) => r.body), ['ok one', 'ok two']);
  const errors = (await app.query(`select error_message, body, attempts from sms_handler_errors()`)).rows;
  assert.deepEqual(errors, [{ error_message: 'cannot handle boom!', body: 'boom!', attempts: 1 }]);
  assert.equal((await inboxOf(phone)).length, 3, 'every SMS is stored');

  // Fixed and replayed through the worker's reconcile task: handled once, the error row gone.
  await app.query(`create or replace function app.picky(inbox sms_inbox, in_reply_to uuid) returns void
                   language plpgsql set search_path = app, public, pg_temp as $$ begin insert into handled values (inbox.body); end $$`);
  assert.equal((await app.query<{ n: number }>('select sms_handler_replay() as n')).rows[0]!.n, 1);
  await waitFor('the replay', async () => (await app.query('select 1 from sms_handler_errors()')).rowCount === 0, 60_000);
  assert.deepEqual((await app.query(`select body from app.handled where body like 'boom%'`)).rows, [{ body: 'boom!' }]);
});

test('an auto-reply sent by a handler is delivered, answering the SMS', async () => {
  const phone = '79991110003';
  await ask(phone, 'How was your order? Reply FEEDBACK and your words');
  assert.equal(await answer(phone, 'FEEDBACK all good'), 'ESME_ROK');
  const [inbox] = await inboxOf(phone);
  const reply = (await tdb.pool.query(`select id, owner from sms_outbox where reply_to_inbox = $1`, [inbox.id])).rows[0];
  assert.equal(reply.owner, appRole);
  await waitForStatuses(tdb.pool, [reply.id], ['delivered']);
  const wire = sim.received.submits.filter((s) => s.destination === phone && s.text === 'Thank you for your feedback!');
  assert.equal(wire.length, 1);
  assert.equal(wire[0]!.source, OURS);
});

test('a loop between two auto-responders stops at the guard: the reply past auto_reply_limit is never sent', async () => {
  const phone = '79991110004';
  await tdb.pool.query('update sms_settings set auto_reply_limit = 3');
  try {
    // The phone answers every message with the same text (POST /auto-reply); our handler
    // answers every answer.
    const set = await control('/auto-reply', { number: `+${phone}`, text: 'Auto: I am away' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    await app.query(`select sms_send($1, 'Your parcel is on its way', sender => '${OURS}')`, [phone]);
    const stopped = await waitFor(
      'a reply stored rejected (REPLY_LOOP)',
      async () => (await tdb.pool.query(`select id, error_code from sms_outbox where recipient = $1 and status = 'rejected'`, [phone])).rows[0],
      60_000,
    );
    assert.equal(stopped.error_code, 'REPLY_LOOP');
    // The rejected reply is final at once and never claimed: what went out is the first message
    // and three replies, each answered by the phone; the fourth answer got the rejected reply.
    const out = (await tdb.pool.query(`select status, reply_to_inbox is not null as reply from sms_outbox where recipient = $1 order by created_at, id`, [phone])).rows;
    assert.deepEqual(
      out.map((r) => [r.reply, r.status === 'rejected' ? 'rejected' : 'sent']),
      [
        [false, 'sent'],
        [true, 'sent'],
        [true, 'sent'],
        [true, 'sent'],
        [true, 'rejected'],
      ],
    );
    assert.equal((await inboxOf(phone)).length, 4);
    const sent = (await tdb.pool.query(`select id from sms_outbox where recipient = $1 and status <> 'rejected'`, [phone])).rows.map((r) => r.id);
    await waitForStatuses(tdb.pool, sent, ['delivered']);
    assert.equal(sim.received.submits.filter((s) => s.destination === phone).length, 4);
    // Nothing more comes: the phone got no fifth message to answer.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await inboxOf(phone)).length, 4);
  } finally {
    await tdb.pool.query('update sms_settings set auto_reply_limit = 10');
  }
});

test('a stop keyword is recorded before any handler runs, and the handler sees it', async () => {
  const phone = '79991110005';
  await ask(phone, 'News every week. Reply СТОП to opt out');
  assert.equal(await answer(phone, 'Стоп.'), 'ESME_ROK');
  assert.deepEqual(
    (await app.query('select * from app.stops')).rows,
    [{ keyword_action: 'opt_out', marketing_status: 'rejected', marketing_error: 'OPTED_OUT' }],
    JSON.stringify({ inbox: await inboxOf(phone), errors: (await app.query('select error_message from sms_handler_errors()')).rows }),
  );
  assert.equal((await tdb.pool.query('select count(*)::int as n from sms_opt_out where recipient = $1', [phone])).rows[0].n, 1);
  assert.equal(sim.received.submits.filter((s) => s.destination === phone).length, 1, 'the marketing message was never submitted');
});

test('tenancy: a reply goes to the handlers of the owner of the message it answers, which see only that owner\'s messages', async () => {
  const { role: roleB, c: b } = await newApp('app_b');
  await b.query(`
    create table app_b.known (id uuid);
    create table app_b.seen (sender text, body text, in_reply_to uuid, who text, statuses int, conversation int);
    -- Records what it is called for and what it can see: sms_status of every id it learnt, and
    -- the conversation with the sender.
    create function app_b.see(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app_b, public, pg_temp as $$
    begin
      insert into seen values (inbox.sender, inbox.body, in_reply_to, current_user,
        (select count(*) from known k, sms_status(k.id)), (select count(*) from sms_conversation(inbox.sender)));
    end $$;
    -- No condition: every answer to a message of this owner's.
    select sms_on_inbound('app_b.see(sms_inbox, uuid)');`);
  const phone = '79991110006';
  const fromA = await ask(phone, 'From A: how are we doing?');
  await b.query('insert into app_b.known values ($1)', [fromA]);
  assert.equal(await answer(phone, 'ok says the phone to A'), 'ESME_ROK');
  assert.deepEqual((await b.query('select * from app_b.seen')).rows, [], 'B\'s handler is not called for an answer to A');
  assert.deepEqual((await app.query(`select body from app.handled where body like '%phone to%'`)).rows, [{ body: 'ok says the phone to A' }]);

  const fromB = await ask(phone, 'From B: rate us', b);
  assert.equal(await answer(phone, 'ok says the phone to B'), 'ESME_ROK');
  // B's handler: called as B, for its own message; A's message is neither in sms_status nor in
  // the conversation it sees (B's message and the answer to it).
  assert.deepEqual((await b.query('select * from app_b.seen')).rows, [{ sender: phone, body: 'ok says the phone to B', in_reply_to: fromB, who: roleB, statuses: 0, conversation: 2 }]);
  // A's rule (pattern ^ok) matched the text too, but the SMS is B's: A's handler did not run.
  assert.deepEqual((await app.query(`select body from app.handled where body like '%phone to%'`)).rows, [{ body: 'ok says the phone to A' }]);
  assert.deepEqual((await inboxOf(phone)).map((r) => [r.body, r.owner]), [
    ['ok says the phone to A', appRole],
    ['ok says the phone to B', roleB],
  ]);
});

test('a hostile handler runs as its owner and gets nothing of the worker\'s; the worker goes on', async () => {
  const { role: roleH, c: h } = await newApp('app_h');
  await tdb.pool.query('create table public.hostile_probe (who text, session_user_name text)');
  await tdb.pool.query(`grant insert on public.hostile_probe to ${roleH}`);
  await h.query(`
    create function app_h.hostile(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app_h, public, pg_temp as $$
    begin
      case inbox.body
        when 'who am i' then insert into public.hostile_probe values (current_user, session_user);
        when 'set role' then execute 'set role ${workerRole}';
        when 'reset role' then reset role;
        when 'read outbox' then perform count(body) from public.sms_outbox;
        when 'read rules' then perform count(*) from public.sms_inbound_rule;
        when 'call run' then perform public.sms_inbound_run(array[inbox.id], array[1::bigint], 100);
        when 'as the worker' then
          perform set_config('sms.reply_context', '', true);
          perform sms_send(inbox.sender, 'sent as the worker');
        when 'leave state' then
          set application_name = 'pwned';
          perform pg_advisory_lock(4242);
          execute 'prepare pwned as select 1';
        else null;
      end case;
    end $$;
    select sms_on_inbound('app_h.hostile(sms_inbox, uuid)');`);
  const phone = '79991110007';
  await ask(phone, 'Say something', h);
  const texts = ['who am i', 'set role', 'reset role', 'read outbox', 'read rules', 'call run', 'as the worker', 'leave state'];
  for (const text of texts) assert.equal(await answer(phone, text), 'ESME_ROK', text);
  const failed = (await h.query('select body, error_code, error_message from sms_handler_errors() order by failed_at, id')).rows;
  assert.deepEqual(
    failed.map((e) => [e.body, e.error_code]),
    ['set role', 'reset role', 'read outbox', 'read rules', 'call run', 'as the worker'].map((t) => [t, '42501']),
    JSON.stringify(failed),
  );
  assert.deepEqual((await tdb.pool.query('select * from public.hostile_probe')).rows, [{ who: roleH, session_user_name: workerRole }]);
  assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_outbox where body = 'sent as the worker'`)).rows[0].n, 0);
  assert.equal((await inboxOf(phone)).length, texts.length, 'every SMS is stored');
  // What it set in the worker's session is gone: no session named pwned, no lock held.
  await waitFor('the worker to reset its handler session', async () => {
    const { rows } = await tdb.pool.query(`
      select (select count(*)::int from pg_stat_activity where application_name = 'pwned') as named,
             (select count(*)::int from pg_locks where locktype = 'advisory' and objid = 4242) as locks`);
    return rows[0].named === 0 && rows[0].locks === 0;
  });
  // The worker goes on: a message is sent and delivered, an answer to another app handled.
  const after = await ask('79991110008', 'Still there? Reply ok');
  assert.equal(await answer('79991110008', 'ok still here'), 'ESME_ROK');
  assert.equal((await inboxOf('79991110008'))[0].in_reply_to, after);
  assert.deepEqual((await app.query(`select body from app.handled where body = 'ok still here'`)).rows, [{ body: 'ok still here' }]);
});

test('docs/guides/two-way.md: its SQL, run as written, confirms the order when the customer answers Да!', async () => {
  const shopApp = await roles.create({ login: password });
  const sqlBlocks = blocks('docs/guides/two-way.md').filter((b) => b.lang === 'sql');
  assert.ok(sqlBlocks.length >= 3);
  // Run as the owner of the database, as the page says; its role is this test's.
  for (const b of sqlBlocks) await tdb.pool.query(b.code.replace(/\bshop_app\b/g, shopApp));
  const { rows } = await tdb.pool.query('select id, phone, status, confirmation_sms from shop.orders');
  assert.deepEqual(rows.map((r) => [r.id, r.phone, r.status]), [['1001', '79991234567', 'awaiting']]);
  await waitForStatuses(tdb.pool, [rows[0].confirmation_sms], ['delivered']);

  // "The customer texts Да! to 79001234567": the control port request the page shows.
  const r = await control('/mo', { from: '+79991234567', to: '79001234567', text: 'Да!' });
  assert.equal(r.body.acknowledged[0].command_status, 'ESME_ROK');
  const order = (await tdb.pool.query('select status, answered_at from shop.orders where id = 1001')).rows[0];
  assert.equal(order.status, 'confirmed');
  assert.ok(order.answered_at);
  const thanks = (await tdb.pool.query(`select id, owner from sms_outbox where recipient = '79991234567' and body = 'Заказ подтверждён. Спасибо!'`)).rows;
  assert.deepEqual(thanks.map((t) => t.owner), [shopApp]);
  await waitForStatuses(tdb.pool, [thanks[0].id], ['delivered']);
  // What the page says the app sees afterwards: the conversation, as shop_app.
  const shop = await connectAs(tdb.url, shopApp, password);
  clients.push(shop);
  const conv = (await shop.query(`select direction, body, status from sms_conversation('+79991234567')`)).rows;
  assert.deepEqual(
    conv.map((c) => [c.direction, c.status]),
    [
      ['out', 'delivered'],
      ['in', null],
      ['out', 'delivered'],
    ],
  );
  assert.equal(conv[1].body, 'Да!');
  // A second answer changes nothing and sends nothing (status = 'awaiting' in the handler).
  await control('/mo', { from: '+79991234567', to: '79001234567', text: 'да, конечно' });
  assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_outbox where recipient = '79991234567'`)).rows[0].n, 2);
});
