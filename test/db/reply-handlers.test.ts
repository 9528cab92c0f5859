/**
 * Reply handlers called the way the worker calls them: incoming SMS stored by a login that holds
 * sms_worker (as production's worker logs in), in one transaction on a connection of its own,
 * their handlers called in it (src/db/reply-handlers.ts, sms_inbound_run), the connection reset
 * afterwards. Apps register handlers as their own login roles. What is checked: a handler's
 * effects commit with the SMS, once; its reply is its owner's; an owner's handler sees only its
 * own conversations; a stop keyword is applied first; a handler that raises, loops, waits on a
 * lock or will not stop is rolled back alone and its SMS stays stored; and a hostile handler gets
 * nothing of the worker's: not its role, its tables, its functions, its identity, nor its session.
 * End to end through the worker process and the simulator: test/worker/two-way.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles } from '../sql/helpers.js';
import { createDb, createPool } from '../../src/db/pool.js';
import type { Database } from '../../src/db/schema.js';
import { insertInboxMessages, type InboxMessage } from '../../src/db/inbox.js';
import { handleStored } from '../../src/db/inbound-writes.js';
import { callReplyHandlers, replayHandlerErrors, withHandlerConnection, type HandlerCalls, type ReplyHandlerOptions } from '../../src/db/reply-handlers.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const clients: pg.Client[] = [];
let appA: string;
let appB: string;
let appH: string;
let a: pg.Client;
let b: pg.Client;
let h: pg.Client;
let workerLogin: string;
let workerPool: pg.Pool;
let workerDb: Kysely<Database>;
let options: ReplyHandlerOptions;

const OURS = '79000000001';

async function login(user: string): Promise<pg.Client> {
  const c = await connectAs(tdb.url, user, password);
  clients.push(c);
  return c;
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  appA = await roles.create({ login: password, memberOf: ['sms_sender'] });
  appB = await roles.create({ login: password, memberOf: ['sms_sender'] });
  appH = await roles.create({ login: password, memberOf: ['sms_sender'] });
  workerLogin = await roles.create({ login: password, memberOf: ['sms_worker'] });
  for (const [role, schema] of [
    [appA, 'app_a'],
    [appB, 'app_b'],
    [appH, 'app_h'],
  ]) {
    await tdb.pool.query(`create schema ${schema} authorization ${role}`);
  }
  a = await login(appA);
  b = await login(appB);
  h = await login(appH);
  const u = new URL(tdb.url);
  u.username = workerLogin;
  u.password = password;
  // One connection, so what a handler may leave in the session is visible to the next query.
  workerPool = createPool(u.toString(), { max: 1 });
  workerDb = createDb(workerPool);
  options = {
    workerRole: 'sms_worker',
    timeoutMs: 1500,
    graceMs: 500,
    terminate: async (pid) => void (await tdb.pool.query('select pg_terminate_backend($1)', [pid])),
    suspend: async (ruleId, reason) => void (await tdb.pool.query('select sms_inbound_suspend($1, $2)', [ruleId, reason])),
  };
});
after(async () => {
  await workerDb?.destroy();
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await tdb.drop();
  await roles.dropAll();
});

/** A message from `c` to `phone`, accepted by the SMSC (as the worker marks it). */
async function sent(c: pg.ClientBase, phone: string, body: string, extra = ''): Promise<string> {
  const { rows } = await c.query<{ id: string }>(`select sms_send($1, $2, sender => '${OURS}'${extra}) as id`, [phone, body]);
  await tdb.pool.query(`update sms_outbox set status = 'sent', submitted_at = now(), attempts = 1 where id = $1`, [rows[0]!.id]);
  return rows[0]!.id;
}

function mo(from: string, text: string, to = OURS): InboxMessage {
  return { sender: from, recipient: to, body: text, payload: Buffer.from(text, 'utf16le'), encoding: 'ucs2', parts: 1, missingParts: 0 };
}

/** Stores incoming SMS as the worker does, calling their handlers; returns the ids stored and the calls. */
async function store(messages: InboxMessage[], opts: ReplyHandlerOptions = options, after?: (tx: Kysely<Database>) => Promise<void>): Promise<{ ids: string[]; calls: HandlerCalls }> {
  return withHandlerConnection(workerDb, (conn, ran) =>
    conn.transaction().execute(async (tx) => {
      const ids = await insertInboxMessages(tx, messages);
      const calls = await handleStored(tx, ids, { options: opts, ran });
      await after?.(tx);
      return { ids, calls };
    }),
  );
}

