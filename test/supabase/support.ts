/**
 * A Supabase database, as far as sms-outbox can tell, and a PostgREST that talks to it.
 *
 * Roles: created the way Supabase's own init script creates them (supabase/postgres,
 * migrations/db/init-scripts/00000000000000-initial-schema.sql):
 *
 *   create role anon          nologin noinherit;
 *   create role authenticated nologin noinherit;
 *   create role service_role  nologin noinherit bypassrls;
 *   create user authenticator noinherit;            -- PostgREST logs in as this
 *   grant anon, authenticated, service_role to authenticator;
 *
 * and, as Supabase's auth migrations create the role Supabase Auth logs in as:
 *
 *   create user supabase_auth_admin noinherit createrole login noreplication;
 *   alter user supabase_auth_admin set search_path = "auth";
 *
 * Roles are cluster-global and test files run in parallel, so each is created only when missing
 * and losing the race to another file is ignored. They stay for the rest of the run (Supabase
 * always has them), so every other test file must pass with them present too.
 *
 * The tests never log in as those roles: on a shared server they may already exist as another
 * install left them (supabase_auth_admin NOLOGIN, authenticator with another password), and the
 * tests alter no role they did not create. Each SupabaseDatabase has two logins of its own,
 * dropped with it:
 *   - Auth's stand-in: LOGIN NOINHERIT, member of supabase_auth_admin, search_path "auth", whose
 *     connections start with role = supabase_auth_admin (a SET ROLE at connection start, so
 *     current_user, current_setting('role') and the messages' owner are supabase_auth_admin's;
 *     only session_user differs, which nothing of sms-outbox reads once a role is set);
 *   - PostgREST's authenticator stand-in: LOGIN NOINHERIT, member of anon, authenticated and
 *     service_role, switching per request as PostgREST's authenticator does.
 *
 * The database: an owner like Supabase's `postgres` (LOGIN CREATEROLE, not a superuser) with
 * CREATE on the database and on schema public, Supabase's default privileges (everything that
 * role creates in public is granted to anon, authenticated and service_role), and an auth.users
 * table with the columns sms_send_to_self reads. Migrated by that owner with src/db/migrate.ts.
 *
 * PostgREST: `Postgrest` replays what PostgREST 12 sends to the database for a request, taken
 * from its source (src/PostgREST/Query/PreQuery.hs txVarQuery, Query/QueryBuilder.hs
 * callPlanToQuery, Query/SqlFragment.hs fromJsonBodyF) and maps errors to HTTP statuses with
 * the table of src/PostgREST/Error.hs mapSQLtoHTTP, which its documentation repeats
 * (https://docs.postgrest.org/en/latest/references/errors.html, "HTTP Status Codes"):
 *
 *   23503, 23505 -> 409          42501 -> 403 if the request's role is not the anon role, else 401
 *   42883, 42P01 -> 404          P0001 -> 400        PTxyz -> xyz (e.g. PT429 -> 429)
 *   08* -> 503, 53* -> 503 (53400 -> 500), 0L*, 0P*, 28* -> 403, 25006 -> 405
 *   09*, 25*, 2D*, 38*, 39*, 3B*, 40*, 54*, 55*, 57*, 58*, F0*, HV*, P0* (other), XX* -> 500
 *   anything else (all of class 22 and the rest of class 23) -> 400
 *
 * and PostgREST's own errors used here: PGRST102 (invalid JSON body) 400, PGRST202 (no function
 * with these argument names in the schema cache) 404.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { migrate, type MigrateResult } from '../../src/db/migrate.js';
import { roleNames } from '../../src/db/roles.js';
import { connectAs, serverUrl, testPool, withDatabase } from '../support/db.js';

export const API_ROLES = ['anon', 'authenticated', 'service_role'] as const;
export type ApiRole = (typeof API_ROLES)[number];
/** The password of the test cluster's `authenticator` (a throw-away test cluster only). */
export const AUTHENTICATOR_PASSWORD = 'sms-outbox-test-authenticator';
/** The role Supabase Auth logs in as, and its password on the test cluster. */
export const AUTH_ADMIN = 'supabase_auth_admin';
export const AUTH_ADMIN_PASSWORD = 'sms-outbox-test-auth-admin';

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = serverUrl()): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Runs `sql`, ignoring "already exists" from a concurrent creator; retries a concurrent-update clash. */
async function tolerant(c: pg.Client, sql: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.query(sql);
      return;
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code === '42710' || e.code === '23505') return; // duplicate_object, unique_violation
      if (attempt < 10 && (e.code === 'XX000' || e.code === '40001') && /concurrently/.test(e.message)) {
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
        continue;
      }
      throw err;
    }
  }
}

