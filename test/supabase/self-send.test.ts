/**
 * The opt-in for signed-in users, sms_send_to_self(body), through the PostgREST replay of
 * ./support.ts: off by default; once on, a user can text only their own verified phone, within
 * per-user, per-recipient and total limits (PT429 -> HTTP 429), and every abuse case is refused.
 *
 * The tests run in order on one database (each sets the limits it needs).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs } from '../support/db.js';
import {
  addUser,
  connectAsAuthenticator,
  createSupabaseDatabase,
  isError,
  Postgrest,
  userClaims,
  type PostgrestError,
  type PostgrestResponse,
  type SupabaseDatabase,
} from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;
let phoneSeq = 0;
/** A fresh, unique Russian mobile number. */
const newPhone = () => `7999${String(process.pid % 1000).padStart(3, '0')}${String(++phoneSeq).padStart(4, '0')}`;

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
});
after(async () => {
  await api?.end();
  await db?.drop();
});

/** Limits loose enough not to interfere, unless a test tightens one. */
beforeEach(async () => {
  await db.pool.query(`update sms_self_send_settings set per_user_limit = 100, per_recipient_limit = 100, total_limit = null,
                        max_segments = 1, phone_source = 'auth.users'`);
});

const sendToSelf = (sub: string, body: Record<string, unknown>, extraClaims: Record<string, unknown> = {}) =>
  api.rpc<string>('sms_send_to_self', body, { role: 'authenticated', claims: userClaims(sub, extraClaims) });

