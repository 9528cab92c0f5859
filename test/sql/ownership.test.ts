/**
 * Ownership between two apps that both hold sms_sender, each logged in as its own LOGIN role on
 * its own connection (as two services would be): a message belongs to the role that enqueued
 * it; sms_status and sms_cancel act only on the caller's own messages and answer another's id
 * exactly as an unknown one; idempotency keys are per owner, and no error tells one app
 * anything about the other's messages. The reader role sees everything; so does the owner of
 * the schema. Sharing one identity between logins is a deliberate SET ROLE to a shared role.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles, type PgError } from './helpers.js';


let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const clients: pg.Client[] = [];
let appA: string;
let appB: string;
let a: pg.Client;
let b: pg.Client;

/** A connection to the test database logged in as `user`. */
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
  a = await login(appA);
  b = await login(appB);
});
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await tdb.drop();
  await roles.dropAll();
});

type Db = pg.Pool | pg.ClientBase;

async function send(c: Db, body = 'Code 4821', extra = '', params: unknown[] = []): Promise<string> {
  const r = await c.query<{ id: string }>(`select public.sms_send('+79991234567', $1${extra}) as id`, [body, ...params]);
  return r.rows[0]!.id;
}
const status = async (c: Db, id: string | null) => (await c.query('select * from public.sms_status($1)', [id])).rows;
const cancel = async (c: Db, id: string | null) => (await c.query<{ ok: boolean }>('select public.sms_cancel($1) as ok', [id])).rows[0]!.ok;
const ownerOf = async (id: string) => (await tdb.pool.query<{ owner: string; status: string }>('select owner, status from sms_outbox where id = $1', [id])).rows[0];

async function errorOf(p: Promise<unknown>): Promise<PgError> {
  try {
    await p;
  } catch (err) {
    return err as PgError;
  }
  assert.fail('expected an error');
}

describe('a message belongs to the login that enqueued it', () => {
  test('through the fast path and the general path', async () => {
    const fast = await send(a);
    const general = await send(a, 'Your order has shipped', `, sender => 'Shop', metadata => '{"order": 1}'`);
    assert.equal((await ownerOf(fast))?.owner, appA);
    assert.equal((await ownerOf(general))?.owner, appA);
    assert.equal((await ownerOf(await send(b)))?.owner, appB);
  });

  test("the owner's own status and cancel work as before", async () => {
    const id = await send(a);
    const rows = await status(a, id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, 'queued');
    assert.equal(await cancel(a, id), true);
    assert.equal((await status(a, id))[0].status, 'cancelled');
  });
});

describe("another app's id is answered exactly as an unknown one", () => {
  test('sms_status: zero rows; sms_cancel: false, and the message stays queued', async () => {
    const id = await send(a);
    const unknown = randomUUID();
    assert.deepEqual(await status(b, id), []);
    assert.deepEqual(await status(b, id), await status(b, unknown));
    assert.equal(await cancel(b, id), false);
    assert.equal(await cancel(b, id), await cancel(b, unknown));
    assert.equal((await ownerOf(id))?.status, 'queued');
    assert.equal((await status(a, id)).length, 1, 'the owner still sees it');
  });

  test('a cancel of a message the worker holds locked does not wait when it is not the caller\'s (it would reveal it exists)', async () => {
    const id = await send(a);
    const worker = await tdb.connect();
    try {
      await worker.query('begin');
      // As sms_private.claim holds a row it takes: locked (FOR UPDATE), with its lease (migration 0034).
      await worker.query(`select from public.sms_outbox where id = $1 for update`, [id]);
      await worker.query(
        `insert into sms_private.outbox_lease (outbox_id, worker_id, attempt, lease_until) values ($1, 'w1', 1, now() + interval '15 s')`,
        [id],
      );
      // A wait for the lock fails after 1 s; a refusal that does not look at the row returns at once.
      await b.query(`set lock_timeout = '1s'`);
      assert.equal(await cancel(b, id), false);
      assert.equal(await cancel(b, randomUUID()), false);
      await b.query('reset lock_timeout');
    } finally {
      await worker.query('rollback');
      await worker.end();
    }
  });

  test("no error for another's id; a NULL id is the same 22004 for every caller", async () => {
    for (const c of [a, b]) {
      const s = await errorOf(status(c, null));
      const k = await errorOf(cancel(c, null));
      assert.deepEqual([s.code, s.message, s.column, k.code, k.message, k.column], ['22004', 'id must not be null', 'id', '22004', 'id must not be null', 'id']);
    }
  });
});

