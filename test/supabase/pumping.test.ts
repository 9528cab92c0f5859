/**
 * The Send SMS Hook's defence against SMS pumping (migration 0027), called the way Supabase Auth
 * calls it (logged in as supabase_auth_admin, in the request's transaction, rolled back on an
 * error answer: ./support.ts callSendSmsHook), with confirmations the way Auth makes them (an
 * UPDATE of auth.users.phone_confirmed_at) or through sms_verification_confirmed, and time moved
 * by the test clock (./pumping-support.ts), never by sleeping. The day-long replay with its goals
 * is pumping-simulation.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { connectAs } from '../support/db.js';
import { TestRoles } from '../sql/helpers.js';
import { installClock, pumpingSettings, resetPumping, setClock } from './pumping-support.js';
import {
  callSendSmsHook,
  connectAsAuth,
  createSupabaseDatabase,
  isError,
  Postgrest,
  randomOtp,
  sendSmsEvent,
  userClaims,
  type HookCall,
  type SupabaseDatabase,
} from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;
let auth: pg.Client;
let admin: pg.Client;
const roles = new TestRoles();
const MINUTE = 60_000;
let t = Math.floor(Date.now() / MINUTE) * MINUTE;

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
  auth = await connectAsAuth(db.adminUrl);
  admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  await installClock(db.pool, new Date(t));
  await db.pool.query(`update sms_auth_hook_settings set per_minute_limit = null`);
});
after(async () => {
  await admin?.end();
  await auth?.end();
  await api?.end();
  await db?.drop();
  await roles.dropAll();
});
beforeEach(async () => {
  await resetPumping(db.pool);
  // Volume spikes only where a test asks for them.
  await pumpingSettings(db.pool, { spike_min_codes: 1_000_000, watching_since: new Date(t - 24 * 3600_000) });
});

async function advance(ms: number): Promise<void> {
  t += ms;
  await setClock(db.pool, new Date(t));
}

let serial = 0;
/** A new number of 11 digits in this prefix range. */
function phoneIn(prefix: string): string {
  const rest = 11 - prefix.length;
  serial += 1;
  return prefix + String(serial % 10 ** rest).padStart(rest, '0');
}

/** Supabase Auth asks for a code for this phone (its user created first, as Auth does). */
async function signIn(phone: string, sms: Record<string, unknown> = {}): Promise<HookCall> {
  await admin.query(`insert into auth.users (id, phone) values ($1, $2) on conflict (phone) do nothing`, [randomUUID(), phone]);
  return callSendSmsHook(auth, sendSmsEvent({ phone, otp: randomOtp(), sms }));
}

/** Supabase Auth verified the code of this phone (smsVerify: ConfirmPhone sets phone_confirmed_at). */
async function confirm(phone: string): Promise<void> {
  await admin.query(`update auth.users set phone_confirmed_at = (select at from sms_private.test_clock) where phone = $1`, [phone]);
}

function queued(call: HookCall, what = ''): void {
  assert.deepEqual(call.answer, {}, `${what}: ${JSON.stringify(call.answer)}`);
  assert.equal(call.committed, true);
}

async function refusedFor(call: HookCall, reason: 'range_blocked' | 'range_throttled'): Promise<void> {
  const message = (await db.pool.query<{ message: string }>('select message from sms_pumping_settings')).rows[0]!.message;
  assert.deepEqual(call.answer, { error: { http_code: 429, message, reason } });
  assert.equal(call.committed, false, 'Auth rolled back');
}

async function decisions(range?: string): Promise<{ range: string; level: string; action: string; reason: string; until: Date | null; evidence: Record<string, unknown>; in_force: boolean }[]> {
  const r = await db.pool.query(`select range, level, action, reason, until, evidence, in_force from sms_pumping_decisions
                                   where $1::text is null or range = $1 order by id`, [range ?? null]);
  return r.rows;
}

