/**
 * Registering reply handlers (sms_on_inbound, sms_off_inbound), as two apps logged in as their
 * own roles: what is refused and why (each error names its argument), the gateway function each
 * rule gets (owned by the registering role, in a schema that role cannot use), repeats, removal,
 * and who may remove what. Calling the handlers: test/db/reply-handlers.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles } from './helpers.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const clients: pg.Client[] = [];
let appA: string;
let appB: string;
let a: pg.Client;
let b: pg.Client;

async function login(user: string): Promise<pg.Client> {
  const c = await connectAs(tdb.url, user, password);
  clients.push(c);
  return c;
}

before(async () => {
  tdb = await createTestDatabase();
  appA = await roles.create({ login: password, memberOf: ['sms_sender'] });
  appB = await roles.create({ login: password, memberOf: ['sms_sender'] });
  await tdb.pool.query(`create schema app_a authorization ${appA}; create schema app_b authorization ${appB}`);
  a = await login(appA);
  b = await login(appB);
  for (const [c, schema] of [
    [a, 'app_a'],
    [b, 'app_b'],
  ] as const) {
    await c.query(`
      create function ${schema}.on_reply(inbox sms_inbox, in_reply_to uuid) returns void
        language sql set search_path = ${schema}, pg_temp as 'select null';
      create function ${schema}.no_path(inbox sms_inbox, in_reply_to uuid) returns void language sql as 'select null';
      create function ${schema}.temp_first(inbox sms_inbox, in_reply_to uuid) returns void
        language sql set search_path = pg_temp, ${schema} as 'select null';
      create function ${schema}.wrong(inbox sms_inbox) returns void language sql set search_path = ${schema}, pg_temp as 'select null';
      create procedure ${schema}.proc(inbox sms_inbox, in_reply_to uuid) language sql set search_path = ${schema}, pg_temp as 'select null';`);
  }
});
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await tdb.drop();
  await roles.dropAll();
});

const on = async (c: pg.ClientBase, args: string, params: unknown[] = []) =>
  (await c.query<{ id: string }>(`select sms_on_inbound(${args}) as id`, params)).rows[0]!.id;
const off = async (c: pg.ClientBase, id: string) => (await c.query<{ ok: boolean }>('select sms_off_inbound($1) as ok', [id])).rows[0]!.ok;
const gateway = async (id: string) =>
  (
    await tdb.pool.query<{ owner: string; secdef: boolean; config: string[] }>(
      `select pg_get_userbyid(p.proowner) as owner, p.prosecdef as secdef, p.proconfig as config
         from pg_proc p where p.oid = to_regprocedure($1)`,
      [`sms_handler.rule_${id}(sms_inbox, uuid)`],
    )
  ).rows[0];

describe('sms_on_inbound refuses', () => {
  const handler = `'app_a.on_reply(sms_inbox, uuid)'`;
  test('a missing handler, or one that is not a function of (sms_inbox, uuid)', async () => {
    await rejectsWith(a.query('select sms_on_inbound(null)'), '22004', 'handler');
    await rejectsWith(a.query(`select sms_on_inbound('app_a.wrong(sms_inbox)')`), '22023', 'handler');
    await rejectsWith(a.query(`select sms_on_inbound('app_a.proc(sms_inbox, uuid)')`), '22023', 'handler');
  });

  test('a handler whose search_path is not pinned with pg_temp last, saying how to pin it', async () => {
    const e = await rejectsWith(a.query(`select sms_on_inbound('app_a.no_path(sms_inbox, uuid)')`), '22023', 'handler');
    assert.match(e.hint ?? '', /alter function app_a\.no_path\(.*\) set search_path = app_a, pg_temp;/);
    await rejectsWith(a.query(`select sms_on_inbound('app_a.temp_first(sms_inbox, uuid)')`), '22023', 'handler');
  });

  test('a handler the registering role may not call', async () => {
    // Without usage on its schema the name does not even resolve.
    await rejectsWith(b.query(`select sms_on_inbound('app_a.on_reply(sms_inbox, uuid)')`), '42501');
    await a.query(`grant usage on schema app_a to ${appB}; revoke execute on function app_a.on_reply(sms_inbox, uuid) from public`);
    try {
      const e = await rejectsWith(b.query(`select sms_on_inbound('app_a.on_reply(sms_inbox, uuid)')`), '42501', 'handler');
      assert.match(e.hint ?? '', /grant execute on function app_a\.on_reply\(.*\) to/);
    } finally {
      await a.query(`revoke usage on schema app_a from ${appB}; grant execute on function app_a.on_reply(sms_inbox, uuid) to public`);
    }
  });

  test('bad keywords, patterns, recipients, categories and metadata, naming each', async () => {
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, keywords => '{}')`), '22023', 'keywords');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, keywords => array['ДА', null])`), '22004', 'keywords');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, keywords => array['ДА НЕТ'])`), '22023', 'keywords');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, keywords => array['!!!'])`), '22023', 'keywords');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, pattern => '')`), '22023', 'pattern');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, pattern => '(unclosed')`), '2201B', 'pattern');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, pattern => repeat('a', 1001))`), '22001', 'pattern');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, recipient => 'Shop')`), '22023', 'recipient');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, recipient => '12')`), '22023', 'recipient');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, reply_to_category => 'promo')`), '22023', 'reply_to_category');
    await rejectsWith(a.query(`select sms_on_inbound(${handler}, reply_to_metadata => '[1]')`), '22023', 'reply_to_metadata');
  });

  test('a request role\'s user: rules belong to roles', async () => {
    const viaRole = await roles.create();
    await tdb.pool.query(`grant ${viaRole} to ${appA}; grant usage on schema app_a to ${viaRole}`);
    await a.query(`set role ${viaRole}`);
    try {
      await a.query(`select set_config('request.jwt.claims', '{"sub": "6f1c0a42-0000-4000-8000-000000000001"}', false)`);
      await rejectsWith(a.query(`select sms_on_inbound(${handler})`), '42501');
    } finally {
      await a.query(`reset role; reset request.jwt.claims`);
    }
  });

  test('the worker role', async () => {
    const worker = await login(await roles.create({ login: password, memberOf: ['sms_worker'] }));
    await rejectsWith(worker.query(`select sms_on_inbound(${handler})`), '42501');
    await worker.query('set role sms_worker');
    await rejectsWith(worker.query('select sms_off_inbound(1)'), '42501');
  });
});

describe('a registered rule', () => {
  test('is stored as given, keywords as compared, and gets a gateway function owned by its role', async () => {
    const id = await on(a, `'app_a.on_reply(sms_inbox, uuid)', keywords => array[' Да! ', 'yes', 'YES'], pattern => '^\\S+$', recipient => '+7 900 000-00-01',
                            reply_to_category => 'transactional', reply_to_metadata => '{"kind": "order"}'`);
    const { rows } = await tdb.pool.query('select owner, runs_as, handler::text, keywords, pattern, recipient, reply_to_category, reply_to_metadata from sms_inbound_rule where id = $1', [id]);
    assert.deepEqual(rows[0], {
      owner: appA,
      runs_as: appA,
      handler: 'app_a.on_reply(sms_inbox,uuid)',
      keywords: ['ДА', 'YES'],
      pattern: '^\\S+$',
      recipient: '79000000001',
      reply_to_category: 'transactional',
      reply_to_metadata: { kind: 'order' },
    });
    assert.deepEqual(await gateway(id), { owner: appA, secdef: true, config: ['search_path=pg_catalog, pg_temp'] });
    // Its role cannot reach it: no usage on sms_handler.
    await rejectsWith(a.query(`alter function sms_handler.rule_${id}(sms_inbox, uuid) security invoker`), '42501');
    await rejectsWith(a.query(`select sms_handler.rule_${id}(null, null)`), '42501');
    assert.equal(await off(a, id), true);
  });

  test('the same call again returns the same rule; another call makes another', async () => {
    const first = await on(a, `'app_a.on_reply(sms_inbox, uuid)', keywords => array['yes']`);
    assert.equal(await on(a, `'app_a.on_reply(sms_inbox, uuid)', keywords => array['YES!']`), first);
    const second = await on(a, `'app_a.on_reply(sms_inbox, uuid)', keywords => array['no']`);
    assert.notEqual(second, first);
    // A suspended rule registered again resumes.
    await tdb.pool.query(`update sms_inbound_rule set suspended_at = now(), suspended_reason = 'test', timeouts = 3 where id = $1`, [first]);
    assert.equal(await on(a, `'app_a.on_reply(sms_inbox, uuid)', keywords => array['yes']`), first);
    const { rows } = await tdb.pool.query('select suspended_at, timeouts from sms_inbound_rule where id = $1', [first]);
    assert.deepEqual(rows[0], { suspended_at: null, timeouts: 0 });
    assert.equal(await off(a, first), true);
    assert.equal(await off(a, second), true);
  });

  test('is removed by its owner or the owner of the schema, with its gateway; another owner gets false', async () => {
    const id = await on(a, `'app_a.on_reply(sms_inbox, uuid)'`);
    assert.equal(await off(b, id), false, 'another owner: as for an unknown id');
    assert.ok(await gateway(id));
    assert.equal(await off(a, id), true);
    assert.equal(await gateway(id), undefined);
    assert.equal(await off(a, id), false);
    const other = await on(b, `'app_b.on_reply(sms_inbox, uuid)'`);
    assert.equal((await tdb.pool.query<{ ok: boolean }>('select sms_off_inbound($1) as ok', [other])).rows[0]!.ok, true);
    await rejectsWith(a.query('select sms_off_inbound(null)'), '22004', 'id');
  });

  test('the role of a rule cannot be dropped while its gateway exists', async () => {
    const id = await on(b, `'app_b.on_reply(sms_inbox, uuid)'`);
    await rejectsWith(tdb.pool.query(`drop role ${appB}`), '2BP01');
    assert.equal(await off(b, id), true);
  });
});

describe('matching', () => {
  test('reads the rules an SMS can match by index, never all of them, however many there are', async () => {
    await tdb.pool.query(`update sms_settings set default_sender = 'Rules'`);
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(await on(a, `'app_a.on_reply(sms_inbox, uuid)', keywords => array[$1]`, [`K${i}`]));
    try {
      const phones = Array.from({ length: 20 }, (_, i) => `7999555${String(i).padStart(4, '0')}`);
      for (const p of phones) {
        const { rows } = await a.query<{ id: string }>(`select sms_send($1, 'Reply K57', sender => '79001234567') as id`, [p]);
        await tdb.pool.query(`update sms_outbox set status = 'sent', submitted_at = now(), attempts = 1 where id = $1`, [rows[0]!.id]);
      }
      const inbox = (
        await tdb.pool.query<{ id: string }>(
          `insert into sms_inbox (sender, recipient, body, encoding, parts) select p, '79001234567', 'k57 yes', 'gsm7', 1 from unnest($1::text[]) p returning id`,
          [phones],
        )
      ).rows.map((r) => r.id);
      const c = await tdb.connect();
      try {
        await c.query('begin');
        const matched = (await c.query<{ rule_id: string }>('select rule_id from sms_inbound_matches($1)', [inbox])).rows;
        const scans = (await c.query(`select seq_scan, idx_scan from pg_stat_xact_user_tables where relid = 'public.sms_inbound_rule'::regclass`)).rows[0];
        await c.query('rollback');
        assert.deepEqual(new Set(matched.map((m) => m.rule_id)), new Set([ids[57]]));
        assert.equal(matched.length, inbox.length);
        assert.equal(Number(scans.seq_scan), 0, 'no SMS reads every rule');
        assert.ok(Number(scans.idx_scan) >= inbox.length, `the rules are probed by index (${scans.idx_scan} scans)`);
      } finally {
        await c.end();
      }
    } finally {
      for (const id of ids) await off(a, id);
    }
  });
});
