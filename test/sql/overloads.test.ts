/**
 * A role that may create objects in schema public (every role on PostgreSQL 13 and 14, unless
 * revoked) must not be able to break sms_send for everyone by adding overloads of the helpers it
 * calls: an overload with a defaulted extra argument makes even a call with the exact argument
 * types ambiguous (42725). The internals live in sms_private, where nobody else may create.
 * Run as a real login of its own, as the attacker would be.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles } from './helpers.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const clients: pg.Client[] = [];

async function login(d: TestDatabase, user: string): Promise<pg.Client> {
  const c = await connectAs(d.url, user, password);
  clients.push(c);
  return c;
}

/** Overloads of every helper sms_send, sms_segments and the settings trigger used to call by name in public. */
const OVERLOADS = [
  `create function public.sms_check_sender(sender text) returns text language sql as $$select 'Evil'$$`,
  `create function public.sms_check_body(body text) returns record language sql as $$select null::record$$`,
  `create function public.sms_check_recipient(recipient text, evil integer default 0) returns text language sql as $$select '70000000000'$$`,
  `create function public.sms_count_segments(body text, evil integer default 0, out encoding text, out units integer, out segments integer)
     language sql as $$select 'gsm7', 1, 1$$`,
];

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
});
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await tdb.drop();
  await roles.dropAll();
});

test('overloads created in public by another role change nothing for sms_send, sms_segments or the settings', async () => {
  const evil = await roles.create({ login: password });
  await tdb.pool.query(`grant usage, create on schema public to ${evil}`);
  const e = await login(tdb, evil);
  for (const sql of OVERLOADS) await e.query(sql);

  const app = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const c = await login(tdb, app);
  const sent = [
    await c.query(`select public.sms_send('+79991234567', 'fast path') as id`),
    await c.query(`select public.sms_send('+7 (999) 123-45-67', 'general path: a decorated number') as id`),
    await c.query(`select public.sms_send('+79991234567', $1) as id`, ['a long body, '.repeat(20)]),
    await c.query(`select public.sms_send('+79991234567', 'with a sender', sender => 'Shop') as id`),
    await c.query(`select public.sms_send('+79991234567', 'with a key', idempotency_key => 'k1') as id`),
    await c.query(`select public.sms_send('+79991234567', 'with a key', idempotency_key => 'k1') as id`),
  ].map((r) => r.rows[0].id as string);
  assert.equal(new Set(sent).size, 5, 'five messages, the repeat returned the first id');
  const stored = await tdb.pool.query('select recipient, sender, segments from sms_outbox where id = any($1) order by created_at', [sent]);
  assert.deepEqual(stored.rows.map((r) => r.recipient), Array(5).fill('79991234567'));
  assert.ok(stored.rows.every((r) => r.sender !== 'Evil'));
  assert.equal(stored.rows[2].segments, 2);
  await rejectsWith(c.query(`select public.sms_send('+79991234567', 'x', sender => '0')`), '22023', 'sender');
  assert.deepEqual((await c.query(`select * from public.sms_segments('Привет')`)).rows[0], { encoding: 'ucs2', units: 6, segments: 1 });
  await tdb.pool.query(`update sms_settings set default_sender = '+79990001122'`);
  assert.equal((await tdb.pool.query('select default_sender from sms_settings')).rows[0].default_sender, '79990001122');

  // Nor can it reach the internals' schema.
  await rejectsWith(e.query(`create function sms_private.check_body(body text) returns text language sql as $$select 'x'$$`), '42501');
  await rejectsWith(e.query(`select * from sms_private.count_segments('x')`), '42501');
});

test('migrate warns when every role may create in schema public', async () => {
  const fresh = await createTestDatabase({ migrated: false });
  try {
    await fresh.pool.query('grant create on schema public to public');
    const warnings: string[] = [];
    await migrate(fresh.url, { skipGraphile: true, warn: (m) => warnings.push(m) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /every role may create objects in schema public.*revoke create on schema public from public/);
    await fresh.pool.query('revoke create on schema public from public');
    warnings.length = 0;
    await migrate(fresh.url, { skipGraphile: true, warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, []);
  } finally {
    await fresh.drop();
  }
});
