/**
 * Reply handlers on Supabase: the objects are owned by a non-superuser `postgres`-like role, and
 * apps send as `service_role` through the REST API. A rule registered over REST runs its handler
 * as service_role, which needs the owner to be a member of service_role (the error says so);
 * a rule the owner registers itself runs as the owner. Incoming SMS are stored and the handlers
 * called as the worker does it, by a login that holds the worker role.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDb, createPool } from '../../src/db/pool.js';
import type { Database } from '../../src/db/schema.js';
import { insertInboxMessages } from '../../src/db/inbox.js';
import { handleStored } from '../../src/db/inbound-writes.js';
import { withHandlerConnection, type ReplyHandlerOptions } from '../../src/db/reply-handlers.js';
import { serverUrl } from '../support/db.js';
import { TestRoles } from '../sql/helpers.js';
import { createSupabaseDatabase, isError, Postgrest, type SupabaseDatabase } from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;
let workerPool: pg.Pool;
let workerDb: Kysely<Database>;
let options: ReplyHandlerOptions;
const roles = new TestRoles();

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
  const password = randomBytes(8).toString('hex');
  const worker = await roles.create({ login: password, memberOf: ['sms_worker'] });
  const u = new URL(db.ownerUrl);
  u.username = worker;
  u.password = password;
  workerPool = createPool(u.toString(), { max: 1 });
  workerDb = createDb(workerPool);
  options = {
    workerRole: 'sms_worker',
    timeoutMs: 2000,
    terminate: async (pid) => void (await db.pool.query('select pg_terminate_backend($1)', [pid])),
    suspend: async (ruleId, reason) => void (await db.pool.query('select sms_inbound_suspend($1, $2)', [ruleId, reason])),
  };
  // The app's table and handler, as a Supabase migration (run by postgres) creates them: in
  // public, so Supabase's default privileges give service_role what it needs.
  await db.pool.query(`
    create table public.orders (id int primary key, phone text not null, status text not null default 'awaiting', confirmed_by text);
    create function public.confirm_order(inbox sms_inbox, in_reply_to uuid) returns void
    language plpgsql set search_path = public, pg_temp as $$
    begin
      update orders set status = 'confirmed', confirmed_by = current_user where phone = inbox.sender and status = 'awaiting';
    end $$;`);
});
after(async () => {
  await workerDb?.destroy();
  await api?.end();
  await db?.drop();
  await roles.dropAll();
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`revoke service_role from ${db.owner}`).catch(() => {});
  } finally {
    await admin.end();
  }
});

async function confirmByReply(phone: string, orderId: number, sendAs: 'service_role' | 'owner'): Promise<string> {
  await db.pool.query('insert into public.orders (id, phone) values ($1, $2)', [orderId, phone]);
  const body = { recipient: `+${phone}`, body: `Order ${orderId}: reply YES`, sender: '79001234567' };
  const id = sendAs === 'service_role' ? ((await api.rpc<string>('sms_send', body, { role: 'service_role' })).body as string) : (await db.pool.query<{ id: string }>('select sms_send($1, $2, sender => $3) as id', [body.recipient, body.body, body.sender])).rows[0]!.id;
  await db.pool.query(`update sms_outbox set status = 'sent', submitted_at = now(), attempts = 1 where id = $1`, [id]);
  await withHandlerConnection(workerDb, (conn, ran) =>
    conn.transaction().execute(async (tx) =>
      handleStored(tx, await insertInboxMessages(tx, [{ sender: phone, recipient: '79001234567', body: 'YES', payload: Buffer.from('YES'), encoding: 'gsm7', parts: 1, missingParts: 0 }]), { options, ran }),
    ),
  );
  return (await db.pool.query<{ confirmed_by: string }>('select status, confirmed_by from public.orders where id = $1', [orderId])).rows[0]!.confirmed_by;
}

test('the owner (postgres) registers a handler for its own messages: it runs as the owner', async () => {
  await db.pool.query(`select sms_on_inbound('public.confirm_order(sms_inbox, uuid)', keywords => array['YES'])`);
  assert.equal(await confirmByReply('79991110001', 1, 'owner'), db.owner);
});

test('service_role registers one over REST: refused until the owner may act as service_role, then it runs as service_role', async () => {
  const refused = await api.rpc('sms_on_inbound', { handler: 'public.confirm_order(sms_inbox, uuid)', keywords: ['YES'] }, { role: 'service_role' });
  assert.ok(isError(refused.body), JSON.stringify(refused.body));
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, '42501');
  assert.match(refused.body.hint ?? '', new RegExp(`grant service_role to ${db.owner}`));

  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`grant service_role to ${db.owner}`);
  } finally {
    await admin.end();
  }
  const ok = await api.rpc<number>('sms_on_inbound', { handler: 'public.confirm_order(sms_inbox, uuid)', keywords: ['YES'] }, { role: 'service_role' });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const { rows } = await db.pool.query('select owner, runs_as from sms_inbound_rule where id = $1', [ok.body]);
  assert.deepEqual(rows[0], { owner: 'service_role', runs_as: 'service_role' });
  // The owner keeps no CREATE right to give on sms_handler: it was granted for the one statement.
  const { rows: acl } = await db.pool.query(`select has_schema_privilege('service_role', 'sms_handler', 'CREATE') as create, has_schema_privilege('service_role', 'sms_handler', 'USAGE') as usage`);
  assert.deepEqual(acl[0], { create: false, usage: false });
  assert.equal(await confirmByReply('79991110002', 2, 'service_role'), 'service_role');
});