/** Creates anon, authenticated, service_role and authenticator as Supabase does, where missing. */
export async function ensureSupabaseRoles(): Promise<void> {
  await admin(async (c) => {
    const have = new Set((await c.query<{ rolname: string }>(`select rolname from pg_roles`)).rows.map((r) => r.rolname));
    if (!have.has('anon')) await tolerant(c, 'create role anon nologin noinherit');
    if (!have.has('authenticated')) await tolerant(c, 'create role authenticated nologin noinherit');
    if (!have.has('service_role')) await tolerant(c, 'create role service_role nologin noinherit bypassrls');
    if (!have.has('authenticator')) await tolerant(c, `create role authenticator login noinherit password '${AUTHENTICATOR_PASSWORD}'`);
    if (!have.has(AUTH_ADMIN)) {
      await tolerant(
        c,
        `do $$ begin
           create role ${AUTH_ADMIN} noinherit createrole login noreplication password '${AUTH_ADMIN_PASSWORD}';
           alter role ${AUTH_ADMIN} set search_path = "auth";
         end $$`,
      );
    }
    const members = await c.query<{ role: string }>(
      `select r.rolname as role from pg_auth_members m join pg_roles r on r.oid = m.roleid
        where m.member = 'authenticator'::regrole`,
    );
    const granted = new Set(members.rows.map((r) => r.role));
    for (const role of API_ROLES) if (!granted.has(role)) await tolerant(c, `grant ${role} to authenticator`);
  });
}

/** The auth.users columns sms_send_to_self reads (a subset of Supabase Auth's table). */
const AUTH_SCHEMA = `
  create schema auth;
  create table auth.users (
    id                 uuid primary key,
    email              text,
    phone              text unique,
    phone_confirmed_at timestamptz,
    banned_until       timestamptz,
    deleted_at         timestamptz,
    is_anonymous       boolean not null default false
  );
  create function auth.uid() returns uuid language sql stable as $$
    select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
  $$;`;

/** The logins of one SupabaseDatabase standing in for supabase_auth_admin's and authenticator's. */
interface StandIns {
  auth: { user: string; password: string };
  authenticator: { user: string; password: string };
}
/** By database name: what connectAsAuth and Postgrest.connect log in as. */
const standIns = new Map<string, StandIns>();

function standInsOf(databaseUrl: string): StandIns {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  const s = standIns.get(name);
  if (!s) throw new Error(`${name} was not made by createSupabaseDatabase: no Supabase logins for it`);
  return s;
}

export interface SupabaseDatabase {
  name: string;
  /** Connection as a superuser (test set-up only; Supabase users have none). */
  adminUrl: string;
  /** Connection as the database owner, like Supabase's `postgres`. */
  ownerUrl: string;
  owner: string;
  pool: pg.Pool;
  migrateResult: MigrateResult;
  drop(): Promise<void>;
}

export interface SupabaseDatabaseOptions {
  /** Create auth.users (default true). */
  auth?: boolean;
  /** Run migrate() (default true). */
  migrated?: boolean;
  /** A default sender in sms_settings (default 'TestBrand'). */
  defaultSender?: string | null;
}

