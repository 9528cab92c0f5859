/**
 * `sms-outbox migrate`: brings DATABASE_URL to this code's schema, and installs Graphile Worker's.
 *
 * 1. The numbered migrations, migrations/NNNN_name.sql (tables, columns, indexes, data, grants on
 *    tables, drops, changed signatures), in order, each once, recorded in sms_schema_migrations
 *    with a checksum. An applied migration whose content has since changed is refused, not
 *    silently skipped; except that the checksums of the files as a release shipped them are
 *    accepted too: migrations/released.json keeps them (as data: releases up to 0.1.0 held the
 *    functions in migrations 0002-0017, which were since rewritten to hold none).
 * 2. The files of sql/ (src/db/sql-files.ts): every function, view and trigger function, one
 *    file each with its current definition. Applied when its checksum differs from the one
 *    recorded in sms_schema_objects, and all of them when this run applied a numbered
 *    migration (it may have dropped or changed what they depend on); a file no longer in sql/
 *    loses its record. Created with check_function_bodies off, so one function may call another
 *    whatever their order, and checked once all exist. Then sms_strip_inherited_grants() takes
 *    back every privilege the objects carry that is not their owner's or our roles' (Supabase's
 *    default privileges), so what the files grant is all there is.
 *    Both steps run in one transaction: a run that fails leaves the database as it was.
 *
 * - A session advisory lock serialises concurrent runs (two deploys at once, two test files),
 *   so running it again, or from two processes at once, is safe.
 * - A database that has migrations this code does not know (a newer release ran) is refused.
 * - Roles: the grants go to <prefix>sender, <prefix>reader and <prefix>worker (SMS_ROLE_PREFIX,
 *   src/db/roles.ts), in the numbered migrations and the files of sql/ alike. A new database
 *   takes the prefix asked for (default sms_); an installed one keeps the names it recorded, and
 *   a different prefix is refused unless `switchRolePrefix` asks to move the database's grants
 *   to the new roles.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runMigrations as runGraphileMigrations } from 'graphile-worker';
import { graphileLogger } from './graphile-logger.js';
import { createPool } from './pool.js';
import { applyRoleNames, DEFAULT_ROLE_PREFIX, recordedRoleNames, roleNames, type RoleNames } from './roles.js';
import { loadSqlFiles, type SqlFile } from './sql-files.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Arbitrary constant: the advisory lock key every `migrate` takes (per database). */
export const MIGRATE_LOCK_KEY = 7_316_846_112;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/**
 * The checksums a numbered migration may have been applied with: those of the files as releases
 * shipped them (migrations/released.json), by file name.
 */
