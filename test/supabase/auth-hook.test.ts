/**
 * Supabase Auth's Send SMS Hook as a Postgres function (migration 0012), called the way Supabase
 * Auth calls it: logged in as supabase_auth_admin on a connection of its own, in the request's
 * transaction, with the documented event (test/fixtures/supabase/send-sms-hook-event.json), and
 * rolled back when the answer is an error (./support.ts callSendSmsHook). What the app sees goes
 * through the PostgREST replay. The worker's side (the code on the wire, delivery, the metric) is
 * auth-hook-e2e.test.ts; a cluster without Supabase's roles is auth-hook-plain.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { AUTH_HOOK_REFUSAL_REASONS } from '../../src/worker/metrics.js';
import { connectAs } from '../support/db.js';
import { holdMessages } from '../support/rows.js';
import { TestRoles } from '../sql/helpers.js';
import {
  AUTH_ADMIN,
  callSendSmsHook,
  connectAsAuth,
  createSupabaseDatabase,
  hookExecuteGrantees,
  isError,
  Postgrest,
  randomOtp,
  sendSmsEvent,
  userClaims,
  type HookCall,
  type Isolation,
  type RequestAuth,
  type SupabaseDatabase,
} from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;
let auth: pg.Client;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
  auth = await connectAsAuth(db.adminUrl);
});
after(async () => {
  await auth?.end();
  await api?.end();
  await db?.drop();
  await roles.dropAll();
});
beforeEach(async () => {
  await db.pool.query(`update sms_auth_hook_settings set per_phone_limit = 5, per_phone_window = '1 hour', per_minute_limit = 100,
                                                        allowed_country_prefixes = null, users_see_own_codes = false`);
});

const newPhone = () => `+7999${String(randomBytes(4).readUInt32BE() % 10_000_000).padStart(7, '0')}`;
const digits = (phone: string) => phone.replace(/\D/g, '');
const hook = (event: unknown, options: { isolation?: Isolation } = {}) => callSendSmsHook(auth, event, options);

async function queuedTo(phone: string): Promise<number> {
  const r = await db.pool.query<{ n: number }>('select count(*)::int as n from sms_outbox where recipient = $1', [digits(phone)]);
  return r.rows[0]!.n;
}
async function totalQueued(): Promise<number> {
  return (await db.pool.query<{ n: number }>('select count(*)::int as n from sms_outbox')).rows[0]!.n;
}
async function refusals(): Promise<Record<string, number>> {
  const r = await db.pool.query<{ reason: string; refusals: string }>('select reason, refusals from sms_auth_hook_refusals()');
  return Object.fromEntries(r.rows.map((row) => [row.reason, Number(row.refusals)]));
}
async function refusalsSince(before: Record<string, number>): Promise<Record<string, number>> {
  const now = await refusals();
  return Object.fromEntries(Object.entries(now).filter(([k, v]) => v !== before[k]).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/** The answer is a refusal with this HTTP code, says nothing of the code, and Auth rolled back. */
function refused(call: HookCall, httpCode: number, otp: string, message?: RegExp): void {
  assert.equal(call.answer.error?.http_code, httpCode, JSON.stringify(call.answer));
  assert.equal(typeof call.answer.error?.message, 'string');
  assert.ok(call.answer.error!.message.length > 0);
  if (message) assert.match(call.answer.error!.message, message);
  assert.ok(!JSON.stringify(call.answer).includes(otp), 'the answer never carries the code');
  assert.equal(call.committed, false);
  assert.equal(call.failed, undefined, 'an answer, not an exception');
}

/** A login of this test's own, member of `memberOf`, connected to the database. */
async function loginRole(memberOf: string[]): Promise<pg.Client> {
  return connectAs(db.adminUrl, await roles.create({ memberOf, login: password }), password);
}

/** `n` connections as supabase_auth_admin (ended by the caller). */
const authConnections = (n: number) => Promise.all(Array.from({ length: n }, () => connectAsAuth(db.adminUrl)));