const errors = async (ruleId: string) =>
  (await tdb.pool.query('select inbox_id, error_code, error_message, error_context, attempts from sms_handler_error where rule_id = $1 order by id', [ruleId])).rows;

let phoneSeq = 0;
const newPhone = () => `7999${process.pid % 1000}${String(++phoneSeq).padStart(4, '0')}`.slice(0, 11);

describe('an order confirmed by SMS', () => {
  let rule: string;
  before(async () => {
    await a.query(`
      create table app_a.orders (id int primary key, phone text not null, status text not null default 'awaiting');
      create function app_a.on_reply(inbox sms_inbox, in_reply_to uuid) returns void
      language plpgsql set search_path = app_a, public, pg_temp as $$
      begin
        update orders set status = 'confirmed' where phone = ltrim(inbox.sender, '+') and status = 'awaiting';
        if found then
          perform sms_send(inbox.sender, 'Order confirmed, thank you!', sender => inbox.recipient);
        end if;
      end $$;`);
    rule = (await a.query<{ id: string }>(`select sms_on_inbound('app_a.on_reply(sms_inbox, uuid)', keywords => array['ДА', 'YES']) as id`)).rows[0]!.id;
  });
  after(async () => {
    await a.query('select sms_off_inbound($1)', [rule]);
  });

  test('a ДА updates the order in the transaction that stores it, once, and the reply is the app\'s, answering it', async () => {
    const phone = newPhone();
    await a.query(`insert into app_a.orders (id, phone) values (1, $1)`, [phone]);
    const question = await sent(a, phone, 'Order 1: reply ДА to confirm');
    const { ids, calls } = await store([mo(`+${phone}`, 'Да!')]);
    assert.deepEqual(calls, { calls: 1, failed: 0 });
    assert.equal((await a.query(`select status from app_a.orders where id = 1`)).rows[0].status, 'confirmed');
    const conversation = (await a.query('select direction, id, body, in_reply_to from sms_conversation($1)', [phone])).rows;
    assert.deepEqual(
      conversation.map((r) => [r.direction, r.in_reply_to]),
      [
        ['out', null],
        ['in', question],
        ['out', ids[0]],
      ],
    );
    const reply = (await tdb.pool.query('select owner, sender, recipient, reply_to_inbox from sms_outbox where id = $1', [conversation[2].id])).rows[0];
    assert.deepEqual(reply, { owner: appA, sender: OURS, recipient: phone, reply_to_inbox: ids[0] });
    // The SMSC delivers the same ДА again (its acknowledgement was lost): counted, nothing runs.
    const again = await store([mo(phone, 'Да!')]);
    assert.deepEqual(again, { ids: [], calls: { calls: 0, failed: 0 } });
    assert.equal((await tdb.pool.query('select deliveries from sms_inbox where id = $1', [ids[0]])).rows[0].deliveries, 2);
    assert.equal((await tdb.pool.query('select count(*)::int as n from sms_outbox where reply_to_inbox = $1', [ids[0]])).rows[0].n, 1);
  });

  test('when the storing transaction rolls back, so does the handler\'s update', async () => {
    const phone = newPhone();
    await a.query(`insert into app_a.orders (id, phone) values (2, $1)`, [phone]);
    await sent(a, phone, 'Order 2: reply YES');
    await assert.rejects(
      store([mo(phone, 'yes')], options, async () => {
        throw new Error('the write failed after the handlers ran');
      }),
      /the write failed/,
    );
    assert.equal((await a.query(`select status from app_a.orders where id = 2`)).rows[0].status, 'awaiting');
    await store([mo(phone, 'yes')]);
    assert.equal((await a.query(`select status from app_a.orders where id = 2`)).rows[0].status, 'confirmed');
  });

  test('only the first word counts as the keyword; other texts call nothing', async () => {
    const phone = newPhone();
    await a.query(`insert into app_a.orders (id, phone) values (3, $1)`, [phone]);
    await sent(a, phone, 'Order 3: reply ДА');
    assert.deepEqual((await store([mo(phone, 'Не да')])).calls, { calls: 0, failed: 0 });
    assert.deepEqual((await store([mo(phone, 'да, конечно')])).calls, { calls: 1, failed: 0 });
  });
});

