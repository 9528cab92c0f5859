/**
 * Two-way SMS end to end: a real Postgres, the worker as a real child process logged in as a
 * role that holds nothing but sms_worker, the SMSC simulator over TCP, and an app that registers
 * its reply handlers as its own login role. An order confirmed by SMS is updated exactly once
 * although the worker is killed between storing the ДА and acknowledging it and the SMSC
 * delivers it again; a handler that raises parks only its own SMS; an auto-reply is delivered;
 * two auto-responders answering each other are stopped by the loop guard.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { TestRoles } from '../sql/helpers.js';
import { waitFor } from '../ops/helpers.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let app: pg.Client;
let appRole: string;
let workerUrl: string;
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

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Shop'`);
  sim = await startSimulator(DEFAULTS);
  appRole = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const workerRole = await roles.create({ login: password, memberOf: ['sms_worker'] });
  const u = new URL(tdb.url);
  u.username = workerRole;
  u.password = password;
  workerUrl = u.toString();
  await tdb.pool.query(`create schema shop authorization ${appRole}`);
  app = await connectAs(tdb.url, appRole, password);
  await app.query(`
    create table shop.orders (id int primary key, phone text not null, status text not null default 'awaiting',
                              confirmations int not null default 0, question uuid);
    create table shop.handled (body text);
    -- Confirms the order the SMS answers. Counting every call (not only the first) makes a
    -- second call visible: exactly once is the worker's doing here, not the handler's.
    create function shop.confirm(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = shop, public, pg_temp as $$
    begin
      update orders set status = 'confirmed', confirmations = confirmations + 1 where question = in_reply_to;
    end $$;
    create function shop.picky(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = shop, public, pg_temp as $$
    begin
      if inbox.body like 'boom%' then raise exception 'cannot handle %', inbox.body; end if;
      insert into handled values (inbox.body);
    end $$;
    create function shop.thank(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = shop, public, pg_temp as $$
    begin
      perform sms_send(inbox.sender, 'Thank you for your feedback!', sender => inbox.recipient);
    end $$;
    create function shop.echo(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = shop, public, pg_temp as $$
    begin
      perform sms_send(inbox.sender, 'We got: ' || inbox.body, sender => inbox.recipient);
    end $$;
    select sms_on_inbound('shop.confirm(sms_inbox, uuid)', keywords => array['ДА', 'YES']);
    select sms_on_inbound('shop.picky(sms_inbox, uuid)', pattern => '^(boom|ok)');
    select sms_on_inbound('shop.thank(sms_inbox, uuid)', keywords => array['FEEDBACK']);
    select sms_on_inbound('shop.echo(sms_inbox, uuid)', pattern => '^Auto:');`);
  worker = startWorker();
  await worker.waitForLog(/SMPP session bound/);
});

beforeEach(() => sim.configure(DEFAULTS));

after(async () => {
  await worker?.stop();
  await sim?.stop();
  await app?.end();
  await tdb?.drop();
  await roles.dropAll();
});

/** A message from the app to `phone`, sent from our number, once delivered. */
async function ask(phone: string, body: string): Promise<string> {
  const { rows } = await app.query<{ id: string }>(`select sms_send($1, $2, sender => '${OURS}') as id`, [phone, body]);
  await waitForStatuses(tdb.pool, [rows[0]!.id], ['delivered']);
  return rows[0]!.id;
}

/** An SMS from `phone` to our number; resolves with the command_status of its first counted answer. */
function answer(phone: string, text: string, loseAcks = 0): Promise<number> {
  return new Promise((resolve) => sim.sendMo({ source: phone, destination: OURS, text, loseAcks, onResponse: (_seq, status) => resolve(status) }));
}