describe('idempotency keys are per owner', () => {
  test("the same key from two apps makes two messages; neither app's repeat finds the other's", async () => {
    const key = `order-paid:${randomUUID()}`;
    const idA = await send(a, 'Order 42 is paid', `, idempotency_key => $2`, [key]);
    const idB = await send(b, 'Order 42 is paid', `, idempotency_key => $2`, [key]);
    assert.notEqual(idA, idB);
    assert.equal(await send(a, 'Order 42 is paid', `, idempotency_key => $2`, [key]), idA);
    assert.equal(await send(b, 'Order 42 is paid', `, idempotency_key => $2`, [key]), idB);
    const r = await tdb.pool.query('select owner from sms_outbox where idempotency_key = $1 order by owner', [key]);
    assert.deepEqual(r.rows.map((row) => row.owner).sort(), [appA, appB].sort());
  });

  test("brute-forcing a 4-digit code under another app's predictable key finds nothing", async () => {
    const key = `login-otp:user-42:${new Date().toISOString()}`;
    const secret = String(1000 + Math.floor(Math.random() * 9000));
    const idA = await send(a, `Your login code: ${secret}`, `, idempotency_key => $2`, [key]);
    // App B tries every code under A's key, as one statement (the issue found the code in 0.9 s).
    await b.query('create temp table tried (code text primary key, outcome text not null)');
    await b.query(
      `do $$
       declare
         v uuid;
         msg text;
         detail text;
       begin
         for i in 0 .. 9999 loop
           begin
             v := public.sms_send('+79991234567', 'Your login code: ' || lpad(i::text, 4, '0'), idempotency_key => ${pg.escapeLiteral(key)});
             insert into tried values (lpad(i::text, 4, '0'), 'id ' || v);
           exception when others then
             get stacked diagnostics msg = message_text, detail = pg_exception_detail;
             insert into tried values (lpad(i::text, 4, '0'), sqlstate || ' ' || msg || ' ' || coalesce(detail, ''));
           end;
         end loop;
       end $$`,
    );
    const outcomes = await b.query<{ outcome: string; codes: string[] }>(
      `select outcome, array_agg(code order by code) as codes from tried group by outcome order by min(code)`,
    );
    // B's own first attempt (0000) enqueued B's own message under B's own key; every other code
    // met that message: one identical refusal for all of them, the right code included.
    assert.equal(outcomes.rows.length, 2, JSON.stringify(outcomes.rows.map((o) => [o.outcome, o.codes.length])));
    const [first, rest] = outcomes.rows;
    assert.deepEqual(first!.codes, ['0000']);
    assert.match(first!.outcome, /^id /);
    assert.notEqual(first!.outcome, `id ${idA}`);
    assert.equal(rest!.codes.length, 9999);
    assert.equal(rest!.outcome, `23505 idempotency_key ${pg.escapeLiteral(key)} was already used for a different message `);
    assert.ok(!outcomes.rows.some((o) => o.outcome.includes(idA)), "A's id appears in no answer");
    const mine = await tdb.pool.query('select owner, count(*)::int as n from sms_outbox where idempotency_key = $1 group by owner order by owner', [key]);
    assert.deepEqual(mine.rows.sort((x, y) => x.owner.localeCompare(y.owner)), [{ owner: appA, n: 1 }, { owner: appB, n: 1 }].sort((x, y) => x.owner.localeCompare(y.owner)));
    await b.query('drop table tried');
  });

  test("a conflict on the caller's own key says nothing about the first message", async () => {
    const key = `k-${randomUUID()}`;
    const first = await send(a, 'first', `, idempotency_key => $2`, [key]);
    const err = await rejectsWith(send(a, 'second', `, idempotency_key => $2`, [key]), '23505', 'idempotency_key');
    assert.equal(err.detail, undefined);
    assert.ok(!JSON.stringify(err).includes(first));
  });

  test("another owner's uncommitted key does not make the caller wait", async () => {
    const key = `k-${randomUUID()}`;
    await a.query('begin');
    try {
      await send(a, 'pending', `, idempotency_key => $2`, [key]);
      await b.query(`set lock_timeout = '1s'`);
      const idB = await send(b, 'pending', `, idempotency_key => $2`, [key]);
      await b.query('reset lock_timeout');
      assert.equal((await ownerOf(idB))?.owner, appB);
    } finally {
      await a.query('rollback');
    }
  });
});

describe('who else sees what', () => {
  test('a login holding the reader role too sees every message through sms_status, but cancels only its own', async () => {
    const dashboard = await roles.create({ login: password, memberOf: ['sms_sender', 'sms_reader'] });
    const d = await login(dashboard);
    const id = await send(a);
    assert.equal((await status(d, id)).length, 1);
    assert.equal(await cancel(d, id), false);
    assert.equal((await ownerOf(id))?.status, 'queued');
  });

  test('the owner of the sms_ objects (who may read and write sms_outbox anyway) sees and cancels every message', async () => {
    const id = await send(a);
    assert.equal((await status(tdb.pool, id)).length, 1);
    assert.equal(await cancel(tdb.pool, id), true);
  });
});

describe('SET ROLE', () => {
  test('to the shared sms_sender role identifies nobody: the login still owns its messages', async () => {
    await b.query('set role sms_sender');
    try {
      const id = await send(b);
      assert.equal((await ownerOf(id))?.owner, appB);
      assert.equal((await status(b, id)).length, 1);
      await a.query('set role sms_sender');
      try {
        assert.deepEqual(await status(a, id), [], "A, acting as sms_sender too, does not see B's message");
      } finally {
        await a.query('reset role');
      }
    } finally {
      await b.query('reset role');
    }
  });

  test("to an app role of one's own: logins that act as it share its messages (e.g. across a credential rotation)", async () => {
    const app = await roles.create({ memberOf: ['sms_sender'] });
    const oldLogin = await roles.create({ login: password, memberOf: [app] });
    const newLogin = await roles.create({ login: password, memberOf: [app] });
    // The rotation's old login acts as the app role by default; the new one switches explicitly.
    await tdb.pool.query(`alter role ${oldLogin} set role = '${app}'`);
    const before = await login(oldLogin);
    const after_ = await login(newLogin);
    await after_.query(`set role ${app}`);
    const key = `k-${randomUUID()}`;
    const id = await send(before, 'Code 1', `, idempotency_key => $2`, [key]);
    assert.equal((await ownerOf(id))?.owner, app);
    assert.equal((await status(after_, id)).length, 1);
    assert.equal(await send(after_, 'Code 1', `, idempotency_key => $2`, [key]), id, 'the repeat finds it');
    assert.deepEqual(await status(a, id), [], 'other apps still do not');
  });
});