describe('tenancy', () => {
  let seenA: string;
  let seenB: string;
  before(async () => {
    for (const [c, schema] of [
      [a, 'app_a'],
      [b, 'app_b'],
    ] as const) {
      await c.query(`
        create table ${schema}.seen (inbox uuid, sender text, body text, in_reply_to uuid, who text, statuses int, conversation int);
        create table ${schema}.known (id uuid);
        create function ${schema}.see(inbox sms_inbox, in_reply_to uuid) returns void
        language plpgsql set search_path = ${schema}, public, pg_temp as $$
        begin
          insert into seen values (inbox.id, inbox.sender, inbox.body, in_reply_to, current_user,
            (select count(*) from known k, sms_status(k.id)), (select count(*) from sms_conversation(inbox.sender)));
        end $$;`);
    }
    seenA = (await a.query<{ id: string }>(`select sms_on_inbound('app_a.see(sms_inbox, uuid)') as id`)).rows[0]!.id;
    seenB = (await b.query<{ id: string }>(`select sms_on_inbound('app_b.see(sms_inbox, uuid)') as id`)).rows[0]!.id;
  });
  after(async () => {
    await a.query('select sms_off_inbound($1)', [seenA]);
    await b.query('select sms_off_inbound($1)', [seenB]);
  });
  beforeEach(async () => {
    await tdb.pool.query('truncate app_a.seen, app_b.seen, app_a.known, app_b.known');
  });

  test('a reply to an owner\'s message goes to that owner\'s handlers alone, which see only that owner\'s messages', async () => {
    const phone = newPhone();
    const fromA = await sent(a, phone, 'from A');
    // B learns A's message id somehow: sms_status in B's handler still shows nothing of it.
    await b.query('insert into app_b.known values ($1)', [fromA]);
    await a.query('insert into app_a.known values ($1)', [fromA]);
    const { ids } = await store([mo(phone, 'answer to A')]);
    assert.deepEqual((await b.query('select * from app_b.seen')).rows, []);
    const seen = (await a.query('select * from app_a.seen')).rows;
    assert.deepEqual(seen, [{ inbox: ids[0], sender: phone, body: 'answer to A', in_reply_to: fromA, who: appA, statuses: 1, conversation: 2 }]);
    // B sends to the same number later: the next reply is B's, and B's handler sees B's rows only.
    await b.query('insert into app_b.known values ($1)', [fromA]);
    const fromB = await sent(b, phone, 'from B');
    await store([mo(phone, 'answer to B')]);
    const seenByB = (await b.query('select in_reply_to, who, statuses, conversation from app_b.seen')).rows;
    assert.deepEqual(seenByB, [{ in_reply_to: fromB, who: appB, statuses: 0, conversation: 2 }]);
  });

  test('an SMS that answers nothing is nobody\'s, unless a rule of one owner names the number it was sent to', async () => {
    const phone = newPhone();
    await store([mo(phone, 'hello?', '1234')]);
    assert.equal((await a.query('select count(*)::int as n from app_a.seen')).rows[0].n, 0);
    assert.equal((await b.query('select count(*)::int as n from app_b.seen')).rows[0].n, 0);
    const claim = (await a.query<{ id: string }>(`select sms_on_inbound('app_a.see(sms_inbox, uuid)', recipient => '1234', keywords => array['JOIN']) as id`)).rows[0]!.id;
    const later = (await b.query<{ id: string }>(`select sms_on_inbound('app_b.see(sms_inbox, uuid)', recipient => '1234') as id`)).rows[0]!.id;
    try {
      await store([mo(phone, 'JOIN pizza club', '1234'), mo(newPhone(), 'anything', '1234')]);
      // A named 1234 first: both SMS are A's (its catch-all sees both, its JOIN rule the first); B's see none.
      assert.deepEqual((await a.query('select body from app_a.seen order by body')).rows.map((r) => r.body), ['JOIN pizza club', 'JOIN pizza club', 'anything']);
      assert.equal((await b.query('select count(*)::int as n from app_b.seen')).rows[0].n, 0);
    } finally {
      await a.query('select sms_off_inbound($1)', [claim]);
      await b.query('select sms_off_inbound($1)', [later]);
    }
  });

  test('rules can ask for replies to messages of a category or with given metadata', async () => {
    const meta = (await a.query<{ id: string }>(`select sms_on_inbound('app_a.see(sms_inbox, uuid)', reply_to_metadata => '{"kind": "survey"}', pattern => '^[1-5]$') as id`)).rows[0]!.id;
    await a.query('select sms_off_inbound($1)', [seenA]);
    try {
      const p1 = newPhone();
      const p2 = newPhone();
      await sent(a, p1, 'Rate us 1-5', `, metadata => '{"kind": "survey", "round": 2}'`);
      await sent(a, p2, 'Your order shipped', `, metadata => '{"kind": "shipping"}'`);
      await store([mo(p1, '5'), mo(p2, '5'), mo(p1, 'five')]);
      assert.deepEqual((await a.query('select sender, body from app_a.seen')).rows, [{ sender: p1, body: '5' }]);
    } finally {
      await a.query('select sms_off_inbound($1)', [meta]);
      seenA = (await a.query<{ id: string }>(`select sms_on_inbound('app_a.see(sms_inbox, uuid)') as id`)).rows[0]!.id;
    }
  });
});