/**
 * A fresh database set up like a Supabase project and migrated by a non-superuser owner that has
 * only CREATE on the database and on schema public. `pool` connects as that owner.
 */
export async function createSupabaseDatabase(options: SupabaseDatabaseOptions = {}): Promise<SupabaseDatabase> {
  await ensureSupabaseRoles();
  const server = serverUrl();
  const name = `sms_t_supabase_${randomBytes(4).toString('hex')}`;
  const owner = `sms_t_owner_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const logins: StandIns = {
    auth: { user: `${owner}_auth`, password: randomBytes(12).toString('hex') },
    authenticator: { user: `${owner}_api`, password: randomBytes(12).toString('hex') },
  };
  await admin(async (c) => {
    await c.query(`create role ${owner} login createrole nosuperuser password '${password}'`);
    await c.query(`create role ${logins.auth.user} login noinherit password '${logins.auth.password}' in role ${AUTH_ADMIN}`);
    await c.query(`alter role ${logins.auth.user} set search_path = "auth"`);
    await c.query(`create role ${logins.authenticator.user} login noinherit password '${logins.authenticator.password}' in role ${API_ROLES.join(', ')}`);
    await c.query(`create database ${name}`);
    await c.query(`grant create, connect on database ${name} to ${owner}`);
  });
  standIns.set(name, logins);
  const adminUrl = withDatabase(server, name);
  await admin(async (c) => {
    // PostgreSQL 15 no longer lets PUBLIC create in schema public; Supabase's postgres may.
    await c.query(`grant usage, create on schema public to ${owner}`);
    await c.query(`grant usage on schema public to anon, authenticated, service_role`);
    for (const kind of ['tables', 'functions', 'sequences']) {
      await c.query(`alter default privileges for role ${owner} in schema public grant all on ${kind} to anon, authenticated, service_role`);
    }
    if (options.auth ?? true) {
      await c.query(AUTH_SCHEMA);
      // On Supabase, postgres holds every privilege on the auth tables: sms_send_to_self reads
      // auth.users as the owner, and the pumping defence's trigger on it counts confirmations.
      await c.query(`grant usage on schema auth to ${owner}; grant select, trigger on auth.users to ${owner}`);
    }
  }, adminUrl);
  const ownerUrlObj = new URL(adminUrl);
  ownerUrlObj.username = owner;
  ownerUrlObj.password = password;
  const ownerUrl = ownerUrlObj.toString();
  const migrateResult = options.migrated ?? true ? await migrate(ownerUrl) : { applied: [], alreadyApplied: 0, objects: [], roles: roleNames() };
  // testPool: drop() ends the database WITH (FORCE), and an idle connection told so must not crash the run.
  const pool = testPool({ connectionString: ownerUrl, max: 5 });
  if ((options.migrated ?? true) && options.defaultSender !== null) {
    await pool.query('update sms_settings set default_sender = $1', [options.defaultSender ?? 'TestBrand']);
  }
  let dropped = false;
  return {
    name,
    adminUrl,
    ownerUrl,
    owner,
    pool,
    migrateResult,
    async drop() {
      if (dropped) return;
      dropped = true;
      await pool.end().catch(() => {});
      standIns.delete(name);
      await admin(async (c) => {
        await c.query(`drop database if exists ${name} with (force)`);
        for (const role of [owner, logins.auth.user, logins.authenticator.user]) await c.query(`drop role if exists ${role}`);
      });
    },
  };
}

/** Adds a Supabase Auth user; returns its id. */
export async function addUser(
  db: SupabaseDatabase,
  user: { phone?: string | null; confirmed?: boolean; bannedUntil?: Date; deleted?: boolean; anonymous?: boolean } = {},
): Promise<string> {
  const id = randomUUID();
  await admin(
    (c) =>
      c.query(
        `insert into auth.users (id, phone, phone_confirmed_at, banned_until, deleted_at, is_anonymous)
         values ($1, $2, case when $3 then now() end, $4, case when $5 then now() end, $6)`,
        [id, user.phone ?? null, user.confirmed ?? true, user.bannedUntil ?? null, user.deleted ?? false, user.anonymous ?? false],
      ),
    db.adminUrl,
  );
  return id;
}

/** The claims Supabase Auth puts in a signed-in user's access token (guides/auth/jwt-fields). */
export function userClaims(sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'https://test.supabase.co/auth/v1',
    aud: 'authenticated',
    exp: now + 3600,
    iat: now,
    sub,
    role: 'authenticated',
    aal: 'aal1',
    session_id: randomUUID(),
    email: '',
    phone: '',
    is_anonymous: false,
    ...extra,
  };
}

/** The claims of Supabase's anon and service_role API keys. */
export function keyClaims(role: 'anon' | 'service_role'): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: 'supabase', ref: 'test', role, iat: now, exp: now + 3600 };
}

export interface PostgrestError {
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

export interface PostgrestResponse<T = unknown> {
  status: number;
  body: T;
}

/** src/PostgREST/Error.hs mapSQLtoHTTP. `authed`: the request's role is not the anon role. */
export function postgrestStatus(sqlstate: string, message: string, authed: boolean): number {
  const c = sqlstate;
  const p2 = c.slice(0, 2);
  if (p2 === '08') return 503;
  if (p2 === '09') return 500;
  if (p2 === '0L' || p2 === '0P') return 403;
  if (c === '23503' || c === '23505') return 409;
  if (c === '25006') return 405;
  if (c === '21000') return /requires a WHERE clause$/.test(message) ? 400 : 500;
  if (c === '22023') return /^role .*does not exist$/.test(message) ? 401 : 400;
  if (p2 === '25') return 500;
  if (p2 === '28') return 403;
  if (['2D', '38', '39', '3B', '40'].includes(p2)) return 500;
  if (c === '53400') return 500;
  if (p2 === '53') return 503;
  if (p2 === '54' || p2 === '55') return 500;
  if (c === '57P01') return 503;
  if (['57', '58', 'F0', 'HV'].includes(p2)) return 500;
  if (c === 'P0001') return 400;
  if (p2 === 'P0' || p2 === 'XX') return 500;
  if (c === '42883' || c === '42P01') return 404;
  if (c === '42P17') return 500;
  if (c === '42501') return authed ? 403 : 401;
  if (p2 === 'PT') {
    const n = Number(c.slice(2));
    return Number.isInteger(n) && n >= 100 && n <= 999 ? n : 500;
  }
  return 400;
}

interface RoutineParam {
  name: string;
  type: string;
  required: boolean;
}

interface Routine {
  params: RoutineParam[];
  /** Returns a base or domain type (PostgREST's "scalar"), not a row. */
  scalar: boolean;
  setof: boolean;
}

export interface RequestAuth {
  /** The role PostgREST switches to: the JWT's role claim (anon without a JWT). */
  role: ApiRole;
  /** The JWT's claims; default: those of the role's API key, or a user's for authenticated. */
  claims?: Record<string, unknown>;
}

/**
 * PostgREST in front of one database, connected as `authenticator` like the real one. Each
 * request is one transaction on one connection from its pool.
 */
export class Postgrest {
  private constructor(
    readonly pool: pg.Pool,
    private readonly schema = 'public',
  ) {}

  /** Logs in as the database's authenticator stand-in (createSupabaseDatabase). */
  static async connect(databaseUrl: string): Promise<Postgrest> {
    const { user, password } = standInsOf(databaseUrl).authenticator;
    const u = new URL(databaseUrl);
    u.username = user;
    u.password = password;
    const pool = testPool({ connectionString: u.toString(), max: 4, application_name: 'postgrest (test)' });
    pool.on('error', () => {}); // idle connections ended by a forced DROP DATABASE
    const who = await pool.query<{ session_user: string; rolsuper: boolean; rolinherit: boolean }>(
      `select session_user, r.rolsuper, r.rolinherit from pg_roles r where r.rolname = session_user`,
    );
    if (who.rows[0]?.session_user !== user || who.rows[0].rolsuper || who.rows[0].rolinherit) {
      throw new Error('the test PostgREST must log in as a NOINHERIT, non-superuser authenticator');
    }
    return new Postgrest(pool);
  }

  end(): Promise<void> {
    return this.pool.end();
  }

  /** The function PostgREST's schema cache finds for these argument names (PGRST202 if none). */
  private async findRoutine(client: pg.PoolClient, fn: string, keys: string[]): Promise<Routine | null> {
    const r = await client.query<{ names: string[] | null; modes: string[] | null; types: string[]; ndefaults: number; scalar: boolean; setof: boolean }>(
      `select p.proargnames as names, p.proargmodes::text[] as modes,
              array(select pg_catalog.format_type(t, null) from unnest(p.proargtypes) t) as types,
              p.pronargdefaults as ndefaults,
              t.typtype not in ('c', 'p') as scalar,
              p.proretset as setof
         from pg_proc p join pg_type t on t.oid = p.prorettype
        where p.pronamespace = $1::regnamespace and p.proname = $2`,
      [this.schema, fn],
    );
    for (const row of r.rows) {
      const inNames = (row.names ?? []).filter((_, i) => !row.modes || row.modes[i] === 'i' || row.modes[i] === 'b' || row.modes[i] === 'v');
      const params = inNames.map((name, i) => ({ name, type: row.types[i]!, required: i < inNames.length - row.ndefaults }));
      const names = new Set(params.map((p) => p.name));
      if (keys.every((k) => names.has(k)) && params.every((p) => !p.required || keys.includes(p.name))) {
        return { params, scalar: row.scalar, setof: row.setof };
      }
    }
    return null;
  }

  private static error(status: number, code: string, message: string, details: string | null = null, hint: string | null = null): PostgrestResponse<PostgrestError> {
    return { status, body: { code, message, details, hint } };
  }

  private claimsFor(auth: RequestAuth): Record<string, unknown> {
    // PostgREST inserts the role it switched to into the claims (PreQuery.hs claimsSql).
    const claims = auth.claims ?? (auth.role === 'authenticated' ? userClaims(randomUUID()) : keyClaims(auth.role));
    return { ...claims, role: auth.role };
  }

  /** Runs `fn` in a request transaction with the request's settings, as PostgREST does. */
  private async request<T>(
    auth: RequestAuth,
    method: string,
    path: string,
    readOnly: boolean,
    fn: (client: pg.PoolClient) => Promise<PostgrestResponse<T>>,
  ): Promise<PostgrestResponse<T | PostgrestError>> {
    const client = await this.pool.connect();
    try {
      await client.query(`begin isolation level read committed ${readOnly ? 'read only' : 'read write'}`);
      try {
        await client.query(
          `select set_config('search_path', $1, true), set_config('role', $2, true),
                  set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
                  set_config('request.path', $5, true), set_config('request.headers', $6, true),
                  set_config('request.cookies', $7, true)`,
          ['"public", "extensions"', auth.role, JSON.stringify(this.claimsFor(auth)), method, path,
           JSON.stringify({ 'content-type': 'application/json', prefer: 'return=representation' }), '{}'],
        );
        const response = await fn(client);
        await client.query('commit');
        return response;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        const e = err as { code?: string; message: string; detail?: string; hint?: string };
        if (!e.code) throw err;
        return Postgrest.error(postgrestStatus(e.code, e.message, auth.role !== 'anon'), e.code, e.message, e.detail ?? null, e.hint ?? null);
      }
    } finally {
      client.release();
    }
  }

  /**
   * POST /rpc/<fn> with a JSON body: named arguments from the body's keys, one transaction. The
   * body is sent as raw text, so invalid JSON can be tested too.
   */
  async rpc<T = unknown>(fn: string, body: string | Record<string, unknown>, auth: RequestAuth): Promise<PostgrestResponse<T | PostgrestError>> {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return Postgrest.error(400, 'PGRST102', 'Empty or invalid json');
    }
    const keys = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.keys(parsed) : [];
    const client = await this.pool.connect();
    let routine: Routine | null;
    try {
      routine = await this.findRoutine(client, fn, keys);
    } finally {
      client.release();
    }
    if (!routine) {
      return Postgrest.error(
        404,
        'PGRST202',
        `Could not find the function ${this.schema}.${fn}(${keys.join(', ')}) in the schema cache`,
        `Searched for the function ${this.schema}.${fn} with parameters ${keys.join(', ')} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.`,
      );
    }
    const args = routine.params.filter((p) => keys.includes(p.name));
    const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;
    const call = `${ident(this.schema)}.${ident(fn)}(${args.map((p) => `${ident(p.name)} := pgrst_body.${ident(p.name)}`).join(', ')})`;
    const bodyFrom =
      args.length === 0
        ? ''
        : `FROM (SELECT $1::json AS json_data) pgrst_payload, ` +
          `LATERAL (SELECT ${args.map((p) => ident(p.name)).join(', ')} FROM json_to_record(pgrst_payload.json_data) AS _(${args
            .map((p) => `${ident(p.name)} ${p.type}`)
            .join(', ')}) LIMIT 1) pgrst_body, LATERAL `;
    const source = routine.scalar
      ? `SELECT pgrst_call.pgrst_scalar ${bodyFrom || 'FROM '}(SELECT ${call} pgrst_scalar) pgrst_call`
      : `SELECT pgrst_call.* ${bodyFrom || 'FROM '}${call} pgrst_call`;
    const single = !routine.setof;
    const agg = routine.scalar
      ? single
        ? `coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null')`
        : `coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text`
      : single
        ? `coalesce((json_agg(_postgrest_t)->0)::text, 'null')`
        : `coalesce(json_agg(_postgrest_t), '[]')::text`;
    const sql =
      `WITH pgrst_source AS (${source}) ` +
      `SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ${agg} AS body, ` +
      `nullif(current_setting('response.headers', true), '') AS response_headers, ` +
      `nullif(current_setting('response.status', true), '') AS response_status ` +
      `FROM (SELECT "pgrst_source".* FROM "pgrst_source") _postgrest_t`;
    return this.request<T>(auth, 'POST', `/rpc/${fn}`, false, async (c) => {
      const r = await c.query<{ body: string; response_status: string | null }>(sql, args.length ? [raw] : []);
      const row = r.rows[0]!;
      return { status: row.response_status ? Number(row.response_status) : 200, body: JSON.parse(row.body) as T };
    });
  }

  /** GET /<table>: every row and column the role may see. */
  async select<T = unknown>(table: string, auth: RequestAuth): Promise<PostgrestResponse<T[] | PostgrestError>> {
    const qi = `"${this.schema}"."${table}"`;
    const sql =
      `WITH pgrst_source AS (SELECT ${qi}.* FROM ${qi}) ` +
      `SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ` +
      `coalesce(json_agg(_postgrest_t), '[]')::text AS body FROM (SELECT * FROM pgrst_source) _postgrest_t`;
    return this.request<T[]>(auth, 'GET', `/${table}`, true, async (c) => {
      const r = await c.query<{ body: string }>(sql);
      return { status: 200, body: JSON.parse(r.rows[0]!.body) as T[] };
    });
  }

  /**
   * POST /<table> with a JSON object or array (supabase-js `.from(table).insert(rows)`), as
   * PostgREST builds it: the keys of the first row are the columns, json_populate_recordset reads
   * the body, one INSERT ... SELECT for all rows. `select` (`.insert(rows).select('id')`, header
   * Prefer: return=representation) returns those columns of the inserted rows; without it
   * (return=minimal), 201 and no body.
   */
  async insertRows(
    table: string,
    rows: Record<string, unknown> | Record<string, unknown>[],
    auth: RequestAuth,
    select?: string[],
  ): Promise<PostgrestResponse<unknown>> {
    const qi = `"${this.schema}"."${table}"`;
    const first = Array.isArray(rows) ? (rows[0] ?? {}) : rows;
    const cols = Object.keys(first).map((k) => `"${k.replaceAll('"', '""')}"`);
    const returning = select?.length ? select.map((c) => `${qi}."${c}"`).join(', ') : '1';
    const sql =
      `WITH pgrst_source AS (INSERT INTO ${qi}(${cols.join(', ')}) SELECT ${cols.map((c) => `pgrst_body.${c}`).join(', ')} ` +
      `FROM (SELECT $1::json AS json_data) pgrst_payload, ` +
      `LATERAL (SELECT ${cols.join(', ')} FROM json_populate_recordset(null::${qi}, CASE WHEN json_typeof(pgrst_payload.json_data) = 'array' ` +
      `THEN pgrst_payload.json_data ELSE json_build_array(pgrst_payload.json_data) END) AS _) pgrst_body RETURNING ${returning}) ` +
      `SELECT pg_catalog.count(_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), '[]')::text AS body ` +
      `FROM (SELECT ${select?.length ? select.map((c) => `"pgrst_source"."${c}"`).join(', ') : '1'} FROM "pgrst_source") _postgrest_t`;
    return this.request(auth, 'POST', `/${table}`, false, async (c) => {
      const r = await c.query<{ body: string }>(sql, [JSON.stringify(rows)]);
      return { status: 201, body: select?.length ? (JSON.parse(r.rows[0]!.body) as unknown) : null };
    });
  }

  /** POST /<table> with one JSON object: an INSERT of its keys. */
  async insert(table: string, row: Record<string, unknown>, auth: RequestAuth): Promise<PostgrestResponse<unknown>> {
    const qi = `"${this.schema}"."${table}"`;
    const cols = Object.keys(row).map((k) => `"${k}"`);
    const sql =
      `INSERT INTO ${qi}(${cols.join(', ')}) SELECT ${cols.join(', ')} FROM json_populate_record(null::${qi}, $1::json) RETURNING 1`;
    return this.request(auth, 'POST', `/${table}`, false, async (c) => {
      await c.query(sql, [JSON.stringify(row)]);
      return { status: 201, body: null };
    });
  }
}

