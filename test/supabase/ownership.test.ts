/**
 * Ownership through Supabase's REST API, replayed as PostgREST does it (./support.ts: one
 * transaction per request, logged in as authenticator, SET LOCAL ROLE to the JWT's role,
 * request.jwt.claims set): a message belongs to the request's role, and for `authenticated` to
 * the user (the JWT's sub, canonical). Here the operator has opted in to letting signed-in
 * users call sms_send, sms_status and sms_cancel directly (a grant in this database), so users
 * and the service role meet on the same functions.
 *
 * Also the design for Supabase Auth's Send SMS Hook (a later feature): codes enqueued by
 * supabase_auth_admin (a login of its own) are its messages; the service role reads their status
 * through sms_status once it is granted the reader role (`grant sms_reader to service_role`,
 * which counts although service_role is NOINHERIT). That grant is shown here on a NOINHERIT login
 * of this test's own: the shared service_role of the test server is not changed.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, serverUrl } from '../support/db.js';
import { addUser, createSupabaseDatabase, isError, Postgrest, userClaims, type RequestAuth, type SupabaseDatabase } from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;
const createdRoles: string[] = [];
const password = randomBytes(8).toString('hex');

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
  await db.pool.query(`grant execute on function sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text), sms_status(uuid), sms_cancel(uuid)
                         to authenticated`);
});
after(async () => {
  await api?.end();
  await db?.drop();
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    for (const r of createdRoles) await admin.query(`drop role if exists ${r}`);
  } finally {
    await admin.end();
  }
});

const service: RequestAuth = { role: 'service_role' };
const user = (sub: string): RequestAuth => ({ role: 'authenticated', claims: userClaims(sub) });

async function send(auth: RequestAuth, body: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await api.rpc<string>('sms_send', { recipient: '+79991234567', body, ...extra }, auth);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as string;
}
const statusRows = async (auth: RequestAuth, id: string) => (await api.rpc<unknown[]>('sms_status', { id }, auth)).body as unknown[];
const cancelled = async (auth: RequestAuth, id: string) => (await api.rpc<boolean>('sms_cancel', { id }, auth)).body;
const ownerOf = async (id: string) => (await db.pool.query<{ owner: string }>('select owner from sms_outbox where id = $1', [id])).rows[0]?.owner;

describe('through the REST API', () => {
  test('the service role owns what it sends; a signed-in user owns what they send', async () => {
    const u1 = await addUser(db, { phone: '79990000001' });
    assert.equal(await ownerOf(await send(service, 'from the server')), 'service_role');
    assert.equal(await ownerOf(await send(user(u1), 'from a user')), `authenticated:${u1}`);
  });

  test("users see and cancel only their own messages; another's id is answered as an unknown one", async () => {
    const [u1, u2] = [await addUser(db, { phone: '79990000002' }), await addUser(db, { phone: '79990000003' })];
    const id = await send(user(u1), 'Code 4821');
    const unknown = randomUUID();
    for (const other of [user(u2), service]) {
      assert.deepEqual(await statusRows(other, id), []);
      assert.deepEqual(await statusRows(other, id), await statusRows(other, unknown));
      assert.equal(await cancelled(other, id), false);
    }
    assert.equal((await statusRows(user(u1), id)).length, 1);
    const sid = await send(service, 'the server\'s');
    assert.deepEqual(await statusRows(user(u1), sid), []);
    assert.equal(await cancelled(user(u1), sid), false);
    assert.equal(await cancelled(user(u1), id), true);
  });

  test('the user is the auth.users id however the JWT spells it', async () => {
    const u1 = await addUser(db, { phone: '79990000004' });
    const id = await send(user(u1.toUpperCase()), 'sent with an upper-case sub');
    assert.equal(await ownerOf(id), `authenticated:${u1}`);
    assert.equal((await statusRows(user(u1), id)).length, 1);
  });

  test('one idempotency key, three owners: three messages, and each repeat finds its own', async () => {
    const [u1, u2] = [await addUser(db, { phone: '79990000005' }), await addUser(db, { phone: '79990000006' })];
    const key = { idempotency_key: `login:${randomUUID()}` };
    const ids = [await send(service, 'Code 1', key), await send(user(u1), 'Code 1', key), await send(user(u2), 'Code 1', key)];
    assert.equal(new Set(ids).size, 3);
    assert.deepEqual([await send(service, 'Code 1', key), await send(user(u1), 'Code 1', key), await send(user(u2), 'Code 1', key)], ids);
    // A different body under one's own key is 409, saying nothing about the message.
    const conflict = await api.rpc('sms_send', { recipient: '+79991234567', body: 'Code 2', ...key }, user(u1));
    assert.equal(conflict.status, 409);
    assert.ok(isError(conflict.body));
    assert.equal(conflict.body.details, null);
    assert.ok(!JSON.stringify(conflict.body).includes(ids[1]!));
  });
});

describe('the service role and codes enqueued by supabase_auth_admin', () => {
  async function loginRole(name: string, options: string, grants: string[]): Promise<pg.Client> {
    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    try {
      await admin.query(`create role ${name} login password '${password}' ${options}`);
      createdRoles.push(name);
      for (const g of grants) await admin.query(g.replaceAll('$ROLE', name));
    } finally {
      await admin.end();
    }
    return connectAs(db.adminUrl, name, password);
  }

  test("a NOINHERIT role with EXECUTE (like service_role) sees another login's codes only once granted the reader role", async () => {
    const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
    // Stands in for supabase_auth_admin: a login of its own that may send.
    const authAdmin = await loginRole(`sms_t_auth_admin_${tag}`, '', ['grant sms_sender to $ROLE']);
    // Stands in for service_role: NOINHERIT, EXECUTE granted directly (as sms_grant_supabase_roles does).
    const svc = await loginRole(`sms_t_service_${tag}`, 'noinherit', ['grant execute on function sms_status(uuid), sms_cancel(uuid) to $ROLE']);
    try {
      const id = (await authAdmin.query<{ id: string }>(`select sms_send('+79991234567', 'Your code: 123456') as id`)).rows[0]!.id;
      assert.equal(await ownerOf(id), `sms_t_auth_admin_${tag}`);
      assert.deepEqual((await svc.query('select * from sms_status($1)', [id])).rows, []);
      assert.deepEqual(await statusRows(service, id), [], 'nor does the real service_role, by default');
      const admin = new pg.Client({ connectionString: db.adminUrl });
      await admin.connect();
      await admin.query(`grant sms_reader to sms_t_service_${tag}`).finally(() => admin.end());
      const seen = await svc.query('select id, status from sms_status($1)', [id]);
      assert.deepEqual(seen.rows, [{ id, status: 'queued' }]);
      assert.equal((await svc.query('select sms_cancel($1) as ok', [id])).rows[0].ok, false, 'reading is all the reader role gives');
      await assert.rejects(svc.query('select count(*) from sms_outbox'), /permission denied/, 'NOINHERIT: no table privilege through the membership');
    } finally {
      await authAdmin.end();
      await svc.end();
    }
  });
});