test('a ДА confirms the order exactly once, although the worker was killed before acknowledging it and the SMSC delivered it again', async () => {
  const phone = '79991110001';
  await app.query(`insert into shop.orders (id, phone) values (1, $1)`, [phone]);
  const question = await ask(`+${phone}`, 'Order 1: reply ДА to confirm');
  await app.query('update shop.orders set question = $1 where id = 1', [question]);

  const acked = answer(phone, 'Да!', 1);
  // The worker stores it (and the handler confirms the order) and answers; the SMSC never gets
  // that answer. Then the worker dies.
  await waitFor('the ДА to be stored and its answer lost', async () => sim.counters.acksLost === 1 && (await tdb.pool.query(`select 1 from sms_inbox where sender = $1`, [phone])).rowCount === 1);
  assert.deepEqual((await app.query('select status, confirmations from shop.orders where id = 1')).rows[0], { status: 'confirmed', confirmations: 1 });
  await worker.kill();
  // The SMSC sends it again on the next bind; the new worker recognises the copy and answers it.
  worker = startWorker();
  assert.equal(await acked, 0, 'the copy is acknowledged (ESME_ROK)');
  assert.ok(sim.counters.redeliveries >= 1);
  assert.deepEqual((await app.query('select status, confirmations from shop.orders where id = 1')).rows[0], { status: 'confirmed', confirmations: 1 });
  const { rows } = await tdb.pool.query('select body, in_reply_to, owner, deliveries from sms_inbox where sender = $1', [phone]);
  assert.deepEqual(rows, [{ body: 'Да!', in_reply_to: question, owner: appRole, deliveries: 2 }]);
  await worker.waitForLog(/SMPP session bound/);
});

test('a handler that raises parks only its own SMS; the ones behind it are handled, all are acknowledged', async () => {
  const phone = '79991110002';
  await ask(phone, 'Tell us what you think');
  const statuses = await Promise.all([answer(phone, 'ok one'), answer(phone, 'boom!'), answer(phone, 'ok two')]);
  assert.deepEqual(statuses, [0, 0, 0]);
  assert.deepEqual((await app.query('select body from shop.handled order by body')).rows.map((r) => r.body), ['ok one', 'ok two']);
  const errors = (await app.query(`select error_message, body, attempts from sms_handler_errors()`)).rows;
  assert.deepEqual(errors, [{ error_message: 'cannot handle boom!', body: 'boom!', attempts: 1 }]);
  assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_inbox where sender = $1`, [phone])).rows[0].n, 3, 'every SMS is stored');

  // Fixed and replayed through the worker's reconcile task: handled once, the error row gone.
  await app.query(`create or replace function shop.picky(inbox sms_inbox, in_reply_to uuid) returns void
                   language plpgsql set search_path = shop, public, pg_temp as $$ begin insert into handled values (inbox.body); end $$`);
  assert.equal((await app.query<{ n: number }>('select sms_handler_replay() as n')).rows[0]!.n, 1);
  await waitFor('the replay', async () => (await app.query('select 1 from sms_handler_errors()')).rowCount === 0, 60_000);
  assert.deepEqual((await app.query(`select body from shop.handled where body like 'boom%'`)).rows, [{ body: 'boom!' }]);
});

test('an auto-reply sent by a handler is delivered, answering the SMS', async () => {
  const phone = '79991110003';
  await ask(phone, 'How was your order? Reply FEEDBACK and your words');
  assert.equal(await answer(phone, 'FEEDBACK all good'), 0);
  const inbox = (await tdb.pool.query(`select id from sms_inbox where sender = $1`, [phone])).rows[0].id;
  const reply = (await tdb.pool.query(`select id, owner from sms_outbox where reply_to_inbox = $1`, [inbox])).rows[0];
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
    // The phone answers every message with the same text; our handler answers every answer.
    sim.configure({ autoReplies: { [phone]: 'Auto: I am away' } });
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
    assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_inbox where sender = $1`, [phone])).rows[0].n, 4);
    const sent = (await tdb.pool.query(`select id from sms_outbox where recipient = $1 and status <> 'rejected'`, [phone])).rows.map((r) => r.id);
    await waitForStatuses(tdb.pool, sent, ['delivered']);
    assert.equal(sim.received.submits.filter((s) => s.destination === phone).length, 4);
  } finally {
    await tdb.pool.query('update sms_settings set auto_reply_limit = 10');
  }
});