describe('the documented event, as Supabase Auth sends it', () => {
  test('queues its code at high priority, expiring with the code, owned by supabase_auth_admin, marked as from Auth; the code is only where the worker reads it', async () => {
    const phone = newPhone();
    const otp = randomOtp();
    const event = sendSmsEvent({ phone, otp });
    const userId = (event.user as { id: string }).id;
    const call = await hook(event);
    assert.deepEqual(call.answer, {});
    assert.equal(call.committed, true);

    const { rows } = await db.pool.query(
      `select o.body, s.body as secret, o.body_length, o.body_hash = sms_private.body_hash(s.body) as hashed, o.redacted_at,
              recipient, sender, encoding, segments, priority, owner, metadata, idempotency_key, status,
              extract(epoch from expires_at - created_at)::int as life_s
         from sms_outbox o left join sms_outbox_secret s on s.outbox_id = o.id where recipient = $1`,
      [digits(phone)],
    );
    assert.equal(rows.length, 1);
    const row = rows[0];
    // The text is in sms_outbox_secret (the worker's to read), and blanked in sms_outbox.
    assert.equal(row.secret, `${otp} is your sign-in code. Do not share it.`);
    assert.deepEqual(
      { ...row, secret: undefined },
      {
        secret: undefined,
        body: '',
        body_length: row.secret.length,
        hashed: true,
        redacted_at: null,
        recipient: digits(phone),
        sender: 'TestBrand',
        encoding: 'gsm7',
        segments: 1,
        priority: 10,
        owner: AUTH_ADMIN,
        metadata: { via: 'supabase_auth_hook', user_id: userId },
        idempotency_key: row.idempotency_key,
        status: 'queued',
        life_s: 60,
      },
    );
    assert.match(row.idempotency_key, /^supabase-auth:[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify({ ...row, secret: undefined }).includes(otp), 'not in the key, the metadata or anything else');

    const code = await db.pool.query('select c.user_id, c.phone, c.sms_type, c.status from sms_auth_code c join sms_outbox o on o.id = c.outbox_id where o.recipient = $1', [digits(phone)]);
    assert.deepEqual(code.rows, [{ user_id: userId, phone: digits(phone), sms_type: null, status: 'queued' }]);
  });

  test('the code\'s row is written once: inserted with its body blanked, never updated to blank it', async () => {
    // pg_stat_xact_user_tables counts this transaction's own writes: one insert, no update (the
    // code never was in sms_outbox, not even in a version of the row that a later one replaced).
    const client = await connectAsAuth(db.adminUrl);
    try {
      await client.query('begin');
      const answer = await client.query('select public.sms_auth_send_sms_hook($1::jsonb) as a', [JSON.stringify(sendSmsEvent({ phone: newPhone(), otp: randomOtp() }))]);
      assert.deepEqual(answer.rows[0].a, {});
      const writes = await client.query(`select n_tup_ins::int as ins, n_tup_upd::int as upd from pg_stat_xact_user_tables where relid = 'public.sms_outbox'::regclass`);
      assert.deepEqual(writes.rows, [{ ins: 1, upd: 0 }]);
      await client.query('commit');
    } finally {
      await client.end();
    }
  });

  test('the same event again (Auth retrying) answers {} and queues nothing more, also when both calls race', async () => {
    const phone = newPhone();
    const event = sendSmsEvent({ phone, otp: randomOtp() });
    assert.deepEqual((await hook(event)).answer, {});
    assert.deepEqual((await hook(event)).answer, {});
    assert.equal(await queuedTo(phone), 1);

    const racing = sendSmsEvent({ phone: newPhone(), otp: randomOtp() });
    const clients = await authConnections(2);
    try {
      const calls = await Promise.all(clients.map((c) => callSendSmsHook(c, racing)));
      assert.deepEqual(calls.map((c) => c.answer), [{}, {}]);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    assert.equal(await queuedTo((racing.user as { phone: string }).phone), 1);
  });

  test('a new code for the same user is a new message', async () => {
    const phone = newPhone();
    const userId = randomUUID();
    assert.deepEqual((await hook(sendSmsEvent({ userId, phone, otp: randomOtp() }))).answer, {});
    assert.deepEqual((await hook(sendSmsEvent({ userId, phone, otp: randomOtp() }))).answer, {});
    assert.equal(await queuedTo(phone), 2);
  });

  test('the number in sms.phone (newer Auth: a phone change, an MFA factor) wins over user.phone; sms_type is kept', async () => {
    const [old, factor] = [newPhone(), newPhone()];
    const event = sendSmsEvent({ phone: old, otp: randomOtp(), sms: { phone: digits(factor), sms_type: 'mfa' } });
    assert.deepEqual((await hook(event)).answer, {});
    assert.equal(await queuedTo(old), 0);
    assert.equal(await queuedTo(factor), 1);
    const r = await db.pool.query(`select c.sms_type, o.metadata ->> 'sms_type' as meta from sms_auth_code c join sms_outbox o on o.id = c.outbox_id where c.phone = $1`, [digits(factor)]);
    assert.deepEqual(r.rows, [{ sms_type: 'mfa', meta: 'mfa' }]);
  });

  test('the phone as Auth stores it (digits, no "+") and with spaces', async () => {
    for (const phone of [digits(newPhone()), `+7 999 ${String(randomBytes(2).readUInt16BE() % 1000).padStart(3, '0')} 12 34`]) {
      assert.deepEqual((await hook(sendSmsEvent({ phone, otp: randomOtp() }))).answer, {}, phone);
      assert.equal(await queuedTo(phone), 1);
    }
  });
});

describe('refusals: an error object, never an exception; nothing queued; never the code; counted', () => {
  test('a phone that is missing or not a plausible international number: 400', async () => {
    const before = await refusals();
    const total = await totalQueued();
    const bad = [undefined, '', '12345', '+0123456789', '89991234567', '+7 999 abc 12 34', '+7999123456789012', 'x'.repeat(100)];
    for (const phone of bad) {
      const otp = randomOtp();
      const event = sendSmsEvent({ otp });
      const user = event.user as Record<string, unknown>;
      if (phone === undefined) delete user.phone;
      else user.phone = phone;
      refused(await hook(event), 400, otp, /phone number/);
    }
    assert.equal(await totalQueued(), total, 'nothing queued');
    assert.deepEqual(await refusalsSince(before), { bad_phone: bad.length });
  });

  test('an event that is not an object or has no code: 400', async () => {
    const before = await refusals();
    const total = await totalQueued();
    const noCode = sendSmsEvent();
    delete (noCode as { sms?: unknown }).sms;
    const badCode = sendSmsEvent({ otp: 'abcdef' });
    const events: unknown[] = [null, [], 'text', {}, noCode, badCode, sendSmsEvent({ otp: '' })];
    for (const event of events) refused(await hook(event), 400, 'abcdef', /event/);
    assert.equal(await totalQueued(), total);
    assert.deepEqual(await refusalsSince(before), { bad_event: events.length });
  });

  test('a phone outside allowed_country_prefixes: 403; NULL allows every country, {} none', async () => {
    const before = await refusals();
    await db.pool.query(`update sms_auth_hook_settings set allowed_country_prefixes = '{375,44}'`);
    const ru = newPhone();
    const otp = randomOtp();
    refused(await hook(sendSmsEvent({ phone: ru, otp })), 403, otp, /country/);
    assert.equal(await queuedTo(ru), 0);
    const by = `+375 29 ${String(randomBytes(3).readUIntBE(0, 3) % 10_000_000).padStart(7, '0')}`;
    assert.deepEqual((await hook(sendSmsEvent({ phone: by, otp: randomOtp() }))).answer, {});
    assert.equal(await queuedTo(by), 1);
    await db.pool.query(`update sms_auth_hook_settings set allowed_country_prefixes = '{}'`);
    refused(await hook(sendSmsEvent({ phone: by, otp })), 403, otp);
    await db.pool.query(`update sms_auth_hook_settings set allowed_country_prefixes = null`);
    assert.deepEqual((await hook(sendSmsEvent({ phone: ru, otp: randomOtp() }))).answer, {});
    assert.deepEqual(await refusalsSince(before), { country: 2 });
  });

  test('per_phone_limit counts the number, whichever user asks; the 429 says when to retry', async () => {
    await db.pool.query(`update sms_auth_hook_settings set per_phone_limit = 2`);
    const phone = newPhone();
    assert.deepEqual((await hook(sendSmsEvent({ phone, otp: randomOtp() }))).answer, {});
    assert.deepEqual((await hook(sendSmsEvent({ phone, otp: randomOtp() }))).answer, {});
    const otp = randomOtp();
    const third = await hook(sendSmsEvent({ phone, otp }));
    refused(third, 429, otp, /too many codes for this phone number; try again after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
    const retryAt = Date.parse(/after (\S+)$/.exec(third.answer.error!.message)![1]!);
    assert.ok(retryAt > Date.now() + 59 * 60_000 && retryAt < Date.now() + 61 * 60_000, 'an hour after the first code');
    assert.equal(await queuedTo(phone), 2);
    // Another number is not affected; a repeat of a queued event still answers {}.
    assert.deepEqual((await hook(sendSmsEvent({ phone: newPhone(), otp: randomOtp() }))).answer, {});
    await db.pool.query(`update sms_auth_hook_settings set per_phone_limit = 0`);
    refused(await hook(sendSmsEvent({ phone: newPhone(), otp })), 429, otp, /too many codes/);
  });

  test('30 calls for one number from 30 connections at once (READ COMMITTED, as Auth runs): exactly per_phone_limit queued, the rest 429', async () => {
    const before = await refusals();
    const phone = newPhone();
    const userId = randomUUID();
    const clients = await authConnections(30);
    let calls: HookCall[];
    const otps = clients.map(() => randomOtp());
    try {
      // No call can hang: each runs under the statement_timeout callSendSmsHook sets (2 s, as
      // Auth does) and the hook's lock_timeout (1 s), and one that ran into either is answered
      // 429 busy, which the checks below count; none raised (refused() checks that).
      calls = await Promise.all(clients.map((c, i) => callSendSmsHook(c, sendSmsEvent({ userId, phone, otp: otps[i] }))));
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    const ok = calls.filter((c) => c.committed);
    assert.equal(ok.length, 5, JSON.stringify(calls.map((c) => c.answer)));
    calls.forEach((c, i) => {
      if (!c.committed) refused(c, 429, otps[i]!);
    });
    assert.equal(await queuedTo(phone), 5);
    const counted = await refusalsSince(before);
    assert.equal((counted.phone_limit ?? 0) + (counted.busy ?? 0), 25, JSON.stringify(counted));
  });

  for (const isolation of ['repeatable read', 'serializable'] as const) {
    test(`30 calls for one number at once under ${isolation.toUpperCase()}: never more than per_phone_limit; a caller that raced gets 429 and, asking again, its fair answer`, async () => {
      const phone = newPhone();
      const userId = randomUUID();
      const clients = await authConnections(30);
      let raced = 0;
      const outcomes: string[] = [];
      try {
        // Every transaction takes its snapshot before any of them calls the hook, as requests
        // arriving together do; a caller refused because it raced asks again with a new code,
        // as a user pressing "resend" would.
        let snapshots = 0;
        let release!: () => void;
        const allTaken = new Promise<void>((r) => (release = r));
        const first = async (c: pg.Client) => {
          await c.query(`begin isolation level ${isolation}`);
          await c.query('select now()');
          if (++snapshots === clients.length) release();
          await allTaken;
          const otp = randomOtp();
          try {
            const r = await c.query<{ answer: HookCall['answer'] }>('select public.sms_auth_send_sms_hook($1) as answer', [JSON.stringify(sendSmsEvent({ userId, phone, otp }))]);
            const answer = r.rows[0]!.answer;
            if (answer.error) {
              await c.query('rollback');
              return { answer, committed: false } as HookCall;
            }
            await c.query('commit');
            return { answer, committed: true } as HookCall;
          } catch (err) {
            await c.query('rollback').catch(() => {});
            return { answer: {}, committed: false, failed: (err as { code: string }).code } as HookCall;
          }
        };
        await Promise.all(
          clients.map(async (c) => {
            let call = await first(c);
            for (let retry = 0; retry < 50 && (call.failed === '40001' || /at once/.test(call.answer.error?.message ?? '')); retry++) {
              raced++;
              call = await callSendSmsHook(c, sendSmsEvent({ userId, phone, otp: randomOtp() }), { isolation });
            }
            outcomes.push(call.committed ? 'queued' : (call.failed ?? String(call.answer.error?.message)));
          }),
        );
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
      assert.ok(raced > 0, 'callers with a stale snapshot were refused');
      assert.equal(outcomes.filter((o) => o === 'queued').length, 5, JSON.stringify(outcomes));
      assert.ok(outcomes.filter((o) => o !== 'queued').every((o) => /too many codes for this phone number/.test(o)), JSON.stringify(outcomes));
      assert.equal(await queuedTo(phone), 5);
    });
  }

  test('per_minute_limit: all numbers together, exact under concurrent calls; NULL lifts it', async (t) => {
    // The ceiling counts calendar minutes. An attempt that a minute boundary split is made again
    // (it takes well under a second, so one in many runs does), instead of waiting for the next.
    const minute = async () => (await db.pool.query<{ m: string }>(`select date_trunc('minute', clock_timestamp())::text as m`)).rows[0]!.m;
    for (let attempt = 1; ; attempt++) {
      const began = await minute();
      const used = await db.pool.query<{ n: number }>(`select coalesce((select sent from sms_private.auth_hook_minute where minute = date_trunc('minute', now())), 0) as n`);
      await db.pool.query(`update sms_auth_hook_settings set per_minute_limit = $1`, [used.rows[0]!.n + 3]);
      const before = await refusals();
      const phones = Array.from({ length: 8 }, newPhone);
      const otps = phones.map(() => randomOtp());
      const clients = await authConnections(phones.length);
      let calls: HookCall[];
      try {
        calls = await Promise.all(clients.map((c, i) => callSendSmsHook(c, sendSmsEvent({ phone: phones[i], otp: otps[i] }))));
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
      if ((await minute()) !== began) {
        assert.ok(attempt < 3, 'three attempts in a row were split by a minute boundary');
        t.diagnostic(`attempt ${attempt} was split by a minute boundary: made again`);
        continue;
      }
      assert.equal(calls.filter((c) => c.committed).length, 3, JSON.stringify(calls.map((c) => c.answer)));
      calls.forEach((c, i) => {
        if (!c.committed) refused(c, 429, otps[i]!, /too many sign-in codes/);
      });
      let queued = 0;
      for (const p of phones) queued += await queuedTo(p);
      assert.equal(queued, 3);
      const counted = await refusalsSince(before);
      assert.equal((counted.global_limit ?? 0) + (counted.busy ?? 0), 5, JSON.stringify(counted));
      break;
    }
    await db.pool.query(`update sms_auth_hook_settings set per_minute_limit = null`);
    assert.deepEqual((await hook(sendSmsEvent({ phone: newPhone(), otp: randomOtp() }))).answer, {});
    await db.pool.query(`update sms_auth_hook_settings set per_minute_limit = 0`);
    const otp = randomOtp();
    refused(await hook(sendSmsEvent({ phone: newPhone(), otp })), 429, otp, /too many sign-in codes/);
  });

  test('anything else (no sender configured): 500 with the SQLSTATE, nothing queued, the error in the log with the code masked', async () => {
    const before = await refusals();
    const total = await totalQueued();
    await db.pool.query(`update sms_settings set default_sender = null`);
    try {
      const otp = randomOtp();
      refused(await hook(sendSmsEvent({ phone: newPhone(), otp })), 500, otp, /could not be queued \(SQLSTATE 22004\)/);
    } finally {
      await db.pool.query(`update sms_settings set default_sender = 'TestBrand'`);
    }
    // An error whose own text holds the code (a trigger of the operator's echoing the text where
    // it is stored, sms_outbox_secret: the sms_outbox row never holds it): the server log gets
    // it with the code masked.
    await db.pool.query(`
      create function public.test_echo_body() returns trigger language plpgsql as $$
      begin raise exception 'refusing %', new.body; end $$;
      create trigger test_echo_body before insert on sms_outbox_secret for each row execute function public.test_echo_body();`);
    const logs: string[] = [];
    const onNotice = (n: { severity?: string; message?: string }) => logs.push(`${n.severity}: ${n.message}`);
    auth.on('notice', onNotice);
    await auth.query('set client_min_messages = log');
    try {
      const otp = randomOtp();
      refused(await hook(sendSmsEvent({ phone: newPhone(), otp })), 500, otp, /SQLSTATE P0001/);
      const line = logs.find((l) => /the code was not queued/.test(l));
      assert.ok(line, `a log line: ${JSON.stringify(logs)}`);
      assert.match(line!, /^WARNING: sms_auth_send_sms_hook: the code was not queued: P0001 refusing \*\*\*\*\*\* is your sign-in code/);
      assert.ok(!logs.some((l) => l.includes(otp)), 'the code is in no log line');
    } finally {
      auth.off('notice', onNotice);
      await auth.query('reset client_min_messages');
      await db.pool.query('drop trigger test_echo_body on sms_outbox_secret; drop function public.test_echo_body()');
    }
    assert.equal(await totalQueued(), total);
    assert.deepEqual(await refusalsSince(before), { error: 2 });
  });
});

describe('who may call it', () => {
  const hookGrantees = () => hookExecuteGrantees(db.pool);

  test('EXECUTE: supabase_auth_admin only (not PUBLIC, anon, authenticated, service_role, nor the sms_ roles)', async () => {
    assert.deepEqual(await hookGrantees(), [AUTH_ADMIN]);
  });

  test('through the REST API: anon 401, authenticated 403, service_role 403, nothing queued', async () => {
    const total = await totalQueued();
    const event = sendSmsEvent({ phone: newPhone(), otp: randomOtp() });
    const as: [RequestAuth, number][] = [
      [{ role: 'anon' }, 401],
      [{ role: 'authenticated', claims: userClaims(randomUUID()) }, 403],
      [{ role: 'service_role' }, 403],
    ];
    for (const [who, status] of as) {
      const r = await api.rpc('sms_auth_send_sms_hook', { event }, who);
      assert.equal(r.status, status, `${who.role}: ${JSON.stringify(r.body)}`);
      assert.ok(isError(r.body) && r.body.code === '42501');
    }
    assert.equal(await totalQueued(), total);
  });

  test('a login holding the sender and reader roles may not call it (42501)', async () => {
    const client = await loginRole(['sms_sender', 'sms_reader']);
    try {
      await assert.rejects(client.query('select public.sms_auth_send_sms_hook($1)', [JSON.stringify(sendSmsEvent())]), (e: { code?: string }) => e.code === '42501');
    } finally {
      await client.end();
    }
  });

  test('stays so after another `sms-outbox migrate` and after stripping default privileges; service_role gets the status function and sms_auth_code, never the hook', async () => {
    await migrate(db.ownerUrl);
    await db.pool.query('select sms_strip_inherited_grants()');
    assert.deepEqual(await hookGrantees(), [AUTH_ADMIN]);
    const r = await db.pool.query<{ object: string; privilege: string }>(`
      select p.oid::regprocedure::text as object, a.privilege_type as privilege
        from pg_proc p, aclexplode(p.proacl) a
       where p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_auth%' and a.grantee = 'service_role'::regrole
      union all
      select c.oid::regclass::text, a.privilege_type
        from pg_class c, aclexplode(c.relacl) a
       where c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_auth%' and a.grantee = 'service_role'::regrole
       order by 1`);
    assert.deepEqual(r.rows, [
      { object: 'sms_auth_code', privilege: 'SELECT' },
      { object: 'sms_auth_code_status(text,uuid)', privilege: 'EXECUTE' },
    ]);
  });
});

describe('what the app sees: the latest code, never the code itself', () => {
  const service: RequestAuth = { role: 'service_role' };

  test('sms_auth_code_status by phone or user through the REST API (service_role): status, and resend only once the code failed or lapsed', async () => {
    const phone = newPhone();
    const userId = randomUUID();
    const otp = randomOtp();
    assert.deepEqual((await hook(sendSmsEvent({ userId, phone, otp }))).answer, {});
    const byPhone = await api.rpc<Record<string, unknown>[]>('sms_auth_code_status', { phone }, service);
    assert.equal(byPhone.status, 200, JSON.stringify(byPhone.body));
    const rows = byPhone.body as Record<string, unknown>[];
    assert.equal(rows.length, 1);
    assert.deepEqual(
      { user_id: rows[0]!.user_id, phone: rows[0]!.phone, status: rows[0]!.status, attempts: rows[0]!.attempts, resend_advised: rows[0]!.resend_advised },
      { user_id: userId, phone: digits(phone), status: 'queued', attempts: 0, resend_advised: false },
    );
    assert.ok(!JSON.stringify(byPhone.body).includes(otp));
    const byUser = await api.rpc<Record<string, unknown>[]>('sms_auth_code_status', { user_id: userId }, service);
    assert.deepEqual(byUser.body, byPhone.body);
    // Claimed by a worker (a lease, migration 0034; its sms_outbox row stays queued): sending,
    // its first attempt counted, as sms_status says; back to queued once the lease is gone.
    await holdMessages(db.pool, [rows[0]!.outbox_id as string], { workerId: 'hook-worker' });
    const held = ((await api.rpc<Record<string, unknown>[]>('sms_auth_code_status', { phone }, service)).body as Record<string, unknown>[])[0]!;
    assert.deepEqual([held.status, held.attempts, held.resend_advised], ['sending', 1, false]);
    await db.pool.query('delete from sms_private.outbox_lease where outbox_id = $1', [rows[0]!.outbox_id]);

    // A newer code is the latest; once it is cancelled (ended undelivered), resend is advised.
    assert.deepEqual((await hook(sendSmsEvent({ userId, phone, otp: randomOtp() }))).answer, {});
    const latest = ((await api.rpc<Record<string, unknown>[]>('sms_auth_code_status', { phone }, service)).body as Record<string, unknown>[])[0]!;
    assert.notEqual(latest.outbox_id, rows[0]!.outbox_id);
    assert.equal((await db.pool.query<{ ok: boolean }>('select sms_cancel($1) as ok', [latest.outbox_id])).rows[0]!.ok, true);
    const after = ((await api.rpc<Record<string, unknown>[]>('sms_auth_code_status', { phone }, service)).body as Record<string, unknown>[])[0]!;
    assert.equal(after.status, 'cancelled');
    assert.equal(after.resend_advised, true);
    const mirrored = await db.pool.query('select status from sms_auth_code where outbox_id = $1', [latest.outbox_id]);
    assert.equal(mirrored.rows[0].status, 'cancelled', 'sms_auth_code follows the message (for Realtime)');

    assert.deepEqual((await api.rpc('sms_auth_code_status', { phone: newPhone() }, service)).body, [], 'no code: no row');
    const none = await api.rpc('sms_auth_code_status', {}, service);
    assert.equal(none.status, 400);
    assert.ok(isError(none.body) && none.body.code === '22004');
    const bad = await api.rpc('sms_auth_code_status', { phone: '12' }, service);
    assert.equal(bad.status, 400);
    assert.ok(isError(bad.body) && bad.body.code === '22023');
  });

  test('anon and authenticated may not read the status (401 / 403); GET /sms_auth_code is 403 for authenticated by default', async () => {
    assert.equal((await api.rpc('sms_auth_code_status', { phone: newPhone() }, { role: 'anon' })).status, 401);
    assert.equal((await api.rpc('sms_auth_code_status', { phone: newPhone() }, { role: 'authenticated', claims: userClaims(randomUUID()) })).status, 403);
    assert.equal((await api.select('sms_auth_code', { role: 'authenticated', claims: userClaims(randomUUID()) })).status, 403);
    const svc = await api.select('sms_auth_code', service);
    assert.equal(svc.status, 200, 'service_role reads it (server code, Realtime)');
  });

  test('users_see_own_codes: a signed-in user reads its own codes (REST, Realtime), no one else\'s; kept by migrate; off again: 403', async () => {
    const [u1, u2] = [randomUUID(), randomUUID()];
    const phone = newPhone();
    assert.deepEqual((await hook(sendSmsEvent({ userId: u1, phone, otp: randomOtp() }))).answer, {});
    await db.pool.query(`update sms_auth_hook_settings set users_see_own_codes = true`);
    await migrate(db.ownerUrl);
    const mine = await api.select<Record<string, unknown>>('sms_auth_code', { role: 'authenticated', claims: userClaims(u1.toUpperCase()) });
    assert.equal(mine.status, 200);
    assert.deepEqual((mine.body as Record<string, unknown>[]).map((r) => [r.user_id, r.phone, r.status]), [[u1, digits(phone), 'queued']]);
    assert.deepEqual((await api.select('sms_auth_code', { role: 'authenticated', claims: userClaims(u2) })).body, []);
    assert.equal((await api.select('sms_auth_code', { role: 'anon' })).status, 401);
    await db.pool.query(`update sms_auth_hook_settings set users_see_own_codes = false`);
    assert.equal((await api.select('sms_auth_code', { role: 'authenticated', claims: userClaims(u1) })).status, 403);
    const policies = await db.pool.query(`select polname from pg_policy where polrelid = 'sms_auth_code'::regclass order by 1`);
    assert.deepEqual(policies.rows.map((r) => r.polname), ['sms_reader_select']);
  });

  test('the reader role reads sms_auth_code, the refusals and the status; the worker role the refusals', async () => {
    const reader = await loginRole(['sms_reader']);
    const worker = await loginRole(['sms_worker']);
    try {
      const r = await reader.query('select reason from sms_auth_hook_refusals()');
      assert.deepEqual(r.rows.map((x) => x.reason), [...AUTH_HOOK_REFUSAL_REASONS], 'the reasons the worker exports');
      await reader.query('select count(*) from sms_auth_code');
      await reader.query('select * from sms_auth_code_status($1)', [newPhone()]);
      await worker.query('select * from sms_auth_hook_refusals()');
      await assert.rejects(worker.query('select count(*) from sms_auth_code'), /permission denied/);
    } finally {
      await reader.end();
      await worker.end();
    }
  });
});

describe('settings are checked when set', () => {
  const rejects = async (sql: string, code: string, column: string, message?: RegExp) => {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await assert.rejects(client.query(sql), (e: { code?: string; column?: string; message: string }) => {
        assert.equal(e.code, code, e.message);
        assert.equal(e.column, column, e.message);
        if (message) assert.match(e.message, message);
        return true;
      });
    } finally {
      await client.query('rollback');
      client.release();
    }
  };

  test('the template needs {code}, knows only {code} and {product}, and must make a text sms_send takes', async () => {
    await rejects(`update sms_auth_hook_settings set template = 'Your code'`, '22023', 'template', /must contain \{code\}/);
    await rejects(`update sms_auth_hook_settings set template = '{code} for {app}'`, '22023', 'template', /\{app\}/);
    await rejects(`update sms_auth_hook_settings set template = repeat('x', 1600) || '{code}'`, '22001', 'template', /segments/);
    await rejects(`update sms_auth_hook_settings set template = E'{code}\\u0007'`, '22021', 'template');
  });

  test('the sender follows sms_send\'s rules; prefixes are digits; the app hash has 11 characters', async () => {
    await rejects(`update sms_auth_hook_settings set sender = 'Far Too Long Name'`, '22001', 'sender');
    await rejects(`update sms_auth_hook_settings set allowed_country_prefixes = '{+7}'`, '22023', 'allowed_country_prefixes');
    await rejects(`update sms_auth_hook_settings set allowed_country_prefixes = '{07}'`, '22023', 'allowed_country_prefixes');
    await assert.rejects(db.pool.query(`update sms_auth_hook_settings set app_hash = 'short'`), (e: { code?: string }) => e.code === '23514');
  });

  test('what a template makes: {product} after {code}, the app hash as the last line', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(`update sms_auth_hook_settings set template = 'Код для входа в {product}: {code}', product_name = 'Shop {code}', app_hash = 'FA+9qCX9VSu'`);
      const r = await client.query(`select sms_private.auth_hook_text(s, '123456') as text from sms_auth_hook_settings s`);
      assert.equal(r.rows[0].text, 'Код для входа в Shop {code}: 123456\nFA+9qCX9VSu');
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});

describe('the examples of docs/guides/supabase.md (Supabase phone sign-in) run as written', () => {
  /** The first ```sql block after the line starting with `lead`. */
  const snippet = (lead: string) => {
    const readme = readFileSync(new URL('../../docs/guides/supabase.md', import.meta.url), 'utf8');
    const at = readme.indexOf(`\n${lead}`);
    assert.ok(at >= 0, `docs/guides/supabase.md has "${lead}"`);
    return /```sql\n([\s\S]*?)\n```/.exec(readme.slice(at))![1]!;
  };

  test('the settings update, the refusals and the status query', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(snippet('**Settings**'));
      const s = await client.query('select template, allowed_country_prefixes from sms_auth_hook_settings');
      assert.deepEqual(s.rows, [{ template: 'Код для входа в {product}: {code}', allowed_country_prefixes: ['7', '375'] }]);
      const r = await client.query(snippet('the counts as `sms_auth_hook_refusals_total'));
      assert.equal(r.rows.length, AUTH_HOOK_REFUSAL_REASONS.length);
      await client.query(snippet('`status` follows the message'));
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});