export function releasedChecksums(dir = MIGRATIONS_DIR): Map<string, Set<string>> {
  const data = JSON.parse(readFileSync(`${dir}/released.json`, 'utf8')) as { releases: Record<string, Record<string, string>> };
  const out = new Map<string, Set<string>>();
  for (const files of Object.values(data.releases)) {
    for (const [name, checksum] of Object.entries(files)) {
      if (!out.has(name)) out.set(name, new Set());
      out.get(name)!.add(checksum);
    }
  }
  return out;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const seen = new Set<number>();
  return files.map((file) => {
    const version = Number(file.slice(0, 4));
    if (seen.has(version)) throw new Error(`two migrations share version ${version}: ${file}`);
    seen.add(version);
    const sql = readFileSync(`${dir}/${file}`, 'utf8');
    return { version, name: file, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

export interface MigrateOptions {
  /** Values written into sms_settings after the migrations (only those given). */
  settings?: { defaultSender?: string | undefined; defaultValidity?: string | undefined; maxSegments?: number | undefined };
  /** Skip Graphile Worker's schema (used by tests that check our SQL alone). */
  skipGraphile?: boolean;
  /**
   * SMS_ROLE_PREFIX. A new database's roles are named with it (default sms_); an installed
   * database's recorded prefix must match it, unless `switchRolePrefix`. Undefined: the
   * installed database's own, or the default for a new one.
   */
  rolePrefix?: string;
  /** Move an installed database whose roles have another prefix to `rolePrefix`'s roles. */
  switchRolePrefix?: boolean;
  /** Progress lines. */
  log?: (message: string) => void;
  /** Things the operator should fix that do not stop the migration. */
  warn?: (message: string) => void;
}

export interface MigrateResult {
  /** The numbered migrations applied by this run. */
  applied: string[];
  alreadyApplied: number;
  /** The files of sql/ applied by this run (their paths under sql/). */
  objects: string[];
  /** The database's roles after the run. */
  roles: RoleNames;
}

export class SchemaVersionError extends Error {}

/** SMS_ROLE_PREFIX does not match the roles an installed database uses. */
export class RolePrefixError extends Error {}

/** A migration file failed, or an applied one has changed since; `cause` is Postgres's error. */
export class MigrationError extends Error {}

/**
 * sms_settings refused a value given to `migrate` (a data exception or constraint, SQLSTATE class
 * 22 or 23): Postgres's message and SQLSTATE, and the column it was for.
 */
export class SettingRefusedError extends Error {
  readonly code: string;

  constructor(
    readonly column: keyof SettingColumns,
    cause: Error & { code: string },
  ) {
    super(cause.message, { cause });
    this.code = cause.code;
  }
}

/** The sms_settings columns `migrate` writes, and the option for each. */
interface SettingColumns {
  default_sender: 'defaultSender';
  default_validity: 'defaultValidity';
  max_segments: 'maxSegments';
}

/** The latest migration version recorded in the database, or null before the first migrate. */
export async function schemaVersion(client: pg.ClientBase): Promise<number | null> {
  const exists = await client.query<{ t: string | null }>(`select to_regclass('public.sms_schema_migrations')::text as t`);
  if (!exists.rows[0]?.t) return null;
  const r = await client.query<{ v: number | null }>('select max(version) as v from public.sms_schema_migrations');
  return r.rows[0]?.v ?? null;
}

export async function migrate(connectionString: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const log = options.log ?? (() => {});
  const warn = options.warn ?? (() => {});
  const requested = options.rolePrefix === undefined ? undefined : roleNames(options.rolePrefix);
  const migrations = loadMigrations();
  const released = releasedChecksums();
  const files = loadSqlFiles();
  const client = new pg.Client({ connectionString, application_name: 'sms-outbox migrate' });
  await client.connect();
  const applied: string[] = [];
  const objects: string[] = [];
  let alreadyApplied = 0;
  let roles: RoleNames;
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATE_LOCK_KEY]);
    await client.query(`
      create table if not exists public.sms_schema_migrations (
        version    integer primary key,
        name       text not null,
        checksum   text not null,
        applied_at timestamptz not null default now()
      )`);
    await client.query('revoke all on public.sms_schema_migrations from public');
    const done = new Map(
      (await client.query<{ version: number; name: string; checksum: string }>('select version, name, checksum from public.sms_schema_migrations')).rows.map(
        (r) => [r.version, r],
      ),
    );
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...done.keys()].filter((v) => !known.has(v));
    if (unknown.length) {
      throw new SchemaVersionError(
        `the database has migration ${Math.max(...unknown)}, newer than this sms-outbox knows (${Math.max(0, ...known)}); upgrade sms-outbox before migrating`,
      );
    }
    const recorded = await recordedRoleNames(client);
    roles = recorded ?? requested ?? roleNames(DEFAULT_ROLE_PREFIX);
    const switchTo = recorded && requested && requested.prefix !== recorded.prefix ? requested : null;
    if (switchTo && !options.switchRolePrefix) {
      throw new RolePrefixError(
        `this database's sms-outbox roles are ${describeRoles(recorded!)} but SMS_ROLE_PREFIX is ${switchTo.prefix}: ` +
          `run \`sms-outbox migrate --switch-role-prefix\` to move this database's grants to ${describeRoles(switchTo)}, or unset SMS_ROLE_PREFIX to keep the current roles`,
      );
    }
    const pending: Migration[] = [];
    for (const m of migrations) {
      const prior = done.get(m.version);
      if (!prior) {
        pending.push(m);
        continue;
      }
      if (prior.checksum !== m.checksum && !released.get(m.name)?.has(prior.checksum)) {
        throw new MigrationError(`migration ${m.name} was applied with different content (checksum mismatch); migrations must not be edited after release, add a new one`);
      }
      alreadyApplied++;
    }
    await client.query('begin');
    try {
      for (const m of pending) {
        log(`applying ${m.name}`);
        await run(client, applyRoleNames(m.sql, roles), `migration ${m.name}`);
        await client.query('insert into public.sms_schema_migrations (version, name, checksum) values ($1, $2, $3)', [m.version, m.name, m.checksum]);
        applied.push(m.name);
      }
      objects.push(...(await applySqlFiles(client, files, roles, pending.length > 0, log)));
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      applied.length = 0;
      objects.length = 0;
      throw err;
    }
    if (switchTo) {
      log(`moving this database's grants from ${describeRoles(roles)} to ${describeRoles(switchTo)}`);
      await client.query('select sms_private.switch_role_prefix($1)', [switchTo.prefix]);
      roles = switchTo;
    }
    // Supabase's API roles (service_role, authenticated) get their grants on every run, so
    // roles created after the first migration are covered too; a no-op where they do not exist.
    await client.query('select public.sms_grant_supabase_roles()');
    if (!options.skipGraphile) {
      // On a pool of ours: Graphile's own pool drops its 'error' listener before ending, and
      // pool.end() resolves before its connection has closed, so a connection ended by the server
      // in that window (a database dropped WITH (FORCE) right after, in the tests) was an
      // uncaught error. Ours keeps listening (src/db/pool.ts).
      const graphilePool = createPool(connectionString, { applicationName: 'sms-outbox migrate' });
      try {
        await runGraphileMigrations({ pgPool: graphilePool, logger: graphileLogger() });
      } finally {
        await graphilePool.end();
      }
      // The worker role drives Graphile Worker; give it what the runner needs.
      // Graphile's schema is created after ours, so the worker role's grants on it come here
      // (sql/functions/public.sms_grant_worker_graphile.sql).
      await client.query('select public.sms_grant_worker_graphile()');
    }
    await applySettings(client, options.settings ?? {});
    if (await publicMayCreateInPublic(client)) {
      warn(
        'every role may create objects in schema public (the default before PostgreSQL 15): a role could add overloads of sms_send that ' +
          'make callers\' calls ambiguous; unless other apps need it, run as the owner of the schema: revoke create on schema public from public;',
      );
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY]).catch(() => {});
    await client.end();
  }
  return { applied, alreadyApplied, objects, roles };
}

