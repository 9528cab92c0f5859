/**
 * What a Supabase client gets through the REST API (PostgREST), replayed exactly: one
 * transaction per request, logged in as `authenticator`, `set_config('role', <JWT role>, true)`
 * (SET LOCAL ROLE), `request.jwt.claims` set with set_config, named arguments taken from the
 * JSON body with json_to_record, and the SQLSTATE -> HTTP status mapping of PostgREST's
 * src/PostgREST/Error.hs (documented at https://docs.postgrest.org/en/latest/references/errors.html;
 * see ./support.ts for the table and the exact SQL).
 *
 * For anon, authenticated and service_role, with valid and invalid input:
 *   service_role   sends (200), and gets 400/409 with the SQLSTATE for bad input;
 *   authenticated  403 (42501) for every sms_ function and table;
 *   anon           401 (42501) for every sms_ function and table;
 * and a table granted to anon/authenticated by mistake still shows them no row (RLS).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate } from '../../src/db/migrate.js';
import { holdMessages } from '../support/rows.js';
import {
  createSupabaseDatabase,
  isError,
  Postgrest,
  userClaims,
  type ApiRole,
  type PostgrestError,
  type PostgrestResponse,
  type SupabaseDatabase,
} from './support.js';

let db: SupabaseDatabase;
let api: Postgrest;

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
});
after(async () => {
  await api?.end();
  await db?.drop();
});

const as = (role: ApiRole) => ({ role });

function expectError(res: PostgrestResponse<unknown>, status: number, code: string, message?: RegExp): PostgrestError {
  assert.ok(isError(res.body), `expected an error, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.status, status, `HTTP status for ${res.body.code}: ${res.body.message}`);
  assert.equal(res.body.code, code, res.body.message);
  if (message) assert.match(res.body.message, message);
  return res.body;
}

async function count(): Promise<number> {
  return Number((await db.pool.query<{ n: string }>('select count(*) as n from sms_outbox')).rows[0]!.n);
}

describe('service_role (the secret key an Edge Function uses)', () => {
  test('POST /rpc/sms_send {recipient, body}: 200 with the new id', async () => {
    const res = await api.rpc<string>('sms_send', { recipient: '+7 (999) 123-45-67', body: 'Код: 4821' }, as('service_role'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.body as string, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    const row = await db.pool.query('select recipient, body, sender, encoding, status from sms_outbox where id = $1', [res.body]);
    assert.deepEqual(row.rows[0], { recipient: '79991234567', body: 'Код: 4821', sender: 'TestBrand', encoding: 'ucs2', status: 'queued' });
  });

  test('every named argument, as JSON types (timestamps as ISO strings, metadata as an object)', async () => {
    const sendAt = new Date(Date.now() + 60_000);
    const res = await api.rpc<string>(
      'sms_send',
      {
        recipient: '+79991234567',
        body: 'Your order has shipped',
        sender: 'MyShop',
        send_at: sendAt.toISOString(),
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        priority: 5,
        idempotency_key: 'order-shipped:42',
        metadata: { order_id: 42 },
      },
      as('service_role'),
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const row = (await db.pool.query('select sender, priority, send_at, metadata, idempotency_key from sms_outbox where id = $1', [res.body])).rows[0];
    assert.deepEqual(row, { sender: 'MyShop', priority: 5, send_at: sendAt, metadata: { order_id: 42 }, idempotency_key: 'order-shipped:42' });
    const again = await api.rpc<string>(
      'sms_send',
      { recipient: '+79991234567', body: 'Your order has shipped', idempotency_key: 'order-shipped:42' },
      as('service_role'),
    );
    assert.deepEqual(again, { status: 200, body: res.body }, 'a retried request returns the same id');
  });

  test('sms_status, sms_cancel and sms_segments', async () => {
    const id = (await api.rpc<string>('sms_send', { recipient: '+79991234567', body: 'to cancel' }, as('service_role'))).body as string;
    const status = await api.rpc<Record<string, unknown>[]>('sms_status', { id }, as('service_role'));
    assert.equal(status.status, 200);
    assert.equal((status.body as Record<string, unknown>[])[0]!.status, 'queued');
    assert.deepEqual(await api.rpc('sms_cancel', { id }, as('service_role')), { status: 200, body: true });
    assert.deepEqual(await api.rpc('sms_cancel', { id }, as('service_role')), { status: 200, body: false });
    assert.deepEqual(await api.rpc('sms_segments', { body: 'Привет' }, as('service_role')), {
      status: 200,
      body: { encoding: 'ucs2', units: 6, segments: 1 },
    });
    assert.deepEqual(await api.rpc('sms_status', { id: '00000000-0000-7000-8000-000000000000' }, as('service_role')), { status: 200, body: [] });
  });

  const invalid: [string, Record<string, unknown> | string, number, string, RegExp][] = [
    ['a recipient with letters', { recipient: 'call me', body: 'x' }, 400, '22023', /recipient/],
    ['a national number', { recipient: '8 999 123-45-67', body: 'x' }, 400, '22023', /recipient/],
    ['a null recipient', { recipient: null, body: 'x' }, 400, '22004', /recipient must not be null/],
    ['an empty body', { recipient: '+79991234567', body: '' }, 400, '22023', /body must not be empty/],
    ['a body over 10 segments', { recipient: '+79991234567', body: 'a'.repeat(1531) }, 400, '22001', /body needs 11 segments/],
    ['a control character', { recipient: '+79991234567', body: 'a\u0007b' }, 400, '22021', /control character/],
    ['a sender with Cyrillic', { recipient: '+79991234567', body: 'x', sender: 'Магазин' }, 400, '22021', /sender/],
    ['a priority out of range', { recipient: '+79991234567', body: 'x', priority: 99 }, 400, '22003', /priority/],
    ['a priority that is not a number', { recipient: '+79991234567', body: 'x', priority: 'high' }, 400, '22P02', /integer/],
    ['a send_at that is not a time', { recipient: '+79991234567', body: 'x', send_at: 'tomorrow-ish' }, 400, '22007', /timestamp/],
    ['an expires_at in the past', { recipient: '+79991234567', body: 'x', expires_at: '2001-01-01T00:00:00Z' }, 400, '22023', /expires_at/],
    ['metadata that is not an object', { recipient: '+79991234567', body: 'x', metadata: [1, 2] }, 400, '22023', /metadata must be a JSON object/],
    ['an idempotency key reused for another body', { recipient: '+79991234567', body: 'different', idempotency_key: 'order-shipped:42' }, 409, '23505', /idempotency_key/],
  ];
  for (const [what, body, status, code, message] of invalid) {
    test(`${what}: ${status} ${code}, nothing inserted`, async () => {
      const before = await count();
      expectError(await api.rpc('sms_send', body, as('service_role')), status, code, message);
      assert.equal(await count(), before);
    });
  }

  test('a missing required argument or an unknown one: 404 PGRST202 (no such function in the schema cache)', async () => {
    expectError(await api.rpc('sms_send', { recipient: '+79991234567' }, as('service_role')), 404, 'PGRST202', /sms_send\(recipient\)/);
    expectError(await api.rpc('sms_send', { recipient: '+79991234567', body: 'x', to: 'y' }, as('service_role')), 404, 'PGRST202');
  });

  test('a body that is not JSON: 400 PGRST102', async () => {
    expectError(await api.rpc('sms_send', '{"recipient": "+7999', as('service_role')), 400, 'PGRST102');
  });

  test('cannot call the internals, the opt-in switch or sms_send_to_self: 403', async () => {
    // The internals are not in the API's schema at all (sms_private).
    expectError(await api.rpc('sms_check_recipient', { recipient: '+79991234567' }, as('service_role')), 404, 'PGRST202');
    expectError(await api.rpc('sms_allow_authenticated_send', { enabled: true }, as('service_role')), 403, '42501');
    expectError(await api.rpc('sms_grant_supabase_roles', {}, as('service_role')), 403, '42501');
    expectError(await api.rpc('sms_strip_inherited_grants', {}, as('service_role')), 403, '42501');
    expectError(await api.rpc('sms_send_to_self', { body: 'x' }, as('service_role')), 403, '42501');
  });

  test('POST /sms_outbox {recipient, body} with select=id: 201 with the new id, the row sms_send would store', async () => {
    const res = await api.insertRows('sms_outbox', { recipient: '+7 (999) 123-45-67', body: 'Код: 4821' }, as('service_role'), ['id']);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id = (res.body as { id: string }[])[0]!.id;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    const row = await db.pool.query('select owner, recipient, body, sender, encoding, segments, status from sms_outbox where id = $1', [id]);
    assert.deepEqual(row.rows[0], { owner: 'service_role', recipient: '79991234567', body: 'Код: 4821', sender: 'TestBrand', encoding: 'ucs2', segments: 1, status: 'queued' });
    const minimal = await api.insertRows('sms_outbox', { recipient: '+79991234567', body: 'no representation' }, as('service_role'));
    assert.deepEqual(minimal, { status: 201, body: null }, 'return=minimal');
  });

  test('POST /sms_outbox with an array (a bulk insert) and every column an app may set', async () => {
    const rows = [
      { recipient: '+79991234561', body: 'one', sender: 'MyShop', priority: 5, idempotency_key: 'bulk:1', metadata: { n: 1 }, category: 'marketing' },
      { recipient: '+79991234562', body: 'two', sender: 'MyShop', priority: 5, idempotency_key: 'bulk:2', metadata: { n: 2 }, category: 'marketing' },
      {
        recipient: '+79991234563', body: 'three', sender: 'MyShop', priority: 5, idempotency_key: 'bulk:3', metadata: { n: 3 }, category: 'marketing',
        send_at: new Date(Date.now() + 60_000).toISOString(), expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      },
    ];
    const res = await api.insertRows('sms_outbox', rows, as('service_role'), ['id']);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const ids = (res.body as { id: string }[]).map((r) => r.id);
    const stored = await db.pool.query('select recipient, status, priority, category, metadata from sms_outbox where id = any($1) order by recipient', [ids]);
    assert.deepEqual(stored.rows, [1, 2, 3].map((n) => ({ recipient: `7999123456${n}`, status: 'queued', priority: 5, category: 'marketing', metadata: { n } })));
    // Only the id may be read back (RETURNING another column is 403, as a GET is).
    expectError(await api.insertRows('sms_outbox', { recipient: '+79991234567', body: 'x' }, as('service_role'), ['id', 'status']), 403, '42501');
    // The same request again (a client retrying after a lost answer): every row is a repeat.
    const again = await api.insertRows('sms_outbox', rows, as('service_role'), ['id']);
    assert.deepEqual(again, { status: 201, body: [] }, 'nothing inserted twice');
  });

  for (const [what, body, status, code, message] of invalid) {
    test(`POST /sms_outbox, ${what}: ${status} ${code} as from /rpc/sms_send, nothing inserted`, async () => {
      if (typeof body === 'string') return;
      const before = await count();
      const viaInsert = expectError(await api.insertRows('sms_outbox', body, as('service_role'), ['id']), status, code);
      const viaRpc = expectError(await api.rpc('sms_send', body, as('service_role')), status, code, message);
      // The same message, but for the times of now() in it, and the type a JSON value is read as
      // (the column priority is a smallint, sms_send's argument an integer).
      const normal = (m: string) => m.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+\d\d/g, '<time>').replace('smallint', 'integer');
      assert.equal(normal(viaInsert.message), normal(viaRpc.message));
      assert.equal(await count(), before);
    });
  }

  test('POST /sms_outbox setting a column sms-outbox sets: 400 428C9 naming it; owner: 403', async () => {
    expectError(await api.insertRows('sms_outbox', { recipient: '+79991234567', body: 'x', status: 'delivered' }, as('service_role'), ['id']), 400, '428C9', /status/);
    expectError(await api.insertRows('sms_outbox', { recipient: '+79991234567', body: 'x', body_length: 1 }, as('service_role')), 400, '428C9', /body_length/);
    expectError(await api.insertRows('sms_outbox', { recipient: '+79991234567', body: 'x', owner: 'authenticated:1' }, as('service_role')), 403, '42501');
  });

  test('has no table privilege: GET /sms_outbox is 403 even though service_role bypasses RLS', async () => {
    for (const table of ['sms_outbox', 'sms_inbox', 'sms_settings', 'sms_stats', 'sms_self_send_log']) {
      expectError(await api.select(table, as('service_role')), 403, '42501', new RegExp(`permission denied for (table|view) ${table}`));
    }
  });
});

for (const [role, status] of [
  ['authenticated', 403],
  ['anon', 401],
] as const) {
  describe(`${role} (${role === 'anon' ? 'the browser key, no user' : "a signed-in user's JWT"}): ${status} for everything`, () => {
    const auth = role === 'authenticated' ? { role, claims: userClaims('11111111-1111-4111-8111-111111111111', { phone: '79991234567' }) } : { role };

    test(`POST /rpc/sms_send with a valid message: ${status} 42501, nothing inserted`, async () => {
      const before = await count();
      expectError(await api.rpc('sms_send', { recipient: '+79991234567', body: 'pump' }, auth), status, '42501', /permission denied for function sms_send/);
      assert.equal(await count(), before);
    });

    test(`POST /rpc/sms_send with invalid input: ${status} 42501 too (privileges come first; nothing about the rules leaks)`, async () => {
      expectError(await api.rpc('sms_send', { recipient: 'x', body: '' }, auth), status, '42501');
      expectError(await api.rpc('sms_send', { recipient: '+79991234567', body: 'x', priority: 99 }, auth), status, '42501');
    });

    test(`sms_status, sms_cancel, sms_segments and sms_send_to_self (opt-in off): ${status}`, async () => {
      const id = '00000000-0000-7000-8000-000000000000';
      expectError(await api.rpc('sms_status', { id }, auth), status, '42501');
      expectError(await api.rpc('sms_cancel', { id }, auth), status, '42501');
      expectError(await api.rpc('sms_segments', { body: 'x' }, auth), status, '42501');
      expectError(await api.rpc('sms_send_to_self', { body: 'x' }, auth), status, '42501');
    });

    test(`GET any sms_ table or view, POST a row: ${status}`, async () => {
      for (const table of ['sms_outbox', 'sms_inbox', 'sms_receipt', 'sms_settings', 'sms_stats', 'sms_wakeup', 'sms_self_send_log', 'sms_schema_migrations']) {
        expectError(await api.select(table, auth), status, '42501');
      }
      expectError(
        await api.insert('sms_outbox', { recipient: '79991234567', sender: 'X', body: 'forged', encoding: 'gsm7', segments: 1, send_at: 'now', expires_at: 'infinity', next_attempt_at: 'now' }, auth),
        status,
        '42501',
      );
      expectError(await api.insert('sms_settings', { max_segments: 255 }, auth), status, '42501');
    });
  });
}

test('a table granted to anon and authenticated by mistake still shows them no row (RLS, no policy for them)', async () => {
  await api.rpc('sms_send', { recipient: '+79991234567', body: 'secret code 1234' }, as('service_role'));
  await db.pool.query('grant select on sms_outbox, sms_inbox to anon, authenticated');
  try {
    for (const role of ['anon', 'authenticated'] as const) {
      assert.deepEqual(await api.select('sms_outbox', as(role)), { status: 200, body: [] }, role);
    }
    await db.pool.query('grant select on sms_outbox to service_role');
    const all = await api.select('sms_outbox', as('service_role'));
    assert.ok(Array.isArray(all.body) && all.body.length > 0, 'service_role (BYPASSRLS) sees rows once granted');
  } finally {
    await db.pool.query('revoke select on sms_outbox, sms_inbox from anon, authenticated, service_role');
  }
});

describe('service_role reading the tables (sms_allow_service_role_read)', () => {
  test('off by default; on, GET /sms_outbox, /sms_inbox, /sms_stats and /sms_sending answer, and the grant outlives later migrations; off again, 403', async () => {
    const id = (await api.rpc<string>('sms_send', { recipient: '+79991234567', body: 'readable' }, as('service_role'))).body as string;
    assert.equal((await api.select('sms_outbox', as('service_role'))).status, 403, 'no table read by default');
    assert.equal((await api.select('sms_sending', as('service_role'))).status, 403);

    assert.equal((await db.pool.query('select sms_allow_service_role_read(true) as on')).rows[0].on, true);
    const rows = await api.select<{ id: string; body: string }>('sms_outbox', as('service_role'));
    assert.equal(rows.status, 200, JSON.stringify(rows.body));
    assert.ok((rows.body as { id: string }[]).some((r) => r.id === id));
    assert.equal((await api.select('sms_inbox', as('service_role'))).status, 200);
    assert.equal((await api.select('sms_stats', as('service_role'))).status, 200);
    // A message a worker holds: its sms_outbox row still says queued; sms_sending lists it.
    await holdMessages(db.pool, [id], { workerId: 'postgrest-test' });
    const sending = await api.select<{ id: string; worker_id: string; attempt: number }>('sms_sending', as('service_role'));
    assert.equal(sending.status, 200, JSON.stringify(sending.body));
    assert.deepEqual(
      (sending.body as { id: string; worker_id: string; attempt: number }[]).map((r) => [r.id, r.worker_id, r.attempt]),
      [[id, 'postgrest-test', 1]],
    );
    await db.pool.query('delete from sms_private.outbox_lease where outbox_id = $1', [id]);
    assert.equal((await api.select('sms_outbox', as('anon'))).status, 401, 'anon still reads nothing');
    assert.equal((await api.select('sms_outbox', as('authenticated'))).status, 403, 'nor does a signed-in user');

    // What a later migration does to every sms_ object: strip, then put the meant grants back.
    await db.pool.query('select sms_strip_inherited_grants()');
    await migrate(db.ownerUrl);
    assert.equal((await api.select('sms_outbox', as('service_role'))).status, 200, 'kept across migrations');
    assert.equal((await api.select('sms_sending', as('service_role'))).status, 200, 'kept across migrations');

    assert.equal((await db.pool.query('select sms_allow_service_role_read(false) as on')).rows[0].on, false);
    assert.equal((await api.select('sms_outbox', as('service_role'))).status, 403);
    assert.equal((await api.select('sms_sending', as('service_role'))).status, 403);
  });

  test('only the owner of the sms_ objects may switch it', async () => {
    const res = await api.rpc('sms_allow_service_role_read', { enabled: true }, as('service_role'));
    expectError(res, 403, '42501');
  });
});

describe('catalog', () => {
  test('every sms_ table in public has row level security, and each has a policy only for our roles', async () => {
    const r = await db.pool.query<{ name: string; rls: boolean; roles: string[] }>(`
      select c.relname as name, c.relrowsecurity as rls,
             coalesce((select array_agg(distinct r.rolname::text order by r.rolname::text)
                         from pg_policy p, unnest(p.polroles) pr join pg_roles r on r.oid = pr
                        where p.polrelid = c.oid), '{}') as roles
        from pg_class c
       where c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%' and c.relkind in ('r', 'p')
       order by 1`);
    assert.ok(r.rows.length >= 11);
    for (const t of r.rows) {
      assert.equal(t.rls, true, `${t.name} has RLS enabled`);
      assert.ok(t.roles.length > 0, `${t.name} has a policy`);
      for (const role of t.roles) assert.ok(['sms_reader', 'sms_worker', 'sms_sender'].includes(role), `${t.name}: policy for ${role}`);
    }
  });

  test('anon and authenticated hold no privilege on any sms_ object; service_role exactly EXECUTE on the sender functions and the sign-in code status, SELECT on sms_auth_code', async () => {
    const r = await db.pool.query<{ role: string; object: string; privilege: string }>(`
      select r.rolname as role, p.oid::regprocedure::text as object, a.privilege_type as privilege
        from pg_proc p, aclexplode(p.proacl) a, pg_roles r
       where p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_%' and r.oid = a.grantee
         and r.rolname in ('anon', 'authenticated', 'service_role')
      union all
      select r.rolname, c.oid::regclass::text, a.privilege_type
        from pg_class c, aclexplode(c.relacl) a, pg_roles r
       where c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%' and r.oid = a.grantee
         and r.rolname in ('anon', 'authenticated', 'service_role')
       order by 1, 2`);
    assert.deepEqual(r.rows, [
      { role: 'service_role', object: 'sms_auth_code', privilege: 'SELECT' },
      { role: 'service_role', object: 'sms_auth_code_status(text,uuid)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_cancel(uuid)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_conversation(text)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_explain(uuid)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_handler_errors()', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_handler_replay(bigint)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_off_inbound(bigint)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_on_inbound(regprocedure,text[],text,text,text,jsonb)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_opt_out(text)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_retry(uuid)', privilege: 'EXECUTE' },
      { role: 'service_role', object: 'sms_segments(text)', privilege: 'EXECUTE' },
      {
        role: 'service_role',
        object: 'sms_send(text,text,text,timestamp with time zone,timestamp with time zone,integer,text,jsonb,text)',
        privilege: 'EXECUTE',
      },
      { role: 'service_role', object: 'sms_status(uuid)', privilege: 'EXECUTE' },
      // Server code that checks its own sign-in codes feeds the pumping defence; browsers may not.
      { role: 'service_role', object: 'sms_verification_confirmed(text)', privilege: 'EXECUTE' },
    ]);
  });

  test("column privileges: service_role and the sender role insert every sms_outbox column but owner and select its id; anon and authenticated none", async () => {
    const r = await db.pool.query<{ role: string; privilege: string; columns: string[] }>(`
      select r.rolname as role, a.privilege_type as privilege, array_agg(at.attname::text order by at.attnum) as columns
        from pg_attribute at, aclexplode(at.attacl) a, pg_roles r
       where at.attrelid = 'public.sms_outbox'::regclass and r.oid = a.grantee
         and r.rolname in ('anon', 'authenticated', 'service_role', 'sms_sender')
       group by 1, 2 order by 1, 2`);
    const all = (await db.pool.query<{ name: string }>(
      `select attname::text as name from pg_attribute where attrelid = 'public.sms_outbox'::regclass and attnum > 0 and not attisdropped order by attnum`,
    )).rows.map((c) => c.name);
    const insertable = all.filter((c) => c !== 'owner');
    assert.deepEqual(r.rows, [
      { role: 'service_role', privilege: 'INSERT', columns: insertable },
      { role: 'service_role', privilege: 'SELECT', columns: ['id'] },
      { role: 'sms_sender', privilege: 'INSERT', columns: insertable },
      { role: 'sms_sender', privilege: 'SELECT', columns: ['id'] },
    ]);
  });

  test('every view of the interface runs with the caller\'s rights on PostgreSQL 15+ (no "security definer view")', async () => {
    const v = await db.pool.query<{ view: string; opts: string[] | null; version: number }>(
      `select c.relname as view, c.reloptions as opts, current_setting('server_version_num')::int as version
         from pg_class c where c.relkind = 'v' and c.relnamespace = 'public'::regnamespace and c.relname like 'sms\\_%'
        order by 1`,
    );
    assert.deepEqual(v.rows.map((r) => r.view), ['sms_opt_out_stats', 'sms_pumping_decisions', 'sms_sending', 'sms_stats']);
    for (const r of v.rows) {
      assert.deepEqual(r.opts, r.version >= 150000 ? ['security_invoker=true'] : null, r.view);
    }
  });
});