export function isError(body: unknown): body is PostgrestError {
  return !!body && typeof body === 'object' && 'code' in body && 'message' in body;
}

/** What the Send SMS Hook answers: {} on success. */
export interface HookAnswer {
  error?: { http_code: number; message: string };
}

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

/**
 * A connection to `databaseUrl`'s database acting as supabase_auth_admin, as Supabase Auth's own:
 * the database's Auth stand-in login (search_path "auth") with role = supabase_auth_admin from
 * the connection's start, whatever that role's LOGIN and password are on the server.
 */
export async function connectAsAuth(databaseUrl: string): Promise<pg.Client> {
  const { user, password } = standInsOf(databaseUrl).auth;
  const u = new URL(databaseUrl);
  u.username = user;
  u.password = password;
  const c = new pg.Client({ connectionString: u.toString(), options: `-c role=${AUTH_ADMIN}` });
  await c.connect();
  return c;
}

/** A connection as the database's authenticator stand-in (PostgREST's login), for requests replayed by hand. */
export function connectAsAuthenticator(databaseUrl: string): Promise<pg.Client> {
  const { user, password } = standInsOf(databaseUrl).authenticator;
  return connectAs(databaseUrl, user, password);
}

/**
 * The event Supabase Auth sends to the Send SMS Hook, in the shape its documentation gives
 * (test/fixtures/supabase/send-sms-hook-event.json, a fake phone), with this user, phone and
 * code. `sms` adds the fields newer Auth versions send (`phone`, `sms_type`).
 */