/** `n` codes to new numbers of `prefix`, each queued; returns the numbers. */
async function codesTo(prefix: string, n: number): Promise<string[]> {
  const phones: string[] = [];
  for (let i = 0; i < n; i++) {
    const phone = phoneIn(prefix);
    queued(await signIn(phone), `code ${i} to ${prefix}`);
    phones.push(phone);
  }
  return phones;
}

async function refusals(): Promise<Record<string, number>> {
  const r = await db.pool.query<{ reason: string; refusals: string }>('select reason, refusals from sms_auth_hook_refusals()');
  return Object.fromEntries(r.rows.map((row) => [row.reason, Number(row.refusals)]));
}

describe('installed', () => {
  test('a trigger on auth.users counts Auth\'s confirmations; settings have their defaults', async () => {
    const trig = await db.pool.query(`select tgname from pg_trigger where tgrelid = 'auth.users'::regclass and not tgisinternal`);
    assert.deepEqual(trig.rows, [{ tgname: 'sms_pumping_phone_confirmed' }]);
    const s = await db.pool.query(`select enabled, prefix_length, min_codes, min_conversion, cooldown::text from sms_pumping_settings`);
    assert.deepEqual(s.rows[0], { enabled: true, prefix_length: 8, min_codes: 20, min_conversion: 0.2, cooldown: '00:30:00' });
  });

  test('sms_verification_confirmed: service_role over REST (200), anon 401, authenticated 403; sms_pumping_pin: nobody but the owner', async () => {
    const phone = phoneIn('79991111');
    queued(await signIn(phone));
    assert.deepEqual(await api.rpc('sms_verification_confirmed', { phone: `+${phone}` }, { role: 'service_role' }), { status: 200, body: true });
    assert.deepEqual(await api.rpc('sms_verification_confirmed', { phone: `+${phone}` }, { role: 'service_role' }), { status: 200, body: false },
      'counted once');
    for (const [who, status] of [[{ role: 'anon' as const }, 401], [{ role: 'authenticated' as const, claims: userClaims(randomUUID()) }, 403]] as const) {
      const r = await api.rpc('sms_verification_confirmed', { phone: `+${phone}` }, who);
      assert.equal(r.status, status);
      assert.ok(isError(r.body) && r.body.code === '42501');
    }
    const pin = await api.rpc('sms_pumping_pin', { range: '7', pin: 'open' }, { role: 'service_role' });
    assert.equal(pin.status, 403);
    const password = randomBytes(8).toString('hex');
    const sender = await connectAs(db.adminUrl, await roles.create({ memberOf: ['sms_sender', 'sms_reader'], login: password }), password);
    try {
      await assert.rejects(sender.query(`select sms_pumping_pin('7', 'open')`), (e: { code?: string }) => e.code === '42501');
      assert.equal((await sender.query(`select sms_verification_confirmed($1) as ok`, [phone])).rows[0].ok, false);
      assert.ok(Array.isArray((await sender.query('select * from sms_pumping_decisions')).rows), 'the reader reads the decisions');
      await assert.rejects(sender.query(`select sms_verification_confirmed('12')`), (e: { code?: string }) => /^22/.test(e.code ?? ''));
    } finally {
      await sender.end();
    }
  });

  test('stays so after another migrate: the trigger, the grants', async () => {
    await migrate(db.ownerUrl);
    const trig = await db.pool.query(`select count(*)::int as n from pg_trigger where tgrelid = 'auth.users'::regclass and tgname = 'sms_pumping_phone_confirmed'`);
    assert.equal(trig.rows[0].n, 1);
    const g = await db.pool.query(`select has_function_privilege('service_role', 'sms_verification_confirmed(text)', 'execute') as s,
                                          has_function_privilege('authenticated', 'sms_verification_confirmed(text)', 'execute') as a,
                                          has_function_privilege('service_role', 'sms_pumping_pin(text,text,text)', 'execute') as p`);
    assert.deepEqual(g.rows[0], { s: true, a: false, p: false });
  });
});

