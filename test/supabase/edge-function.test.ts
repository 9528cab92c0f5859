/**
 * The send-sms Edge Function (supabase/functions/send-sms) end to end, except for Deno itself:
 * its handler, called with real Request objects, talks through the real supabase-js client to
 * an HTTP server that answers like Supabase's REST API, backed by the PostgREST replay of
 * ./support.ts (JWT checked, role and claims from it) over a Supabase-like database. index.ts,
 * the Deno entry point, is type-checked by `npm run typecheck` (supabase/functions/tsconfig.json).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { Database, Json } from '../../supabase/functions/_shared/database.types.js';
import { handle, type HandlerEnv, type RpcClient } from '../../supabase/functions/send-sms/handler.js';
import { addUser, createSupabaseDatabase, keyClaims, Postgrest, userClaims, type ApiRole, type SupabaseDatabase } from './support.js';

const JWT_SECRET = 'test-only-jwt-secret-at-least-32-characters';

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}
function signJwt(claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${b64url(createHmac('sha256', JWT_SECRET).update(`${head}.${body}`).digest())}`;
}
function verifyJwt(token: string): Record<string, unknown> | null {
  const [head, body, sig] = token.split('.');
  if (!head || !body || !sig) return null;
  if (b64url(createHmac('sha256', JWT_SECRET).update(`${head}.${body}`).digest()) !== sig) return null;
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
  return typeof claims.exp === 'number' && claims.exp * 1000 < Date.now() ? null : claims;
}

const anonKey = signJwt(keyClaims('anon'));
const serviceRoleKey = signJwt(keyClaims('service_role'));

let db: SupabaseDatabase;
let api: Postgrest;
let server: Server;
let url: string;

before(async () => {
  db = await createSupabaseDatabase();
  api = await Postgrest.connect(db.adminUrl);
  // Supabase's REST API: /rest/v1/rpc/<fn>; the JWT (apikey, or Authorization) decides the role.
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      void (async () => {
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(body));
        };
        const fn = /^\/rest\/v1\/rpc\/(\w+)$/.exec(req.url ?? '')?.[1];
        if (req.method !== 'POST' || !fn) return reply(404, { code: 'PGRST125', message: 'Invalid path specified in request URL', details: null, hint: null });
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? String(req.headers.apikey ?? '');
        const claims = verifyJwt(token);
        if (!claims) return reply(401, { code: 'PGRST301', message: 'JWT could not be verified', details: null, hint: null });
        const r = await api.rpc(fn, raw, { role: (claims.role as ApiRole) ?? 'anon', claims });
        reply(r.status, r.body);
      })().catch((err: Error) => {
        res.writeHead(500);
        res.end(String(err.message));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await api?.end();
  await db?.drop();
});

/** Realtime is never used; Node 20 has no WebSocket for supabase-js to find (Deno does). */
class NoRealtime {
  constructor() {
    throw new Error('send-sms does not use Realtime');
  }
}
const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: NoRealtime as never },
};

/** As in supabase/functions/send-sms/index.ts. */
function rpcClient(client: SupabaseClient<Database>): RpcClient {
  return {
    call: (c) =>
      c.fn === 'sms_send'
        ? client.rpc('sms_send', { ...c.args, metadata: c.args.metadata as Json | undefined })
        : client.rpc('sms_send_to_self', c.args),
  };
}

const env = (): HandlerEnv => ({
  serviceRoleKey,
  serviceClient: () => rpcClient(createClient<Database>(url, serviceRoleKey, options)),
  userClient: (authorization) => rpcClient(createClient<Database>(url, anonKey, { ...options, global: { headers: { Authorization: authorization } } })),
});

