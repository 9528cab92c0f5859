/**
 * The three roles of one database: <prefix>sender, <prefix>reader, <prefix>worker.
 *
 * Roles are server-wide in Postgres, so two databases on one server that use the same names
 * share them: a role granted sms_sender for one may send in the other. SMS_ROLE_PREFIX (read by
 * `sms-outbox migrate`, default `sms_`) gives a database its own. The files in migrations/ are
 * written with the default names; `applyRoleNames` replaces the three words before a file runs
 * (its recorded checksum is that of the file as written), and migration 0010 records the names
 * in sms_private.roles, which every later grant reads.
 */
import type pg from 'pg';

export const DEFAULT_ROLE_PREFIX = 'sms_';

export interface RoleNames {
  prefix: string;
  sender: string;
  reader: string;
  worker: string;
}

/** What SMS_ROLE_PREFIX must look like, for messages. */
export const ROLE_PREFIX_FORM = 'lower-case letters, digits and _, starting with a letter or _ (not pg_), at most 57 characters, e.g. app2_sms_';

/** Postgres names are at most 63 bytes; "sender" / "reader" / "worker" take 6. */
const MAX_PREFIX_LENGTH = 57;

/** Whether `prefix` can name roles (unquoted identifiers, so the migrations can use them as written). */
export function isValidRolePrefix(prefix: string): boolean {
  return /^[a-z_][a-z0-9_]*$/.test(prefix) && prefix.length <= MAX_PREFIX_LENGTH && !prefix.startsWith('pg_');
}

export function roleNames(prefix: string = DEFAULT_ROLE_PREFIX): RoleNames {
  if (!isValidRolePrefix(prefix)) throw new Error(`role prefix ${JSON.stringify(prefix)} is not valid: expected ${ROLE_PREFIX_FORM}`);
  return { prefix, sender: `${prefix}sender`, reader: `${prefix}reader`, worker: `${prefix}worker` };
}

const DEFAULT_NAME = /\bsms_(sender|reader|worker)\b/g;

/**
 * A migration's SQL with the default role names replaced by `roles`' (whole words only: the
 * policy names sms_worker_all, sms_reader_select, ... stay as they are).
 */
export function applyRoleNames(sql: string, roles: RoleNames): string {
  if (roles.prefix === DEFAULT_ROLE_PREFIX) return sql;
  return sql.replace(DEFAULT_NAME, (_, kind: 'sender' | 'reader' | 'worker') => roles[kind]);
}

/**
 * The role names an installed database uses: those recorded by migration 0010, the default ones
 * for a database migrated before it, or null before the first migration.
 */
export async function recordedRoleNames(client: pg.ClientBase): Promise<RoleNames | null> {
  const r = await client.query<{ roles: string | null; migrations: string | null }>(
    `select to_regclass('sms_private.roles')::text as roles, to_regclass('public.sms_schema_migrations')::text as migrations`,
  );
  if (r.rows[0]?.roles) {
    const row = (await client.query<{ sender: string }>('select sender from sms_private.roles')).rows[0];
    if (row) return roleNames(row.sender.slice(0, -'sender'.length));
  }
  if (r.rows[0]?.migrations) {
    const any = await client.query('select 1 from public.sms_schema_migrations limit 1');
    if (any.rowCount) return roleNames(DEFAULT_ROLE_PREFIX);
  }
  return null;
}

/**
 * The reader and worker roles of an installed database as any login can see them (the roles of
 * the policies on sms_outbox; pg_policy is readable by everyone), for messages that tell a login
 * without them which role to ask for. Null when there is no such policy.
 */
export async function visibleRoleNames(client: pg.ClientBase): Promise<{ reader: string | null; worker: string | null }> {
  const r = await client.query<{ polname: string; role: string }>(
    `select p.polname, pg_get_userbyid(p.polroles[1]) as role
       from pg_policy p
      where p.polrelid = to_regclass('public.sms_outbox') and p.polname in ('sms_reader_select', 'sms_worker_select')`,
  );
  const find = (name: string) => r.rows.find((row) => row.polname === name)?.role ?? null;
  return { reader: find('sms_reader_select'), worker: find('sms_worker_select') };
}