describe('confirmations', () => {
  test('Auth\'s phone_confirmed_at within the code\'s validity counts; later, or without a code, nothing', async () => {
    const [a, b] = await codesTo('79992222', 2);
    await advance(30_000);
    await confirm(a!);
    await advance(31_000); // b's code (1 minute) has lapsed
    await confirm(b!);
    const r = await db.pool.query(`select phone, confirmed_at is not null as confirmed, pumping_range from sms_auth_code where phone = any($1) order by phone`, [[a, b]]);
    assert.deepEqual(r.rows, [
      { phone: a, confirmed: true, pumping_range: '79992222' },
      { phone: b, confirmed: false, pumping_range: '79992222' },
    ]);
    const bucket = await db.pool.query(`select range, sum(sent)::int as sent, sum(confirmed)::int as confirmed from sms_private.pumping_bucket
                                         where range in ('79992222', '7') group by range order by range`);
    assert.deepEqual(bucket.rows, [{ range: '7', sent: 2, confirmed: 1 }, { range: '79992222', sent: 2, confirmed: 1 }]);
  });

  test('an MFA code is not counted (Auth does not confirm it through phone_confirmed_at)', async () => {
    const phone = phoneIn('79993333');
    queued(await signIn(phone, { sms_type: 'mfa' }));
    const r = await db.pool.query(`select pumping_range from sms_auth_code where phone = $1`, [phone]);
    assert.deepEqual(r.rows, [{ pumping_range: null }]);
  });
});