/** Runs one file's SQL; a failure becomes a MigrationError naming it (`what`). */
async function run(client: pg.ClientBase, sql: string, what: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (err) {
    throw new MigrationError(`${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Applies the files of sql/ whose checksum differs from the one recorded in sms_schema_objects
 * (all of them when `all`), forgets the records of files no longer there, checks the bodies of
 * the functions, and strips the grants our objects should not carry. In the caller's
 * transaction. Returns the files applied.
 */
async function applySqlFiles(client: pg.ClientBase, files: SqlFile[], roles: RoleNames, all: boolean, log: (m: string) => void): Promise<string[]> {
  const recorded = new Map(
    (await client.query<{ file: string; checksum: string }>('select file, checksum from public.sms_schema_objects')).rows.map((r) => [r.file, r.checksum]),
  );
  const due = files.filter((f) => all || recorded.get(f.file) !== f.checksum);
  const gone = [...recorded.keys()].filter((file) => !files.some((f) => f.file === file));
  if (!due.length && !gone.length) return [];
  log(`applying ${due.length} of the ${files.length} files of sql/`);
  await client.query('set local check_function_bodies = off');
  for (const f of due) {
    await run(client, applyRoleNames(f.sql, roles), `sql/${f.file}`);
    await client.query(
      `insert into public.sms_schema_objects (file, checksum) values ($1, $2)
       on conflict (file) do update set checksum = excluded.checksum, applied_at = now()`,
      [f.file, f.checksum],
    );
  }
  if (gone.length) await client.query('delete from public.sms_schema_objects where file = any($1::text[])', [gone]);
  await client.query('set local check_function_bodies = on');
  await checkFunctionBodies(client);
  await client.query('select public.sms_strip_inherited_grants()');
  return due.map((f) => f.file);
}

/**
 * Checks the body of every function of ours as CREATE FUNCTION does with check_function_bodies
 * on (PL/pgSQL: its syntax; SQL: the statements against the tables), now that all exist.
 */
async function checkFunctionBodies(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ oid: number; name: string; validator: string }>(
    `select p.oid, p.oid::regprocedure::text as name, l.lanvalidator::regproc::text as validator
       from pg_catalog.pg_proc p
       join pg_catalog.pg_language l on l.oid = p.prolang
      where ((p.pronamespace = 'public'::regnamespace and p.proname like 'sms\\_%') or p.pronamespace = 'sms_private'::regnamespace)
        and l.lanname in ('plpgsql', 'sql')
      order by 2`,
  );
  for (const r of rows) {
    await run(client, `select ${r.validator}(${r.oid})`, `the body of ${r.name}`);
  }
}

function describeRoles(r: RoleNames): string {
  return `${r.sender}, ${r.reader} and ${r.worker}`;
}

/** PUBLIC holds CREATE on schema public (PostgreSQL 14 and older grant it unless revoked). */
async function publicMayCreateInPublic(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ yes: boolean }>(
    `select exists (select from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                     where n.nspname = 'public' and a.grantee = 0 and a.privilege_type = 'CREATE') as yes`,
  );
  return r.rows[0]?.yes ?? false;
}

/** Writes the given settings in one transaction: a value sms_settings refuses leaves all of them as they were. */
async function applySettings(client: pg.ClientBase, s: NonNullable<MigrateOptions['settings']>): Promise<void> {
  if (s.defaultSender === undefined && s.defaultValidity === undefined && s.maxSegments === undefined) return;
  await client.query('begin');
  try {
    await writeSettings(client, s);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  }
}

async function writeSettings(client: pg.ClientBase, s: NonNullable<MigrateOptions['settings']>): Promise<void> {
  if (s.defaultSender !== undefined) {
    await writeSetting(client, 'default_sender', 'update public.sms_settings set default_sender = $1, updated_at = now()', s.defaultSender);
  }
  if (s.defaultValidity !== undefined) {
    await writeSetting(client, 'default_validity', 'update public.sms_settings set default_validity = $1::interval, updated_at = now()', s.defaultValidity);
  }
  if (s.maxSegments !== undefined) {
    await writeSetting(client, 'max_segments', 'update public.sms_settings set max_segments = $1, updated_at = now()', s.maxSegments);
  }
}

/** One UPDATE of sms_settings; a value it refuses (SQLSTATE class 22 or 23) becomes a SettingRefusedError naming the column. */
async function writeSetting(client: pg.ClientBase, column: keyof SettingColumns, text: string, value: string | number): Promise<void> {
  try {
    await client.query(text, [value]);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^(22|23)/.test(code)) throw new SettingRefusedError(column, err as Error & { code: string });
    throw err;
  }
}

/**
 * Refuses to run against a database whose schema is missing, behind, or ahead of this code, or
 * whose functions and views (the files of sql/) are not this code's, with the command that fixes
 * it.
 */
export async function assertSchemaCurrent(client: pg.ClientBase): Promise<void> {
  const latest = Math.max(0, ...loadMigrations().map((m) => m.version));
  const current = await schemaVersion(client);
  if (current === null) {
    throw new SchemaVersionError('the sms-outbox schema is not installed in this database: run `sms-outbox migrate` (with the same DATABASE_URL) first');
  }
  if (current < latest) {
    throw new SchemaVersionError(`the database schema is at migration ${current} but this sms-outbox needs ${latest}: run \`sms-outbox migrate\``);
  }
  if (current > latest) {
    throw new SchemaVersionError(
      `the database schema is at migration ${current}, newer than this sms-outbox (${latest}): deploy the newer sms-outbox, or roll the database back`,
    );
  }
  const differ = await differingSqlFiles(client);
  if (differ.length) {
    const shown = differ.slice(0, 3).map((f) => `sql/${f}`).join(', ') + (differ.length > 3 ? ` and ${differ.length - 3} more` : '');
    throw new SchemaVersionError(
      `the database's functions and views are not those of this sms-outbox (${shown} ${differ.length === 1 ? 'differs' : 'differ'} from what it installed): ` +
        'run `sms-outbox migrate` with this version (or deploy the version that migrated it)',
    );
  }
}

/** The files of sql/ whose recorded checksum is not this code's (or missing), and records of files this code does not have. */
async function differingSqlFiles(client: pg.ClientBase): Promise<string[]> {
  const files = loadSqlFiles();
  const recorded = new Map(
    (await client.query<{ file: string; checksum: string }>('select file, checksum from public.sms_schema_objects')).rows.map((r) => [r.file, r.checksum]),
  );
  const differ = files.filter((f) => recorded.get(f.file) !== f.checksum).map((f) => f.file);
  const extra = [...recorded.keys()].filter((file) => !files.some((f) => f.file === file));
  return [...differ, ...extra].sort();
}