describe('stop keywords come first', () => {
  test('an opt-out is recorded before any handler runs, and the handler sees it', async () => {
    await b.query(`
      create table app_b.stops (keyword_action text, marketing_status text, marketing_error text);
      create function app_b.on_stop(inbox sms_inbox, in_reply_to uuid) returns void
      language plpgsql set search_path = app_b, public, pg_temp as $$
      declare id uuid;
      begin
        id := sms_send(inbox.sender, 'We will miss you: 10% off', category => 'marketing');
        insert into stops select inbox.keyword_action, s.status, s.error_code from sms_status(id) s;
      end $$;`);
    const rule = (await b.query<{ id: string }>(`select sms_on_inbound('app_b.on_stop(sms_inbox, uuid)', keywords => array['STOP']) as id`)).rows[0]!.id;
    try {
      const phone = newPhone();
      await sent(b, phone, 'News: reply STOP to opt out');
      await store([mo(phone, 'Stop')]);
      assert.deepEqual((await b.query('select * from app_b.stops')).rows, [{ keyword_action: 'opt_out', marketing_status: 'rejected', marketing_error: 'OPTED_OUT' }]);
    } finally {
      await b.query('select sms_off_inbound($1)', [rule]);
    }
  });
});

describe('a handler that fails', () => {
  let rule: string;
  /** The handler: records each SMS, and raises for those starting 'boom'. */
  const PICKY = `
    create or replace function app_b.picky(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = app_b, pg_temp as $$
    begin
      insert into done values (inbox.body);
      if inbox.body like 'boom%' then
        raise exception 'cannot handle %', inbox.body using errcode = '22023';
      end if;
    end $$`;
  before(async () => {
    await b.query('create table app_b.done (body text)');
    await b.query(PICKY);
    rule = (await b.query<{ id: string }>(`select sms_on_inbound('app_b.picky(sms_inbox, uuid)') as id`)).rows[0]!.id;
  });

  test('is rolled back alone: its SMS stays stored with the error, the next SMS are handled; a replay after the fix runs it once', async () => {
    const phone = newPhone();
    await sent(b, phone, 'Tell us');
    const { ids, calls } = await store([mo(phone, 'first'), mo(phone, 'boom 1'), mo(phone, 'third')]);
    assert.deepEqual(calls, { calls: 3, failed: 1 });
    assert.equal(ids.length, 3, 'every SMS is stored');
    assert.deepEqual((await b.query('select body from app_b.done order by body')).rows.map((r) => r.body), ['first', 'third']);
    const [e] = await errors(rule);
    assert.equal(e.inbox_id, ids[1]);
    assert.equal(e.error_code, '22023');
    assert.equal(e.error_message, 'cannot handle boom 1');
    assert.match(e.error_context, /app_b\.picky/);
    // The owner sees it, another owner does not and cannot replay it.
    const mine = (await b.query('select inbox_id, handler::text, body from sms_handler_errors()')).rows;
    assert.deepEqual(mine, [{ inbox_id: ids[1], handler: 'app_b.picky(sms_inbox,uuid)', body: 'boom 1' }]);
    assert.deepEqual((await a.query('select * from sms_handler_errors()')).rows, []);
    const errorId = (await tdb.pool.query('select id from sms_handler_error where rule_id = $1', [rule])).rows[0].id;
    await rejectsWith(a.query('select sms_handler_replay($1)', [errorId]), '22023', 'id');

    // Still broken: the replay fails again, one attempt more.
    assert.equal((await b.query<{ n: number }>('select sms_handler_replay($1) as n', [errorId])).rows[0]!.n, 1);
    assert.deepEqual(await replayHandlerErrors(workerDb, options), { calls: 1, failed: 1 });
    assert.equal((await errors(rule))[0].attempts, 2);
    // Fixed: the replay handles it once, and the row goes.
    await b.query(`create or replace function app_b.picky(inbox sms_inbox, in_reply_to uuid) returns void
                   language plpgsql set search_path = app_b, pg_temp as $$ begin insert into done values (inbox.body); end $$`);
    await b.query('select sms_handler_replay()');
    assert.deepEqual(await replayHandlerErrors(workerDb, options), { calls: 1, failed: 0 });
    assert.deepEqual(await replayHandlerErrors(workerDb, options), { calls: 0, failed: 0 });
    assert.deepEqual(await errors(rule), []);
    assert.deepEqual((await b.query(`select count(*)::int as n from app_b.done where body = 'boom 1'`)).rows[0].n, 1);
  });

  test('called one per statement (as the store does after a statement had to be ended): the same outcome', async () => {
    // The previous test fixed the handler; it raises again.
    await b.query(PICKY);
    const phone = newPhone();
    await sent(b, phone, 'Tell us again');
    const { ids, calls } = await withHandlerConnection(workerDb, (conn, ran) =>
      conn.transaction().execute(async (tx) => {
        const stored = await insertInboxMessages(tx, [mo(phone, 'fourth'), mo(phone, 'boom 2'), mo(phone, 'sixth')]);
        ran();
        return { ids: stored, calls: await callReplyHandlers(tx, stored, options, true) };
      }),
    );
    assert.deepEqual(calls, { calls: 3, failed: 1 });
    assert.deepEqual((await b.query(`select body from app_b.done where body in ('fourth', 'boom 2', 'sixth') order by body`)).rows.map((r) => r.body), ['fourth', 'sixth']);
    const parked = (await errors(rule)).filter((e) => e.inbox_id === ids[1]);
    assert.equal(parked.length, 1);
    assert.equal(parked[0].error_message, 'cannot handle boom 2');
  });
});