describe('decisions', () => {
  test('a prefix whose codes nobody confirms is blocked; a converting prefix of the same country is never slowed', async () => {
    const bad = '79994444';
    const good = '79995555';
    const before = await refusals();
    await codesTo(bad, 20);
    for (const phone of await codesTo(good, 20)) await confirm(phone);
    await advance(2 * MINUTE + 1000); // every code settled
    queued(await signIn(phoneIn(bad)), 'the code whose count decides');
    const [block] = await decisions(bad);
    assert.equal(block!.action, 'block');
    assert.equal(block!.reason, 'low_conversion');
    assert.equal(block!.level, 'prefix');
    assert.equal(block!.in_force, true);
    assert.deepEqual({ settled: block!.evidence.settled, confirmed: block!.evidence.confirmed }, { settled: 20, confirmed: 0 });
    assert.equal(new Date(block!.until!).getTime(), t + 30 * MINUTE);
    await refusedFor(await signIn(phoneIn(bad)), 'range_blocked');
    await codesTo(good, 30);
    assert.deepEqual(await decisions(good), []);
    assert.deepEqual(await decisions('7'), [], 'the country converts');
    const after = await refusals();
    assert.equal(after.range_blocked! - (before.range_blocked ?? 0), 1);
  });

  test('after the cool-down a probation: throttled, judged on its new codes, blocked again for twice as long', async () => {
    const bad = '79996666';
    await codesTo(bad, 20);
    await advance(2 * MINUTE + 1000);
    queued(await signIn(phoneIn(bad)));
    await advance(30 * MINUTE);
    // Probation: throttle_per_minute (2) codes a minute.
    await codesTo(bad, 2);
    await refusedFor(await signIn(phoneIn(bad)), 'range_throttled');
    await advance(MINUTE);
    await codesTo(bad, 2);
    await advance(MINUTE);
    await codesTo(bad, 2);
    await advance(2 * MINUTE + 1000);
    queued(await signIn(phoneIn(bad)), 'probation_codes settled: this count decides');
    const all = await decisions(bad);
    assert.deepEqual(all.map((d) => d.action), ['block', 'block']);
    assert.equal(all[1]!.evidence.probation, true);
    assert.equal(new Date(all[1]!.until!).getTime(), t + 60 * MINUTE, 'twice the cool-down');
    await refusedFor(await signIn(phoneIn(bad)), 'range_blocked');
  });

  test('a range on probation whose codes are confirmed is released', async () => {
    const range = '79997777';
    await codesTo(range, 20);
    await advance(2 * MINUTE + 1000);
    queued(await signIn(phoneIn(range)));
    await advance(30 * MINUTE);
    for (let i = 0; i < 3; i++) {
      for (const phone of await codesTo(range, 2)) await confirm(phone);
      await advance(MINUTE);
    }
    await advance(MINUTE + 1000);
    queued(await signIn(phoneIn(range)));
    assert.deepEqual((await decisions(range)).map((d) => [d.action, d.reason]), [['block', 'low_conversion'], ['release', 'converting']]);
    await codesTo(range, 5); // open again
  });

  test('a volume spike throttles a range with no record; one that converts is never throttled for volume', async () => {
    await pumpingSettings(db.pool, { spike_min_codes: 20 });
    const proven = '79990099';
    for (const phone of await codesTo(proven, 3)) await confirm(phone);
    await advance(10 * MINUTE);

    const spiking = '79998888';
    await codesTo(spiking, 20);
    const [d] = await decisions(spiking);
    assert.deepEqual([d!.action, d!.reason, d!.evidence.spike_codes, d!.evidence.baseline_codes], ['throttle', 'volume_spike', 20, 0]);
    await refusedFor(await signIn(phoneIn(spiking)), 'range_throttled');
    await advance(MINUTE);
    await codesTo(spiking, 2);
    await refusedFor(await signIn(phoneIn(spiking)), 'range_throttled');
    assert.deepEqual(await decisions('7'), [], 'the country spiked too, but its codes convert');

    await codesTo(proven, 40);
    assert.deepEqual(await decisions(proven), [], 'its own spike, and its country\'s throttle, spare a converting range');
  });

  test('a country whose codes nobody confirms (country_min_codes of them) is blocked, except for its prefixes that convert on their own', async () => {
    const goodPrefix = '37120001';
    const goodPhone = phoneIn(goodPrefix);
    queued(await signIn(goodPhone));
    await confirm(goodPhone);
    for (let i = 0; i < 50; i++) queued(await signIn(phoneIn(`3712${String(1000 + i)}`)));
    await advance(2 * MINUTE + 1000);
    queued(await signIn(phoneIn('37129999')));
    const [d] = await decisions('371');
    assert.deepEqual([d!.level, d!.action, d!.reason], ['country', 'block', 'low_conversion']);
    await refusedFor(await signIn(phoneIn('37128888')), 'range_blocked');
    queued(await signIn(phoneIn(goodPrefix)), 'a prefix with its own confirmations');
  });

  test('concurrent codes to one range take one decision', async () => {
    const range = '79990123';
    await codesTo(range, 20);
    await advance(2 * MINUTE + 1000);
    const clients = await Promise.all(Array.from({ length: 8 }, () => connectAsAuth(db.adminUrl)));
    try {
      const phones = Array.from({ length: 8 }, () => phoneIn(range));
      for (const phone of phones) await admin.query(`insert into auth.users (id, phone) values ($1, $2) on conflict (phone) do nothing`, [randomUUID(), phone]);
      await Promise.all(clients.map((c, i) => callSendSmsHook(c, sendSmsEvent({ phone: phones[i], otp: randomOtp() }))));
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    assert.equal((await decisions(range)).length, 1);
  });

  test('counting never waits for another request: a code and a confirmation to a country while a code to it is not committed', async () => {
    // Numbers of one country with the same last digit: one row each of a bucket split by it (0029).
    const [earlier, held, next] = ['79994444441', '79995555551', '79996666661'];
    queued(await signIn(earlier));
    for (const phone of [held, next]) await admin.query(`insert into auth.users (id, phone) values ($1, $2) on conflict (phone) do nothing`, [randomUUID(), phone]);
    const holding = await connectAsAuth(db.adminUrl);
    const other = await connectAsAuth(db.adminUrl);
    const app = await db.pool.connect();
    try {
      // A request that counted its code (the country's bucket of this minute) and has not committed.
      await holding.query('begin');
      const r = await holding.query<{ answer: unknown }>('select "public"."sms_auth_send_sms_hook"($1) as answer', [JSON.stringify(sendSmsEvent({ phone: held, otp: randomOtp() }))]);
      assert.deepEqual(r.rows[0]!.answer, {});
      // Waiting for it would answer 429 busy after the hook's lock_timeout, and fail the confirmation.
      queued(await callSendSmsHook(other, sendSmsEvent({ phone: next, otp: randomOtp() })), 'a code to the same country');
      await app.query(`set lock_timeout = '1s'`);
      assert.equal((await app.query<{ ok: boolean }>('select sms_verification_confirmed($1) as ok', [earlier])).rows[0]!.ok, true);
      await holding.query('commit');
    } finally {
      app.release();
      await other.end();
      await holding.end();
    }
    const bucket = await db.pool.query<{ sent: number; confirmed: number }>(
      `select sum(sent)::int as sent, sum(confirmed)::int as confirmed from sms_private.pumping_bucket where range = '7'`);
    assert.deepEqual(bucket.rows[0], { sent: 3, confirmed: 1 });
  });
});

describe('the owner\'s pins', () => {
  test('closed refuses a converting range; open lets a blocked one through; lifting it judges afresh; each is a decision', async () => {
    const range = '79991234';
    const phone = phoneIn(range);
    queued(await signIn(phone));
    await confirm(phone);
    await db.pool.query(`select sms_pumping_pin('+7 999 1234', 'closed', 'never served')`);
    await refusedFor(await signIn(phoneIn(range)), 'range_blocked');
    await db.pool.query(`select sms_pumping_pin('79991234', 'open')`);
    await db.pool.query(`select sms_pumping_pin('7', 'closed')`);
    queued(await signIn(phoneIn(range)), 'the prefix pinned open, its country closed');
    await refusedFor(await signIn(phoneIn('79990404')), 'range_blocked');
    await db.pool.query(`select sms_pumping_pin('7', null)`);
    await db.pool.query(`select sms_pumping_pin('79991234', null)`);
    queued(await signIn(phoneIn('79990404')));
    const all = await decisions();
    assert.deepEqual(all.map((d) => [d.range, d.level, d.action, d.reason, d.in_force]), [
      ['79991234', 'prefix', 'pin_closed', 'owner', false],
      ['79991234', 'prefix', 'pin_open', 'owner', false],
      ['7', 'country', 'pin_closed', 'owner', false],
      ['7', 'country', 'unpin', 'owner', false],
      ['79991234', 'prefix', 'unpin', 'owner', false],
    ]);
    assert.equal(all[0]!.evidence.note, 'never served');
    await assert.rejects(db.pool.query(`select sms_pumping_pin('x7', 'open')`), (e: { code?: string }) => e.code === '22023');
    await assert.rejects(db.pool.query(`select sms_pumping_pin('7', 'half')`), (e: { code?: string }) => e.code === '22023');
    await assert.rejects(db.pool.query(`select sms_pumping_pin('7999123', 'open')`), /prefix_length \(8\) digits/, 'a prefix that matches no number');
    await assert.rejects(db.pool.query(`select sms_pumping_pin('79', 'open')`), /not a country calling code/);
    await db.pool.query(`select sms_pumping_pin('371', null)`);
  });

  test('enabled = false: nothing counted, nothing refused', async () => {
    await db.pool.query(`select sms_pumping_pin('79990505', 'closed')`);
    await pumpingSettings(db.pool, { enabled: false });
    const phone = phoneIn('79990505');
    queued(await signIn(phone));
    const r = await db.pool.query(`select pumping_range from sms_auth_code where phone = $1`, [phone]);
    assert.deepEqual(r.rows, [{ pumping_range: null }]);
  });
});