export function sendSmsEvent(options: { userId?: string; phone?: string; otp?: string; sms?: Record<string, unknown> } = {}): Record<string, unknown> {
  const event = JSON.parse(readFileSync(new URL('../fixtures/supabase/send-sms-hook-event.json', import.meta.url), 'utf8')) as {
    user: Record<string, unknown> & { identities: { id: string; user_id: string; identity_data: Record<string, unknown> }[] };
    sms: Record<string, unknown>;
  };
  const userId = options.userId ?? randomUUID();
  event.user.id = userId;
  for (const identity of event.user.identities) {
    identity.id = userId;
    identity.user_id = userId;
    identity.identity_data.sub = userId;
    if (options.phone !== undefined) identity.identity_data.phone = options.phone;
  }
  if (options.phone !== undefined) event.user.phone = options.phone;
  if (options.otp !== undefined) event.sms.otp = options.otp;
  Object.assign(event.sms, options.sms ?? {});
  return event;
}

/** A random 6-digit code, as Supabase Auth makes them. */
export function randomOtp(): string {
  return String(randomBytes(4).readUInt32BE() % 1_000_000).padStart(6, '0');
}

export interface HookCall {
  answer: HookAnswer;
  /** Auth committed its transaction (the answer had no error, and the commit went through). */
  committed: boolean;
  /** SQLSTATE of a failed call or commit (Auth answers 500 then). */
  failed?: string;
}

