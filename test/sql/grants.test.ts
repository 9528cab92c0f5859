/**
 * Roles and grants: PUBLIC can execute nothing; a role without sms_sender gets permission denied;
 * sms_sender can only call the functions; sms_reader can only read; sms_worker can do the
 * worker's writes and no others; SECURITY DEFINER functions ignore the caller's search_path;
 * grants handed out by ALTER DEFAULT PRIVILEGES (as on Supabase) are stripped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { asRole, PLANNED_PER_CALL, rejectsWith, TestRoles } from './helpers.js';

let tdb: TestDatabase;
let client: pg.Client;
const roles = new TestRoles();
let nobody: string;
let sender: string;
let reader: string;
let worker: string;
let queuedId: string;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  queuedId = (await tdb.pool.query<{ id: string }>(`select public.sms_send('+79991234567', 'grants') as id`)).rows[0]!.id;
  nobody = await roles.create();
  sender = await roles.create({ memberOf: ['sms_sender'] });
  reader = await roles.create({ memberOf: ['sms_reader'] });
  worker = await roles.create({ memberOf: ['sms_worker'] });
  client = await tdb.connect();
});
after(async () => {
  await client?.end();
  await tdb.drop();
  await roles.dropAll();
});

const denied = (sql: string, params: unknown[] = []) => rejectsWith(client.query(sql, params), '42501');

describe('catalog', () => {
  test('PUBLIC has no privilege on any sms_ function, table, view or sequence, nor on anything in sms_private; on that schema only the worker has USAGE', async () => {
    const r = await client.query<{ name: string; privilege: string }>(`
      select p.oid::regprocedure::text as name, a.privilege_type as privilege
        from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
       where ((p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_%') or p.pronamespace = 'sms_private'::regnamespace)
         and a.grantee = 0
      union all
      select c.oid::regclass::text, a.privilege_type
        from pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
       where ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%') or c.relnamespace = 'sms_private'::regnamespace)
         and a.grantee = 0
      union all
      select n.nspname, a.privilege_type
        from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
       where n.nspname = 'sms_private' and a.grantee <> n.nspowner and not (a.grantee = 'sms_worker'::regrole and a.privilege_type = 'USAGE')`);
    assert.deepEqual(r.rows, []);
  });

  test('the internals are in sms_private, not in public', async () => {
    const r = await client.query<{ name: string }>(`
      select p.oid::regprocedure::text as name from pg_proc p
       where p.pronamespace = 'public'::regnamespace and p.proname in ('sms_check_body', 'sms_check_sender', 'sms_check_recipient', 'sms_count_segments')`);
    assert.deepEqual(r.rows, []);
  });

  test('the API functions are SECURITY DEFINER with search_path pinned to pg_catalog, pg_temp', async () => {
    const r = await client.query<{ name: string; secdef: boolean; config: string[] | null }>(`
      select p.proname as name, p.prosecdef as secdef, p.proconfig as config
        from pg_proc p
       where (p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_%') or p.pronamespace = 'sms_private'::regnamespace
       order by 1`);
    const api = ['sms_send', 'sms_cancel', 'sms_status', 'sms_segments', 'sms_retry', 'sms_opt_out', 'sms_opt_in', 'sms_redact', 'sms_grant_worker_graphile'];
    for (const name of api) {
      const fn = r.rows.find((row) => row.name === name);
      assert.ok(fn, `${name} exists`);
      assert.equal(fn.secdef, true, `${name} is SECURITY DEFINER`);
    }
    // Plain SQL, every name schema-qualified (operators too), so the planner can inline them
    // into the statement that calls them: no SET, which would prevent it.
    const inlined = ['sms_uuidv7', 'announce_status', 'wake_workers', 'final_receipt_states', 'receipt_status', 'error_message', 'ms_until', 'uuidv7_floor'];
    for (const fn of r.rows) {
      if (inlined.includes(fn.name)) {
        assert.equal(fn.secdef, false, fn.name);
        assert.equal(fn.config, null, fn.name);
        continue;
      }
      if (PLANNED_PER_CALL.includes(fn.name)) {
        // The worker's state changes are planned with their values on every call, as the
        // statements they replaced were (a LIMIT, a batch): no generic plan after five calls.
        // Never JIT-compiled: each touches a batch of rows by index, and a plan per call would
        // compile per call (test/sql/worker-jit.test.ts).
        assert.deepEqual(fn.config, ['search_path=pg_catalog, pg_temp', 'plan_cache_mode=force_custom_plan', 'jit=off'], fn.name);
        continue;
      }
      if (fn.name === 'sms_inbound_matches') {
        // Probes the rules by index, small as their table is: no scan of every rule per SMS.
        assert.deepEqual(fn.config, ['search_path=pg_catalog, pg_temp', 'enable_seqscan=off'], fn.name);
        continue;
      }
      if (fn.name === 'sms_auth_send_sms_hook') {
        // Answers a lock wait under Supabase Auth's 2 s statement_timeout instead of being cancelled.
        assert.deepEqual(fn.config, ['search_path=pg_catalog, pg_temp', 'lock_timeout=1s'], `${fn.name} pins search_path`);
        continue;
      }
      assert.deepEqual(fn.config, ['search_path=pg_catalog, pg_temp'], `${fn.name} pins search_path`);
    }
  });

  test('the sender role holds exactly EXECUTE on the thirteen functions (not sms_opt_in, which overrides a STOP)', async () => {
    const r = await client.query<{ fn: string }>(`
      select p.oid::regprocedure::text as fn
        from pg_proc p, aclexplode(p.proacl) a
       where a.grantee = 'sms_sender'::regrole and p.pronamespace = 'public'::regnamespace
       order by 1`);
    assert.deepEqual(
      r.rows.map((row) => row.fn),
      [
        'sms_cancel(uuid)',
        'sms_conversation(text)',
        'sms_explain(uuid)',
        'sms_handler_errors()',
        'sms_handler_replay(bigint)',
        'sms_off_inbound(bigint)',
        'sms_on_inbound(regprocedure,text[],text,text,text,jsonb)',
        'sms_opt_out(text)',
        'sms_retry(uuid)',
        'sms_segments(text)',
        'sms_send(text,text,text,timestamp with time zone,timestamp with time zone,integer,text,jsonb,text)',
        'sms_status(uuid)',
        'sms_verification_confirmed(text)',
      ],
    );
    const tables = await client.query(`
      select 1 from pg_class c, aclexplode(c.relacl) a
       where a.grantee = 'sms_sender'::regrole and c.relnamespace = 'public'::regnamespace`);
    assert.equal(tables.rowCount, 0);
  });
});

describe('a role with no sms_ grant', () => {
  test('cannot call any function (42501)', async () => {
    await asRole(client, nobody, async () => {
      await denied(`select public.sms_send('+79991234567', 'nope')`);
      await denied(`select public.sms_cancel($1)`, [queuedId]);
      await denied(`select * from public.sms_status($1)`, [queuedId]);
      await denied(`select * from public.sms_segments('x')`);
      await denied(`select public.sms_retry($1)`, [queuedId]);
      await denied(`select public.sms_opt_out('+79991234567')`);
      await denied(`select public.sms_opt_in('+79991234567')`);
      await denied(`select * from public.sms_redact()`);
      await denied(`select sms_private.check_body('x')`);
      await denied(`select public.sms_grant_worker_graphile()`);
    });
  });
  test('cannot read or write the tables', async () => {
    await asRole(client, nobody, async () => {
      await denied('select * from public.sms_outbox');
      await denied('select * from public.sms_stats');
      await denied('select * from public.sms_inbox');
      await denied('select * from public.sms_settings');
      await denied('select * from public.sms_opt_out');
      await denied('select * from public.sms_opt_out_log');
      await denied('select * from public.sms_opt_out_stats');
      await denied('select * from public.sms_outbox_retry');
      await denied(`update public.sms_wakeup set armed_until = null`);
    });
  });
});

describe('sms_sender', () => {
  test('can send, preview, read a status and cancel', async () => {
    await asRole(client, sender, async () => {
      const id = (await client.query<{ id: string }>(`select public.sms_send('+79991234567', 'as sender') as id`)).rows[0]!.id;
      assert.equal((await client.query('select * from public.sms_status($1)', [id])).rowCount, 1);
      assert.deepEqual((await client.query('select * from public.sms_segments($1)', ['hi'])).rows[0], { encoding: 'gsm7', units: 2, segments: 1 });
      assert.equal((await client.query<{ ok: boolean }>('select public.sms_cancel($1) as ok', [id])).rows[0]!.ok, true);
      assert.equal((await client.query<{ ok: boolean }>('select public.sms_retry($1) as ok', [id])).rows[0]!.ok, false, 'a cancelled message is not retried');
      await client.query('begin');
      try {
        assert.equal((await client.query<{ ok: boolean }>(`select public.sms_opt_out('+79990001122') as ok`)).rows[0]!.ok, true);
      } finally {
        await client.query('rollback');
      }
    });
  });
  test('cannot undo an opt-out (sms_opt_in is the owner\'s unless granted), nor read the opt-out list', async () => {
    await asRole(client, sender, async () => {
      await denied(`select public.sms_opt_in('+79990001122')`);
      await denied('select * from public.sms_opt_out');
      await denied('select * from public.sms_opt_out_stats');
      await denied(`select * from public.sms_redact()`);
    });
  });
  test('inserts into sms_outbox by sms_send\'s rules only, and cannot otherwise write or read it, nor change settings or internals', async () => {
    await asRole(client, sender, async () => {
      // An INSERT of the app's columns enqueues as sms_send does (test/sql/insert.test.ts);
      // a column sms-outbox sets is refused by name, and owner cannot be named at all.
      await client.query('begin');
      try {
        const r = await client.query<{ id: string }>(`insert into public.sms_outbox (recipient, body) values ('+79991234567', 'by insert') returning id`);
        assert.equal((await client.query(`select public.sms_status($1)`, [r.rows[0]!.id])).rowCount, 1, 'its own message');
      } finally {
        await client.query('rollback');
      }
      await rejectsWith(
        client.query(
          `insert into public.sms_outbox (recipient, sender, body, encoding, segments, send_at, expires_at, next_attempt_at)
           values ('79991234567', 'X', 'forged', 'gsm7', 1, now(), now() + interval '1 h', now())`,
        ),
        '428C9',
      );
      await denied(`insert into public.sms_outbox (owner, recipient, body) values ('someone_else', '79991234567', 'forged')`);
      await denied(`update public.sms_outbox set body = 'changed'`);
      await denied(`delete from public.sms_outbox`);
      await denied('select * from public.sms_outbox');
      await denied('select owner, body from public.sms_outbox');
      await denied(`update public.sms_settings set max_segments = 255`);
      await denied(`select sms_private.check_recipient('+79991234567')`);
      await denied(`select * from sms_private.count_segments('x')`);
      await denied(`select sms_private.send('x', '+79991234567', 'forged owner', null, null, null, 0, null, null)`);
      await denied('select * from sms_private.roles');
    });
  });
});

describe('sms_reader', () => {
  test('can read sms_outbox, sms_inbox and sms_stats', async () => {
    await asRole(client, reader, async () => {
      assert.ok(((await client.query('select * from public.sms_outbox')).rowCount ?? 0) >= 1);
      await client.query('select * from public.sms_inbox');
      assert.equal((await client.query('select * from public.sms_stats')).rowCount, 1);
      // sms_stats counts the workers' leases with the reader's rights (migration 0034): it can, though
      // it cannot name their table in sms_private itself.
      await denied('select * from sms_private.outbox_lease');
      await client.query('select * from public.sms_opt_out');
      await client.query('select * from public.sms_opt_out_log');
      assert.equal((await client.query('select * from public.sms_opt_out_stats')).rowCount, 1);
      await client.query('select * from public.sms_outbox_retry');
      await client.query('select * from public.sms_outbox_attempt');
      await client.query('select * from public.sms_worker_state');
      await client.query('select * from public.sms_inbound_parked');
      await client.query('select public.sms_explain($1)', [queuedId]);
    });
  });
  test('cannot write or send', async () => {
    await asRole(client, reader, async () => {
      await denied(`update public.sms_outbox set status = 'cancelled', done_at = now()`);
      await denied(`insert into public.sms_inbox (sender, recipient, body, encoding, parts) values ('1', '2', 'x', 'gsm7', 1)`);
      await denied(`select public.sms_send('+79991234567', 'nope')`);
      await denied('select * from public.sms_receipt');
      await denied(`select public.sms_opt_out('+79991234567')`);
      await denied(`insert into public.sms_opt_out (recipient, source) values ('79991234567', 'operator')`);
      await denied(`delete from public.sms_opt_out`);
      await denied(`select public.sms_inbound_replay()`);
      await denied(`insert into public.sms_worker_state (worker_id, host, pid, version, smsc, bind_mode, bind_state, bind_state_since, started_at, heartbeat_interval)
                    values ('x', 'h', 1, 'v', 's', 'transceiver', 'bound', now(), now(), '10 s')`);
    });
  });
});

describe('sms_worker', () => {
  test('can do the worker writes', async () => {
    await asRole(client, worker, async () => {
      await client.query('begin');
      try {
        // The claim locks the due rows and holds each by a lease in sms_private.outbox_lease
        // (migration 0034); the worker renews its leases, and its outcome write is fenced on one.
        const claimed = await client.query(`select id, status, attempts from sms_private.claim('w1', 10, 15)`);
        assert.deepEqual(claimed.rows, [{ id: queuedId, status: 'sending', attempts: 1 }]);
        assert.equal((await client.query(`update sms_private.outbox_lease set lease_until = now() + interval '15 s' where worker_id = 'w1'`)).rowCount, 1);
        await client.query(`select id from public.sms_outbox where status = 'queued' for update skip locked`);
        const sent = await client.query(`select id from sms_private.mark_sent('w1', $1::jsonb, '{}')`, [
          JSON.stringify([{ id: queuedId, attempts: 1, message_ids: ['0ABC'], parts: ['abc'] }]),
        ]);
        assert.deepEqual(sent.rows, [{ id: queuedId }]);
        assert.equal((await client.query('select 1 from sms_private.outbox_lease')).rowCount, 0, 'the outcome took the lease');
        await client.query(`insert into sms_private.outbox_lease (outbox_id, worker_id, attempt, lease_until) values ($1, 'w1', 2, now())`, [queuedId]);
        await client.query(`delete from sms_private.outbox_lease where worker_id = 'w1'`);
        await client.query(`insert into public.sms_outbox_part (outbox_id, part_no, message_id) values ($1, 1, 'abc')`, [queuedId]);
        await client.query(`insert into public.sms_receipt (message_id, raw_message_id, state) values ('abc', '0ABC', 'DELIVRD')`);
        // Incoming SMS and parts go through the store functions (the tables it reads and purges).
        const inbox = await client.query<{ id: string }>(
          `select sms_inbound_store('79991234567', '1234', 'STOP', false, null, 'gsm7', 1, 0) as id`,
        );
        assert.match(inbox.rows[0]!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
        const part = await client.query(`select status from sms_inbound_part('1', '2', 7, 2, 1, 0, '\\x00')`);
        assert.equal(part.rows[0].status, 'staged');
        await client.query(`select * from public.sms_inbox_part`);
        await client.query(`delete from public.sms_inbox_part where ref = 7`);
        await client.query(`delete from public.sms_inbox where id = $1`, [inbox.rows[0]!.id]);
        await client.query(`update public.sms_wakeup set armed_until = null`);
        await client.query('select * from public.sms_settings');
        await client.query('select * from public.sms_stats');
        await client.query(`delete from public.sms_outbox where status = 'cancelled'`);
        await client.query(`select graphile_worker.add_job('sms-outbox-grant-check', '{}'::json)`);
        await client.query(`select count(*) from graphile_worker.jobs`);
        // The claim reads the opt-out list; the redaction task runs sms_redact.
        await client.query(`select 1 from public.sms_opt_out where recipient = '79991234567'`);
        await client.query(`select * from public.sms_redact(10)`);
      } finally {
        await client.query('rollback');
      }
    });
  });
  test('cannot create messages, change what the app sent, or change settings', async () => {
    await asRole(client, worker, async () => {
      await denied(
        `insert into public.sms_outbox (recipient, sender, body, encoding, segments, send_at, expires_at, next_attempt_at)
         values ('79991234567', 'X', 'forged', 'gsm7', 1, now(), now() + interval '1 h', now())`,
      );
      await denied(`update public.sms_outbox set body = 'changed'`);
      await denied(`update public.sms_outbox set recipient = '70000000000'`);
      await denied(`update public.sms_settings set default_sender = 'Worker'`);
      await denied(`select public.sms_send('+79991234567', 'nope')`);
      await denied(`insert into public.sms_opt_out (recipient, source) values ('79991234567', 'operator')`);
      await denied(`select public.sms_opt_in('+79991234567')`);
      await denied(`update public.sms_outbox set body_hash = null, redacted_at = now()`);
      await denied('select * from sms_private.redaction_key');
    });
  });
  test('cannot write incoming SMS or their parts but through the store functions', async () => {
    await asRole(client, worker, async () => {
      await denied(`insert into public.sms_inbox (sender, recipient, body, encoding, parts) values ('79991234567', '1234', 'START', 'gsm7', 1)`);
      await denied(`update public.sms_inbox set body = 'START'`);
      await denied(`update public.sms_inbox set sender = '79991234567', keyword_action = 'opt_in'`);
      await denied(`insert into public.sms_inbox_part (sender, recipient, ref, total, seq, data_coding, payload) values ('1', '2', 7, 2, 1, 0, '\\x00')`);
      await denied(`update public.sms_inbox_part set payload = '\\x00'`);
      await denied(`select * from public.sms_inbox_set`);
      await denied(`delete from public.sms_inbox_set`);
    });
  });
});

describe('search_path', () => {
  test("a caller's schema objects cannot hijack the SECURITY DEFINER functions", async () => {
    await client.query(`create schema sms_test_evil`);
    try {
      await client.query(`grant usage on schema sms_test_evil to public`);
      await client.query(`create table sms_test_evil.sms_settings as select * from public.sms_settings`);
      await client.query(`update sms_test_evil.sms_settings set default_sender = 'Evil', max_segments = 255`);
      await client.query(`create function sms_test_evil.always(text, text) returns boolean language sql as 'select true'`);
      await client.query(`create operator sms_test_evil.~ (leftarg = text, rightarg = text, function = sms_test_evil.always)`);
      await client.query(`create function sms_test_evil.now() returns timestamptz language sql as $$select '2000-01-01'::timestamptz$$`);
      await asRole(client, sender, async () => {
        await client.query('set search_path = sms_test_evil, public, pg_catalog');
        try {
          const id = (await client.query<{ id: string }>(`select public.sms_send('+79991234567', 'path') as id`)).rows[0]!.id;
          const row = (await client.query('select * from public.sms_status($1)', [id])).rows[0] as { sender: string; created_at: Date };
          assert.equal(row.sender, 'MyShop', 'the real settings were read');
          assert.ok(row.created_at.getFullYear() > 2000, 'the real now() was used');
          await rejectsWith(client.query(`select public.sms_send('not a number', 'path')`), '22023', 'recipient');
          await rejectsWith(client.query(`select public.sms_send('+79991234567', repeat('a', 1600))`), '22001', 'body');
        } finally {
          await client.query('reset search_path');
        }
      });
    } finally {
      await client.query('drop schema sms_test_evil cascade');
    }
  });
});

test('grants that ALTER DEFAULT PRIVILEGES hands out (as Supabase does) are stripped', async () => {
  const grabby = await roles.create();
  const fresh = await createTestDatabase({ migrated: false });
  try {
    const c = await fresh.connect();
    try {
      await c.query(`alter default privileges in schema public grant all on tables to ${grabby}`);
      await c.query(`alter default privileges in schema public grant all on functions to ${grabby}`);
      await c.query(`alter default privileges in schema public grant all on sequences to ${grabby}`);
    } finally {
      await c.end();
    }
    await migrate(fresh.url);
    const r = await fresh.pool.query<{ name: string }>(
      `select c.oid::regclass::text as name from pg_class c, aclexplode(c.relacl) a
        where c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%' and a.grantee = $1::regrole
       union all
       select p.oid::regprocedure::text from pg_proc p, aclexplode(p.proacl) a
        where p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_%' and a.grantee = $1::regrole`,
      [grabby],
    );
    assert.deepEqual(r.rows, []);
  } finally {
    await fresh.drop();
  }
});