describe('a hostile handler', () => {
  let rule: string;
  let phone: string;
  let worker: pg.Client;
  before(async () => {
    worker = await login(workerLogin);
    await tdb.pool.query('create table public.hostile_probe (who text, session_user_name text)');
    await tdb.pool.query(`grant insert on public.hostile_probe to ${appH}`);
    await h.query(`
      create table app_h.t (id int primary key);
      insert into app_h.t values (1);
      create table app_h.deferred_log (current_user_name text);
      create function app_h.log_user() returns trigger language plpgsql as $$
      begin insert into app_h.deferred_log values (current_user); return null; end $$;
      create constraint trigger later after insert on app_h.t deferrable initially deferred
        for each row execute function app_h.log_user();
      create function app_h.hostile(inbox sms_inbox, in_reply_to uuid) returns void
      language plpgsql set search_path = app_h, public, pg_temp as $$
      begin
        if inbox.body like 'who%' then
          insert into public.hostile_probe values (current_user, session_user);
          return;
        end if;
        case inbox.body
          when 'set role' then execute 'set role sms_worker';
          when 'reset role' then reset role;
          when 'session authorization' then execute format('set session authorization %I', session_user);
          when 'read inbox' then perform count(*) from public.sms_inbox;
          when 'read outbox' then perform count(body) from public.sms_outbox;
          when 'read errors' then perform count(*) from public.sms_handler_error;
          when 'read rules' then perform count(*) from public.sms_inbound_rule;
          when 'call run' then perform public.sms_inbound_run(array[inbox.id], array[1::bigint], 100);
          when 'call matches' then perform public.sms_inbound_matches(array[inbox.id]);
          when 'call redact' then perform public.sms_redact(10);
          when 'call suspend' then perform public.sms_inbound_suspend(1, 'x');
          when 'forge context' then
            -- Another owner in its context: field 5 is the owner, hex.
            perform set_config('sms.reply_context', regexp_replace(current_setting('sms.reply_context'),
              '^(([^|]*\\|){4})[^|]*', '\\1' || encode(convert_to('someone_else', 'UTF8'), 'hex')), true);
            perform sms_send(inbox.sender, 'as someone else');
          when 'clear context' then
            perform set_config('sms.reply_context', '', true);
            perform sms_send(inbox.sender, 'as the worker');
          when 'settings' then
            set search_path = app_h, pg_catalog;
            set statement_timeout = 0;
            set synchronous_commit = off;
            set row_security = off;
            set application_name = 'pwned';
          when 'temp table' then create temp table sms_inbox (id uuid);
          when 'read only' then set transaction read only;
          when 'deferred' then set constraints all deferred; insert into app_h.t values (2) on conflict do nothing;
          when 'session state' then
            listen pwned;
            perform pg_advisory_lock(4242);
            execute 'prepare pwned as select 1';
          else null;
        end case;
      end $$;`);
    rule = (await h.query<{ id: string }>(`select sms_on_inbound('app_h.hostile(sms_inbox, uuid)') as id`)).rows[0]!.id;
    phone = newPhone();
    await sent(h, phone, 'say something');
  });
  after(async () => {
    await h.query('select sms_off_inbound($1)', [rule]);
  });

  /** Stores one SMS with `text`; returns the handler's error row (or undefined when it did not fail). */
  async function provoke(text: string, opts = options): Promise<Record<string, any> | undefined> {
    const { ids } = await store([mo(phone, text)], opts);
    assert.equal(ids.length, 1, `${text}: the SMS is stored`);
    return (await tdb.pool.query('select error_code, error_message from sms_handler_error where inbox_id = $1', [ids[0]])).rows[0];
  }

  test('runs as the role that registered it, in the worker\'s session, whatever the handler is declared as', async () => {
    assert.equal(await provoke('who'), undefined);
    assert.deepEqual((await tdb.pool.query('select * from public.hostile_probe')).rows, [{ who: appH, session_user_name: workerLogin }]);
    // Declared SECURITY DEFINER or not, it is called by a gateway that runs as its role.
    await h.query('alter function app_h.hostile(sms_inbox, uuid) security definer');
    await tdb.pool.query('truncate public.hostile_probe');
    assert.equal(await provoke('who again'), undefined);
    assert.equal((await tdb.pool.query('select who from public.hostile_probe')).rows[0].who, appH);
    await h.query('alter function app_h.hostile(sms_inbox, uuid) security invoker');
  });

  test('cannot take the worker role or another identity', async () => {
    for (const text of ['set role', 'reset role', 'session authorization']) {
      const e = await provoke(text);
      assert.equal(e?.error_code, '42501', text);
      assert.match(e?.error_message, /cannot set parameter .* within security-definer function/);
    }
  });

  test('cannot read the worker\'s tables nor call its functions', async () => {
    for (const text of ['read inbox', 'read outbox', 'read errors', 'read rules', 'call run', 'call matches', 'call redact', 'call suspend']) {
      const e = await provoke(text);
      assert.equal(e?.error_code, '42501', `${text}: ${e?.error_message}`);
      assert.match(e?.error_message, /permission denied/);
    }
  });

  test('cannot pose as another owner nor fall back to the worker\'s identity', async () => {
    const forged = await provoke('forge context');
    assert.deepEqual([forged?.error_code, forged?.error_message], ['42501', 'sms.reply_context was changed: it no longer says which reply handler runs']);
    const cleared = await provoke('clear context');
    assert.deepEqual([cleared?.error_code, cleared?.error_message], ['42501', 'the worker role enqueues nothing and owns no message']);
    assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_outbox where body in ('as someone else', 'as the worker')`)).rows[0].n, 0);
  });

  test('leaves no setting behind: the worker\'s next statements run as before', async () => {
    const before = (await worker.query(`select current_setting('search_path') as p, current_setting('synchronous_commit') as s, current_setting('row_security') as r`)).rows[0];
    let seen: Record<string, string> = {};
    await store([mo(phone, 'settings')], options, async (tx) => {
      const { rows } = await sql<Record<string, string>>`
        select current_setting('search_path') as p, current_setting('synchronous_commit') as s, current_setting('row_security') as r,
               current_setting('application_name') as a, current_setting('statement_timeout') as t`.execute(tx);
      seen = rows[0]!;
    });
    assert.deepEqual({ p: seen.p, s: seen.s, r: seen.r }, before);
    assert.notEqual(seen.a, 'pwned');
    assert.equal(seen.t, '3s', 'its own time limit (twice the 1.5 s of a handler), set again');
  });

  test('cannot leave temporary objects in the worker\'s session nor make its transaction read-only', async () => {
    const temp = await provoke('temp table');
    assert.equal(temp?.error_code, '42501');
    assert.match(temp?.error_message, /temporary objects/);
    const readOnly = await provoke('read only');
    assert.equal(readOnly?.error_code, '25006');
    const { rows } = await workerPool.query(`select pg_my_temp_schema()::int as temp, current_setting('transaction_read_only') as ro`);
    assert.deepEqual(rows[0], { temp: 0, ro: 'off' });
  });

  test('its deferred triggers fire as its role before it returns, not as the worker at commit', async () => {
    assert.equal(await provoke('deferred'), undefined);
    assert.deepEqual((await h.query('select * from app_h.deferred_log')).rows, [{ current_user_name: appH }]);
  });

  test('what it leaves in the session (LISTEN, advisory locks, prepared statements) is discarded', async () => {
    assert.equal(await provoke('session state'), undefined);
    const { rows } = await workerPool.query(`
      select (select count(*)::int from pg_listening_channels()) as listening,
             (select count(*)::int from pg_prepared_statements) as prepared,
             (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as locks`);
    assert.deepEqual(rows[0], { listening: 0, prepared: 0, locks: 0 });
  });
});

describe('time', () => {
  // Handlers are cancelled by Postgres after 300 ms. The worker's watchdog, which ends the
  // session of a handler that will not stop, is a bound here (60 s), not a pace: at 300 ms of
  // grace it ended a statement whose cancelled handler a loaded machine had not yet unwound.
  // Only the test of a handler that will not stop has it fire, after 300 ms.
  const quick = () => ({ ...options, timeoutMs: 300, graceMs: 60_000 });
  const watchdogSoon = () => ({ ...options, timeoutMs: 300, graceMs: 300 });
  let rule: string;
  let phone: string;
  before(async () => {
    await h.query(`
      create table app_h.handled (body text);
      create function app_h.slow(inbox sms_inbox, in_reply_to uuid) returns void
      language plpgsql set search_path = app_h, pg_temp as $$
      begin
        if inbox.body like 'loop%' then
          loop end loop;
        elsif inbox.body like 'stubborn%' then
          -- Catches every cancel: the inner block those landing in pg_sleep, the outer one those
          -- landing between two turns of the inner loop (with the inner block alone, such a cancel
          -- ended the handler now and then, as a plain time-out).
          loop
            begin
              loop
                begin
                  perform pg_sleep(0.05);
                exception when query_canceled then null;
                end;
              end loop;
            exception when query_canceled then null;
            end;
          end loop;
        elsif inbox.body like 'lock%' then
          perform 1 from t where id = 1 for update;
        end if;
        insert into handled values (inbox.body);
      end $$;`);
    rule = (await h.query<{ id: string }>(`select sms_on_inbound('app_h.slow(sms_inbox, uuid)', pattern => '^(loop|stubborn|lock|fine)') as id`)).rows[0]!.id;
    phone = newPhone();
    await sent(h, phone, 'say something slow');
  });
  after(async () => {
    await h.query('select sms_off_inbound($1)', [rule]);
  });

  test('a handler that loops is cancelled and parked; the SMS after it are handled; three time-outs in a row suspend its rule', async () => {
    const { calls } = await store([mo(phone, 'loop 1'), mo(phone, 'fine 1'), mo(phone, 'fine 2')], quick());
    assert.deepEqual(calls, { calls: 3, failed: 1 });
    assert.deepEqual((await h.query('select body from app_h.handled order by body')).rows.map((r) => r.body), ['fine 1', 'fine 2']);
    assert.equal((await errors(rule))[0].error_code, '57014');
    // 'fine 1' ended the first run of time-outs; three in a row now.
    await store([mo(phone, 'loop 2')], quick());
    await store([mo(phone, 'loop 3')], quick());
    await store([mo(phone, 'loop 4')], quick());
    const { rows } = await tdb.pool.query('select suspended_at is not null as suspended, suspended_reason from sms_inbound_rule where id = $1', [rule]);
    assert.deepEqual(rows[0], { suspended: true, suspended_reason: 'its handler ran out of time 3 calls in a row' });
    // Suspended: the next SMS is stored with an error, and handled once the rule is registered again and replayed.
    const { ids } = await store([mo(phone, 'fine 3')], quick());
    assert.equal((await tdb.pool.query('select error_code from sms_handler_error where inbox_id = $1', [ids[0]])).rows[0].error_code, '55000');
    await h.query(`select sms_on_inbound('app_h.slow(sms_inbox, uuid)', pattern => '^(loop|stubborn|lock|fine)')`);
    await tdb.pool.query(`select sms_handler_replay(id) from sms_handler_error where rule_id = $1 and error_code = '55000'`, [rule]);
    await replayHandlerErrors(workerDb, quick());
    assert.equal((await h.query(`select count(*)::int as n from app_h.handled where body = 'fine 3'`)).rows[0].n, 1);
    await tdb.pool.query('delete from sms_handler_error where rule_id = $1', [rule]);
  });

  test('a handler waiting on a lock is cancelled alike', async () => {
    const holder = await tdb.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from app_h.t where id = 1 for update');
      const { calls } = await store([mo(phone, 'lock 1'), mo(phone, 'fine 4')], quick());
      assert.deepEqual(calls, { calls: 2, failed: 1 });
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    assert.equal((await h.query(`select count(*)::int as n from app_h.handled where body = 'fine 4'`)).rows[0].n, 1);
  });

  test('a handler that will not stop has its session ended and its rule suspended; then its SMS is stored with an error', async () => {
    await tdb.pool.query('update sms_inbound_rule set timeouts = 0 where id = $1', [rule]);
    const batch = [mo(phone, 'fine 5'), mo(phone, 'stubborn 1')];
    const attempt = async (onePerStatement: boolean) => {
      let stuck: string | null | undefined;
      await assert.rejects(
        withHandlerConnection(workerDb, (conn, ran) =>
          conn.transaction().execute(async (tx) =>
            handleStored(tx, await insertInboxMessages(tx, batch), { options: watchdogSoon(), onePerStatement, ran, onStuck: (ruleId) => (stuck = ruleId) }),
          ),
        ),
      );
      return stuck;
    };
    // Several handler calls in one statement: the statement is ended, which call hung is not known yet.
    assert.equal(await attempt(false), null);
    // Written again one call per statement (as the store does after that): now the rule is known and suspended.
    assert.equal(await attempt(true), rule);
    const { rows } = await tdb.pool.query('select suspended_reason from sms_inbound_rule where id = $1', [rule]);
    assert.match(rows[0].suspended_reason, /would not stop when cancelled/);
    const { ids, calls } = await store(batch, quick());
    assert.deepEqual(calls, { calls: 2, failed: 2 }, 'both are its rule\'s: recorded, not called');
    assert.equal(ids.length, 2);
    assert.equal((await workerPool.query('select 1 as ok')).rows[0].ok, 1, 'the worker\'s pool works on');
  });
});

describe('the auto-reply loop guard', () => {
  test('past auto_reply_limit replies to one number within the window, a reply is stored rejected and never sent', async () => {
    await a.query(`
      create function app_a.echo(inbox sms_inbox, in_reply_to uuid) returns void
      language plpgsql set search_path = app_a, public, pg_temp as $$
      begin perform sms_send(inbox.sender, 'Auto: got "' || inbox.body || '"', sender => inbox.recipient); end $$;`);
    const rule = (await a.query<{ id: string }>(`select sms_on_inbound('app_a.echo(sms_inbox, uuid)', pattern => '^auto ') as id`)).rows[0]!.id;
    await tdb.pool.query('update sms_settings set auto_reply_limit = 3');
    try {
      const phone = newPhone();
      await sent(a, phone, 'Hi!');
      for (let i = 1; i <= 5; i++) await store([mo(phone, `auto ${i}`)]);
      const { rows } = await tdb.pool.query(
        `select status, error_code from sms_outbox where recipient = $1 and reply_to_inbox is not null order by created_at, id`,
        [phone],
      );
      assert.deepEqual(
        rows.map((r) => [r.status, r.error_code]),
        [
          ['queued', null],
          ['queued', null],
          ['queued', null],
          ['rejected', 'REPLY_LOOP'],
          ['rejected', 'REPLY_LOOP'],
        ],
      );
    } finally {
      await tdb.pool.query('update sms_settings set auto_reply_limit = 10');
      await a.query('select sms_off_inbound($1)', [rule]);
    }
  });
});