async function call(body: unknown, init: { token?: string | null; method?: string; contentType?: string } = {}) {
  const headers: Record<string, string> = { 'Content-Type': init.contentType ?? 'application/json' };
  if (init.token !== null) headers.Authorization = `Bearer ${init.token ?? serviceRoleKey}`;
  const request = new Request('http://edge.local/functions/v1/send-sms', {
    method: init.method ?? 'POST',
    headers,
    ...(init.method === 'GET' || init.method === 'OPTIONS' ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const response = await handle(request, env());
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, any>) : null };
}

describe('with the service role key (your server)', () => {
  test('queues a message: 202 {id}', async () => {
    const r = await call({ recipient: '+7 999 123-45-67', body: 'Код: 4821', idempotency_key: 'edge:1', metadata: { order: 7 } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const row = await db.pool.query('select recipient, body, metadata from sms_outbox where id = $1', [r.body!.id]);
    assert.deepEqual(row.rows[0], { recipient: '79991234567', body: 'Код: 4821', metadata: { order: 7 } });
    assert.equal(r.headers.get('Access-Control-Allow-Origin'), '*');
  });

  test("the database's verdict on bad input comes back with its status and SQLSTATE", async () => {
    const bad = await call({ recipient: '+0123456789', body: 'x' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body!.error.code, '22023');
    assert.match(bad.body!.error.message, /recipient/);
    const reused = await call({ recipient: '+79991234567', body: 'another text', idempotency_key: 'edge:1' });
    assert.equal(reused.status, 409);
    assert.equal(reused.body!.error.code, '23505');
    const priority = await call({ recipient: '+79991234567', body: 'x', priority: 11 });
    assert.deepEqual([priority.status, priority.body!.error.code], [400, '22003']);
  });

  test('checks the request before calling the database', async () => {
    const cases: [unknown, number, string, string | null][] = [
      [{ body: 'x' }, 400, 'missing_field', 'recipient'],
      [{ recipient: '+79991234567' }, 400, 'missing_field', 'body'],
      [{ recipient: '+79991234567', body: '' }, 400, 'invalid_field', 'body'],
      [{ recipient: '+79991234567', body: 'x'.repeat(1601) }, 400, 'invalid_field', 'body'],
      [{ recipient: 'call me', body: 'x' }, 400, 'invalid_field', 'recipient'],
      [{ recipient: 79991234567, body: 'x' }, 400, 'invalid_field', 'recipient'],
      [{ recipient: '+79991234567', body: 'x', send_at: 'soon' }, 400, 'invalid_field', 'send_at'],
      [{ recipient: '+79991234567', body: 'x', priority: 1.5 }, 400, 'invalid_field', 'priority'],
      [{ recipient: '+79991234567', body: 'x', metadata: [1] }, 400, 'invalid_field', 'metadata'],
      [{ recipient: '+79991234567', body: 'x', recipent: 'typo' }, 400, 'unknown_field', 'recipent'],
      [{ to: 'self', body: 'x' }, 400, 'invalid_field', 'to'],
      ['{"recipient": ', 400, 'invalid_json', null],
      ['[1, 2]', 400, 'invalid_json', null],
      [JSON.stringify({ recipient: '+79991234567', body: 'x', metadata: { pad: 'x'.repeat(17000) } }), 413, 'too_large', null],
    ];
    const before = Number((await db.pool.query('select count(*) from sms_outbox')).rows[0].count);
    for (const [body, status, code, field] of cases) {
      const r = await call(body);
      assert.deepEqual([r.status, r.body!.error.code, r.body!.error.details], [status, code, field], JSON.stringify(body).slice(0, 80));
    }
    assert.equal(Number((await db.pool.query('select count(*) from sms_outbox')).rows[0].count), before);
  });

  test('HTTP: no token 401, GET 405, OPTIONS 204 (CORS preflight), not JSON 415', async () => {
    const none = await call({ recipient: '+79991234567', body: 'x' }, { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('WWW-Authenticate'), 'Bearer');
    assert.equal((await call(null, { method: 'GET' })).status, 405);
    const preflight = await call(null, { method: 'OPTIONS' });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('Access-Control-Allow-Headers') ?? '', /authorization/);
    assert.equal((await call('recipient=1', { contentType: 'application/x-www-form-urlencoded' })).status, 415);
  });

  test('when service_role may not call sms_send (grants missing), 500 and says so, instead of blaming the caller', async () => {
    const fn = 'sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text)';
    await db.pool.query(`revoke execute on function ${fn} from service_role`);
    try {
      const r = await call({ recipient: '+79991234567', body: 'x' });
      assert.deepEqual([r.status, r.body!.error.code], [500, 'misconfigured']);
    } finally {
      await db.pool.query(`grant execute on function ${fn} to service_role`);
    }
  });
});

describe("with a signed-in user's token", () => {
  test('another recipient is refused without asking the database: 403', async () => {
    const user = await addUser(db, { phone: '79990000001' });
    const r = await call({ recipient: '+79991234567', body: 'pump' }, { token: signJwt(userClaims(user)) });
    assert.deepEqual([r.status, r.body!.error.code], [403, 'forbidden']);
  });

  test('to: self while the opt-in is off: the database says 403 (42501)', async () => {
    const user = await addUser(db, { phone: '79990000002' });
    const r = await call({ to: 'self', body: 'hi' }, { token: signJwt(userClaims(user)) });
    assert.deepEqual([r.status, r.body!.error.code], [403, '42501']);
  });

  test('to: self with the opt-in on: 202 to the own verified phone; past the limit 429 with Retry-After', async () => {
    await db.pool.query('select sms_allow_authenticated_send(true)');
    await db.pool.query(`update sms_self_send_settings set per_user_limit = 1, per_user_window = '10 minutes'`);
    try {
      const user = await addUser(db, { phone: '79990000003' });
      const token = signJwt(userClaims(user));
      const ok = await call({ to: 'self', body: 'Your booking: #1234' }, { token });
      assert.equal(ok.status, 202, JSON.stringify(ok.body));
      assert.equal((await db.pool.query('select recipient from sms_outbox where id = $1', [ok.body!.id])).rows[0].recipient, '79990000003');
      const limited = await call({ to: 'self', body: 'again' }, { token });
      assert.deepEqual([limited.status, limited.body!.error.code], [429, 'PT429']);
      const after = Number(limited.headers.get('Retry-After'));
      assert.ok(after > 500 && after <= 601, `Retry-After ${after} s is about ten minutes`);
      const unverified = await addUser(db, { phone: '79990000004', confirmed: false });
      const refused = await call({ to: 'self', body: 'x' }, { token: signJwt(userClaims(unverified)) });
      assert.deepEqual([refused.status, refused.body!.error.code], [403, '42501']);
      assert.match(refused.body!.error.message, /not verified/);
    } finally {
      await db.pool.query('select sms_allow_authenticated_send(false)');
    }
  });
});