/**
 * One call of the Send SMS Hook the way Supabase Auth makes it (its Postgres-function hook
 * dispatcher): in the transaction of the request that made the code, after that request's own
 * statements, with `set local statement_timeout` of 2 s around
 * `select "public"."sms_auth_send_sms_hook"($1)`, the event passed as JSON text. An answer with
 * an error message fails the request, and its transaction is rolled back; otherwise it commits.
 */
export async function callSendSmsHook(client: pg.Client, event: unknown, options: { isolation?: Isolation } = {}): Promise<HookCall> {
  await client.query(`begin isolation level ${options.isolation ?? 'read committed'}`);
  let answer: HookAnswer;
  try {
    // Stands in for Auth's statements before the hook (the audit log entry): takes the snapshot.
    await client.query('select now()');
    await client.query(`set local statement_timeout to '2000'`);
    const r = await client.query<{ answer: HookAnswer }>('select "public"."sms_auth_send_sms_hook"($1) as answer', [JSON.stringify(event)]);
    answer = r.rows[0]!.answer;
    await client.query('set local statement_timeout to default');
  } catch (err) {
    await client.query('rollback');
    return { answer: { error: { http_code: 500, message: 'the hook raised' } }, committed: false, failed: (err as { code?: string }).code ?? 'unknown' };
  }
  if (answer.error?.message) {
    await client.query('rollback');
    return { answer, committed: false };
  }
  try {
    await client.query('commit');
  } catch (err) {
    return { answer, committed: false, failed: (err as { code?: string }).code ?? 'unknown' };
  }
  return { answer, committed: true };
}

/** Who holds EXECUTE on the Send SMS Hook, its owner aside ('PUBLIC' for PUBLIC), sorted. */
export async function hookExecuteGrantees(client: pg.Pool | pg.ClientBase): Promise<string[]> {
  const r = await client.query<{ grantee: string }>(`
    select case when a.grantee = 0 then 'PUBLIC' else r.rolname::text end as grantee
      from pg_proc p cross join aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
      left join pg_roles r on r.oid = a.grantee
     where p.oid = 'public.sms_auth_send_sms_hook(jsonb)'::regprocedure and a.grantee <> p.proowner
     order by 1`);
  return r.rows.map((row) => row.grantee);
}
