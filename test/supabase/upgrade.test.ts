/**
 * Upgrading a database that has messages from before ownership (migrations 0001-0008 as released,
 * applied as the Supabase CLI file of such a release) with `sms-outbox migrate`: a message sent through
 * sms_send_to_self becomes its user's (the canonical auth.users id) with the key the user gave,
 * so a retry after the upgrade finds it; every other message becomes the migrating role's (its
 * sender was never recorded), which an operator can hand back with one UPDATE.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { runInOneTransaction } from '../support/db.js';
import { releasedSupabaseMigration } from '../support/released.js';
import { addUser, createSupabaseDatabase, Postgrest, userClaims, type RequestAuth, type SupabaseDatabase } from './support.js';

const migrations = loadMigrations();
let db: SupabaseDatabase;
let api: Postgrest;

before(async () => {
  db = await createSupabaseDatabase({ migrated: false });
  api = await Postgrest.connect(db.adminUrl);
  await runInOneTransaction(db.ownerUrl, releasedSupabaseMigration(8));
  await db.pool.query(`update sms_settings set default_sender = 'TestBrand'`);
  await db.pool.query('select sms_allow_authenticated_send(true)');
  await db.pool.query('update sms_self_send_settings set per_user_limit = 100, total_limit = null');
});
after(async () => {
  await api?.end();
  await db?.drop();
});

const service: RequestAuth = { role: 'service_role' };
const asUser = (sub: string): RequestAuth => ({ role: 'authenticated', claims: userClaims(sub) });

async function rpc(fn: string, body: Record<string, unknown>, auth: RequestAuth): Promise<unknown> {
  const r = await api.rpc(fn, body, auth);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

test('messages from before the upgrade get owners, and retries across the upgrade find them', async () => {
  const user = await addUser(db, { phone: '79990000011' });
  const upper = user.toUpperCase();
  // Before: 0008's sms_send_to_self keyed on the sub as sent.
  const order = (await rpc('sms_send', { recipient: '+79991234567', body: 'Order 1 shipped', idempotency_key: 'order-1' }, service)) as string;
  const login1 = (await rpc('sms_send_to_self', { body: 'Code 1', idempotency_key: 'login-1' }, asUser(upper))) as string;
  const login2 = (await rpc('sms_send_to_self', { body: 'Code 2', idempotency_key: 'login-2' }, asUser(user))) as string;
  const dupUpper = (await rpc('sms_send_to_self', { body: 'Code 3', idempotency_key: 'dup' }, asUser(upper))) as string;
  const dupLower = (await rpc('sms_send_to_self', { body: 'Code 4', idempotency_key: 'dup' }, asUser(user))) as string;
  assert.equal(new Set([login1, login2, dupUpper, dupLower]).size, 4, 'before: two spellings of one user were two users');

  const result = await migrate(db.ownerUrl);
  assert.deepEqual(result.applied, migrations.filter((m) => m.version > 8).map((m) => m.name));

  const rows = await db.pool.query<{ id: string; owner: string; idempotency_key: string }>(
    'select id, owner, idempotency_key from sms_outbox where id = any($1)',
    [[order, login1, login2, dupUpper, dupLower]],
  );
  const row = (id: string) => rows.rows.find((r) => r.id === id)!;
  assert.deepEqual(row(order), { id: order, owner: db.owner, idempotency_key: 'order-1' }, 'the migrating role owns what has no recorded sender');
  assert.deepEqual(row(login1), { id: login1, owner: `authenticated:${user}`, idempotency_key: 'login-1' });
  assert.deepEqual(row(login2), { id: login2, owner: `authenticated:${user}`, idempotency_key: 'login-2' });
  // Two keys that are now one user's 'dup': the first keeps it, the other stays as it was.
  assert.equal(row(dupUpper).idempotency_key, 'dup');
  assert.equal(row(dupLower).idempotency_key, `sms_send_to_self:${user}:dup`);
  const log = await db.pool.query('select distinct user_id from sms_self_send_log');
  assert.deepEqual(log.rows, [{ user_id: user }]);

  // After: the user's retry of a request from before finds its message and is not counted again.
  const counted = Number((await db.pool.query('select count(*) from sms_self_send_log')).rows[0].count);
  assert.equal(await rpc('sms_send_to_self', { body: 'Code 1', idempotency_key: 'login-1' }, asUser(user)), login1);
  assert.equal(Number((await db.pool.query('select count(*) from sms_self_send_log')).rows[0].count), counted);
  // The per-user limit counts the sends of both spellings.
  await db.pool.query('update sms_self_send_settings set per_user_limit = $1', [counted]);
  assert.equal((await api.rpc('sms_send_to_self', { body: 'Code 5' }, asUser(user))).status, 429);

  // The service role's old message is not its own until the operator says so.
  assert.deepEqual(await rpc('sms_status', { id: order }, service), []);
  await db.pool.query(`update sms_outbox set owner = 'service_role' where owner = $1`, [db.owner]);
  assert.equal(((await rpc('sms_status', { id: order }, service)) as unknown[]).length, 1);
  assert.equal(await rpc('sms_send', { recipient: '+79991234567', body: 'Order 1 shipped', idempotency_key: 'order-1' }, service), order);
});