function expectError(res: PostgrestResponse<unknown>, status: number, code: string, message?: RegExp): PostgrestError {
  assert.ok(isError(res.body), `expected an error, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.status, status, `HTTP status for ${res.body.code}: ${res.body.message}`);
  assert.equal(res.body.code, code, res.body.message);
  if (message) assert.match(res.body.message, message);
  return res.body;
}

function expectSent(res: PostgrestResponse<unknown>): string {
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(typeof res.body, 'string');
  return res.body as string;
}

async function outboxRow(id: string) {
  return (await db.pool.query('select recipient, body, sender, metadata from sms_outbox where id = $1', [id])).rows[0];
}

describe('off by default', () => {
  test('authenticated cannot call sms_send_to_self (403), a verified user neither', async () => {
    const user = await addUser(db, { phone: newPhone() });
    expectError(await sendToSelf(user, { body: 'hi' }), 403, '42501', /permission denied for function sms_send_to_self/);
    const s = await db.pool.query('select enabled from sms_self_send_settings');
    assert.equal(s.rows[0].enabled, false);
  });

  test('a grant made by hand is not enough: the function checks the switch too', async () => {
    const user = await addUser(db, { phone: newPhone() });
    await db.pool.query('grant execute on function sms_send_to_self(text, text) to authenticated');
    try {
      expectError(await sendToSelf(user, { body: 'hi' }), 403, '42501', /disabled/);
    } finally {
      await db.pool.query('revoke execute on function sms_send_to_self(text, text) from authenticated');
    }
  });
});

describe('switched on with sms_allow_authenticated_send(true)', () => {
  before(async () => {
    const r = await db.pool.query<{ on: boolean }>('select sms_allow_authenticated_send(true) as on');
    assert.equal(r.rows[0]!.on, true);
  });

  test('a user with a verified phone texts it: 200, the row goes to that phone with the user in metadata', async () => {
    const phone = newPhone();
    const user = await addUser(db, { phone });
    const id = expectSent(await sendToSelf(user, { body: 'Ваш код: 4821' }));
    assert.deepEqual(await outboxRow(id), {
      recipient: phone,
      body: 'Ваш код: 4821',
      sender: 'TestBrand',
      metadata: { via: 'sms_send_to_self', user_id: user },
    });
    const log = await db.pool.query('select user_id, recipient, outbox_id from sms_self_send_log where outbox_id = $1', [id]);
    assert.deepEqual(log.rows, [{ user_id: user, recipient: phone, outbox_id: id }]);
  });

  test('the recipient cannot be chosen: there is no such argument (404 PGRST202)', async () => {
    const user = await addUser(db, { phone: newPhone() });
    expectError(await sendToSelf(user, { body: 'hi', recipient: '+79990000000' }), 404, 'PGRST202');
  });

  test('the JWT phone claim is not trusted: an unverified phone in auth.users is refused even when the JWT carries it', async () => {
    const phone = newPhone();
    const user = await addUser(db, { phone, confirmed: false });
    expectError(await sendToSelf(user, { body: 'hi' }, { phone }), 403, '42501', /not verified/);
  });

  const refused: [string, () => Parameters<typeof addUser>[1], RegExp][] = [
    ['no phone number', () => ({ phone: null }), /has no phone number/],
    ['a banned user', () => ({ phone: newPhone(), bannedUntil: new Date(Date.now() + 86_400_000) }), /banned/],
    ['a deleted user', () => ({ phone: newPhone(), deleted: true }), /deleted/],
    ['an anonymous sign-in', () => ({ phone: newPhone(), anonymous: true }), /anonymous/],
  ];
  for (const [what, user, message] of refused) {
    test(`${what}: 403 42501, nothing sent`, async () => {
      const id = await addUser(db, user());
      const before = Number((await db.pool.query('select count(*) from sms_outbox')).rows[0].count);
      expectError(await sendToSelf(id, { body: 'hi' }), 403, '42501', message);
      assert.equal(Number((await db.pool.query('select count(*) from sms_outbox')).rows[0].count), before);
    });
  }

  test('a user that is not in auth.users, a JWT without sub, or an anonymous JWT: 403', async () => {
    expectError(await sendToSelf('22222222-2222-4222-8222-222222222222', { body: 'hi' }), 403, '42501', /no user/);
    const claims = userClaims('x');
    delete claims.sub;
    expectError(await api.rpc('sms_send_to_self', { body: 'hi' }, { role: 'authenticated', claims }), 403, '42501', /no sub claim/);
    const user = await addUser(db, { phone: newPhone() });
    expectError(await sendToSelf(user, { body: 'hi' }, { is_anonymous: true }), 403, '42501', /anonymous/);
  });

  test('anon still gets 401, service_role 403', async () => {
    expectError(await api.rpc('sms_send_to_self', { body: 'hi' }, { role: 'anon' }), 401, '42501');
    expectError(await api.rpc('sms_send_to_self', { body: 'hi' }, { role: 'service_role' }), 403, '42501');
  });

  test('a body needing more than max_segments parts: 400 22001; an empty one 400 22023', async () => {
    const user = await addUser(db, { phone: newPhone() });
    expectError(await sendToSelf(user, { body: 'я'.repeat(71) }), 400, '22001', /body needs 2 segments; sms_send_to_self allows 1/);
    expectError(await sendToSelf(user, { body: '' }), 400, '22023', /body must not be empty/);
    await db.pool.query('update sms_self_send_settings set max_segments = 2');
    expectSent(await sendToSelf(user, { body: 'я'.repeat(71) }));
  });

  test('per-user limit: the next send is 429 PT429 with which limit and when to retry; nothing inserted', async () => {
    await db.pool.query(`update sms_self_send_settings set per_user_limit = 3, per_user_window = '1 hour'`);
    const user = await addUser(db, { phone: newPhone() });
    for (let i = 0; i < 3; i++) expectSent(await sendToSelf(user, { body: `code ${i}` }));
    const before = Number((await db.pool.query('select count(*) from sms_outbox')).rows[0].count);
    const err = expectError(await sendToSelf(user, { body: 'one more' }), 429, 'PT429', /this user may send 3 per 01:00:00/);
    assert.match(err.details ?? '', /limit: per user; used: 3 of 3/);
    assert.match(err.hint ?? '', /^retry after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(Number((await db.pool.query('select count(*) from sms_outbox')).rows[0].count), before);
    const other = await addUser(db, { phone: newPhone() });
    expectSent(await sendToSelf(other, { body: 'another user is not affected' }));
  });

  test('per-recipient limit: counted per number, across the accounts that had it', async () => {
    await db.pool.query(`update sms_self_send_settings set per_recipient_limit = 2`);
    const phone = newPhone();
    const first = await addUser(db, { phone });
    expectSent(await sendToSelf(first, { body: 'one' }));
    const second = await movePhone(first, phone);
    expectSent(await sendToSelf(second, { body: 'two' }));
    const err = expectError(await sendToSelf(second, { body: 'three' }), 429, 'PT429', /this phone number may receive 2 per/);
    assert.match(err.details ?? '', /limit: per recipient; used: 2 of 2/);
  });

  test('total limit: all users together', async () => {
    const used = Number((await db.pool.query(`select count(*) from sms_self_send_log where sent_at > now() - interval '1 hour'`)).rows[0].count);
    await db.pool.query(`update sms_self_send_settings set total_limit = $1, total_window = '1 hour'`, [used + 1]);
    expectSent(await sendToSelf(await addUser(db, { phone: newPhone() }), { body: 'last one' }));
    const err = expectError(await sendToSelf(await addUser(db, { phone: newPhone() }), { body: 'over' }), 429, 'PT429', /all users together/);
    assert.match(err.details ?? '', /limit: total/);
  });

  test('a limit of 0 blocks every send', async () => {
    await db.pool.query(`update sms_self_send_settings set per_user_limit = 0`);
    expectError(await sendToSelf(await addUser(db, { phone: newPhone() }), { body: 'x' }), 429, 'PT429');
  });

  test('concurrent requests cannot both take the last slot', async () => {
    await db.pool.query(`update sms_self_send_settings set per_user_limit = 1`);
    const user = await addUser(db, { phone: newPhone() });
    const results = await Promise.all([1, 2, 3].map((i) => sendToSelf(user, { body: `race ${i}` })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 429, 429]);
  });

  for (const total of [null, 1000]) {
    test(`under REPEATABLE READ, 15 concurrent requests with a limit of 5 send exactly 5 (the others retry on 40001, then get 429); total_limit ${total}`, async () => {
      await db.pool.query(`update sms_self_send_settings set per_user_limit = 5, total_limit = $1`, [total]);
      const user = await addUser(db, { phone: newPhone() });
      const claims = JSON.stringify({ ...userClaims(user), role: 'authenticated' });
      const connections = await Promise.all(Array.from({ length: 15 }, () => authenticatorClient()));
      /** One PostgREST request in a REPEATABLE READ transaction whose snapshot is taken by the request's first statement. */
      const begin = async (c: pg.Client) => {
        await c.query('begin isolation level repeatable read');
        await c.query(`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)`, [claims]);
      };
      const call = async (c: pg.Client, i: number): Promise<string> => {
        try {
          await c.query(`select public.sms_send_to_self($1)`, [`race ${i}`]);
          await c.query('commit');
          return 'sent';
        } catch (err) {
          await c.query('rollback');
          return (err as { code: string }).code;
        }
      };
      try {
        // Every snapshot is taken before any of the calls runs, as it is for requests that arrive together.
        await Promise.all(connections.map(begin));
        const outcomes: string[] = [];
        const seen40001: number[] = [];
        await Promise.all(
          connections.map(async (c, i) => {
            let outcome = await call(c, i);
            for (let retry = 0; outcome === '40001' && retry < 100; retry++) {
              seen40001.push(i);
              await begin(c);
              outcome = await call(c, i);
            }
            outcomes.push(outcome);
          }),
        );
        assert.deepEqual(outcomes.sort(), [...Array(5).fill('sent'), ...Array(10).fill('PT429')].sort());
        assert.ok(seen40001.length > 0, 'callers with a stale snapshot were told to retry');
        const sent = await db.pool.query(`select count(*)::int as n from sms_outbox where metadata ->> 'user_id' = $1`, [user]);
        assert.equal(sent.rows[0].n, 5);
      } finally {
        await Promise.all(connections.map((c) => c.end()));
      }
    });
  }

  test("the per-user limit counts the user, however the JWT spells the sub: an upper-case uuid gets no fresh quota", async () => {
    await db.pool.query(`update sms_self_send_settings set per_user_limit = 2`);
    const user = await addUser(db, { phone: newPhone() });
    expectSent(await sendToSelf(user, { body: 'one' }));
    expectSent(await sendToSelf(user.toUpperCase(), { body: 'two' }));
    expectError(await sendToSelf(user.toUpperCase(), { body: 'three' }), 429, 'PT429', /this user may send 2/);
    expectError(await sendToSelf(user, { body: 'four' }), 429, 'PT429');
    const log = await db.pool.query('select distinct user_id from sms_self_send_log where user_id ilike $1', [user]);
    assert.deepEqual(log.rows, [{ user_id: user }]);
  });

  test("the message is the user's, and so is its key: the same user through either spelling of the sub finds it", async () => {
    const user = await addUser(db, { phone: newPhone() });
    const id = expectSent(await sendToSelf(user, { body: 'mine', idempotency_key: 'k-owner' }));
    assert.deepEqual(await sendToSelf(user.toUpperCase(), { body: 'mine', idempotency_key: 'k-owner' }), { status: 200, body: id });
    const row = await db.pool.query('select owner, idempotency_key from sms_outbox where id = $1', [id]);
    assert.deepEqual(row.rows[0], { owner: `authenticated:${user}`, idempotency_key: 'k-owner' });
  });

  test('idempotency_key length is checked and reported as the user gave it (255 fit; 256 is 400 22001 "256 characters")', async () => {
    const user = await addUser(db, { phone: newPhone() });
    expectSent(await sendToSelf(user, { body: 'a long key', idempotency_key: 'k'.repeat(220) }));
    expectSent(await sendToSelf(user, { body: 'the longest key', idempotency_key: 'k'.repeat(255) }));
    const err = expectError(await sendToSelf(user, { body: 'x', idempotency_key: 'k'.repeat(256) }), 400, '22001', /^idempotency_key has 256 characters; at most 255/);
    assert.equal(err.details, null);
    expectError(await sendToSelf(user, { body: 'x', idempotency_key: '' }), 400, '22023', /idempotency_key must not be empty/);
  });

  test('sizes first: a body longer than max_segments can hold is refused by its length; a user over a limit gets 429 before the body is checked', async () => {
    const user = await addUser(db, { phone: newPhone() });
    expectError(await sendToSelf(user, { body: '€a'.repeat(5_000_000) }), 400, '22001', /^body has 10000000 characters; sms_send_to_self allows 1 segments, which hold at most 160$/);
    await db.pool.query(`update sms_self_send_settings set per_user_limit = 1`);
    expectSent(await sendToSelf(user, { body: 'one' }));
    // Over the limit: the body (a control character, 22021 otherwise) is not even looked at.
    expectError(await sendToSelf(user, { body: 'bad\u0007body' }), 429, 'PT429');
    const fresh = await addUser(db, { phone: newPhone() });
    expectError(await sendToSelf(fresh, { body: 'bad\u0007body' }), 400, '22021', /control character/);
  });

  test("an overload of sms_send created in public by another role does not reach sms_send_to_self's own call", async () => {
    const evil = `sms_t_evil_${process.pid}_${Date.now() % 100000}`;
    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    try {
      await admin.query(`create role ${evil} login password 'evil'`);
      await admin.query(`grant usage, create on schema public to ${evil}`);
      const e = await connectAs(db.adminUrl, evil, 'evil');
      try {
        // 0008's sms_send_to_self called public.sms_send(recipient, body, idempotency_key => ..., metadata => ...).
        await e.query(`create function public.sms_send(recipient text, body text, idempotency_key text, metadata jsonb, evil integer default 0)
                       returns uuid language sql as $$select null::uuid$$`);
        const user = await addUser(db, { phone: newPhone() });
        expectSent(await sendToSelf(user, { body: 'still works', idempotency_key: 'k-evil' }));
        expectSent(await sendToSelf(user, { body: 'and without a key' }));
        await e.query(`drop function public.sms_send(text, text, text, jsonb, integer)`);
      } finally {
        await e.end();
      }
    } finally {
      await admin.query(`drop owned by ${evil}`).catch(() => {});
      await admin.query(`drop role if exists ${evil}`);
      await admin.end();
    }
  });

  test('idempotency_key: a retry returns the same id and is not counted; a different body is 409', async () => {
    await db.pool.query(`update sms_self_send_settings set per_user_limit = 1`);
    const user = await addUser(db, { phone: newPhone() });
    const id = expectSent(await sendToSelf(user, { body: 'code 1', idempotency_key: 'login-1' }));
    assert.deepEqual(await sendToSelf(user, { body: 'code 1', idempotency_key: 'login-1' }), { status: 200, body: id });
    expectError(await sendToSelf(user, { body: 'code 2', idempotency_key: 'login-1' }), 409, '23505');
    // Keys are per user: the same key from another user is a new message.
    const other = await addUser(db, { phone: newPhone() });
    assert.notEqual(expectSent(await sendToSelf(other, { body: 'code 1', idempotency_key: 'login-1' })), id);
  });

  test("phone_source 'jwt': the JWT's phone claim is used (for token issuers that only put verified numbers there)", async () => {
    await db.pool.query(`update sms_self_send_settings set phone_source = 'jwt'`);
    const phone = newPhone();
    const id = expectSent(await sendToSelf('not-a-supabase-user-id', { body: 'from a custom issuer' }, { phone: `+${phone}` }));
    assert.equal((await outboxRow(id)).recipient, phone);
    expectError(await sendToSelf('someone', { body: 'x' }, { phone: '' }), 403, '42501', /no phone claim/);
  });

  test('old log rows are pruned as new sends come in', async () => {
    await db.pool.query(`insert into sms_self_send_log (sent_at, user_id, recipient, outbox_id)
                         select now() - interval '40 days', 'old', '70000000000', gen_random_uuid() from generate_series(1, 15)`);
    expectSent(await sendToSelf(await addUser(db, { phone: newPhone() }), { body: 'x' }));
    const left = await db.pool.query(`select count(*)::int as n from sms_self_send_log where user_id = 'old'`);
    assert.equal(left.rows[0].n, 5, 'ten old rows went with this send');
  });

  test('the grant survives a later migration stripping default privileges, and a re-run of migrate', async () => {
    await db.pool.query('select sms_strip_inherited_grants()');
    await db.pool.query('select sms_grant_supabase_roles()');
    const r = await db.pool.query(`select has_function_privilege('authenticated', 'sms_send_to_self(text, text)', 'execute') as ok`);
    assert.equal(r.rows[0].ok, true);
  });

  test('switched off again: 403, and the grant is gone', async () => {
    assert.equal((await db.pool.query('select sms_allow_authenticated_send(false) as on')).rows[0].on, false);
    const user = await addUser(db, { phone: newPhone() });
    expectError(await sendToSelf(user, { body: 'hi' }), 403, '42501', /permission denied/);
    const r = await db.pool.query(`select has_function_privilege('authenticated', 'sms_send_to_self(text, text)', 'execute') as ok`);
    assert.equal(r.rows[0].ok, false);
  });
});

describe('the switch', () => {
  test('NULL is refused (the API roles cannot call it at all: see postgrest.test.ts)', async () => {
    await assert.rejects(db.pool.query('select sms_allow_authenticated_send(null)'), /enabled must be true or false/);
  });

  test('refuses to switch on without auth.users unless phone_source is jwt', async () => {
    const plain = await createSupabaseDatabase({ auth: false });
    try {
      await assert.rejects(plain.pool.query('select sms_allow_authenticated_send(true)'), (err: Error & { code?: string }) => {
        assert.equal(err.code, '55000');
        assert.match(err.message, /no auth.users table/);
        return true;
      });
      await plain.pool.query(`update sms_self_send_settings set phone_source = 'jwt'`);
      assert.equal((await plain.pool.query('select sms_allow_authenticated_send(true) as on')).rows[0].on, true);
    } finally {
      await plain.drop();
    }
  });
});

/** A connection logged in as PostgREST's authenticator, for requests replayed by hand. */
function authenticatorClient(): Promise<pg.Client> {
  return connectAsAuthenticator(db.adminUrl);
}

/** The number moves to a new account: taken off `userId`, given to a new, verified user. */
async function movePhone(userId: string, phone: string): Promise<string> {
  const c = new pg.Client({ connectionString: db.adminUrl });
  await c.connect();
  try {
    await c.query('update auth.users set phone = null where id = $1', [userId]);
  } finally {
    await c.end();
  }
  return addUser(db, { phone });
}
