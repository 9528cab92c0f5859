/**
 * What is installed, read from the catalog: every table, view, sequence, type and function of
 * sms-outbox (the sms_ objects in public and everything in sms_private) with their columns,
 * defaults, constraints, indexes, row level security and policies, triggers, grants, options,
 * comments, and each function's and view's current definition. Deterministic: sorted by name,
 * no OIDs, the owning role written as `owner`.
 *
 * One description serves two readers: docs/reference/schema.sql (`npm run schema:dump`,
 * renderCatalog) shows reviewers the installed schema, and the upgrade test compares the
 * description of an upgraded database with a fresh install's.
 */
import type pg from 'pg';

export interface CatalogColumn {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  identity: string | null;
  grants: string[];
  comment: string | null;
}

export interface CatalogTable {
  name: string;
  columns: CatalogColumn[];
  constraints: string[];
  indexes: string[];
  options: string[];
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  policies: string[];
  triggers: string[];
  grants: string[];
  comment: string | null;
}

export interface CatalogView {
  name: string;
  definition: string;
  options: string[];
  grants: string[];
  comment: string | null;
}

export interface CatalogSequence {
  name: string;
  definition: string;
  grants: string[];
  comment: string | null;
}

export interface CatalogType {
  name: string;
  attributes: string[];
  comment: string | null;
}

export interface CatalogFunction {
  signature: string;
  definition: string;
  grants: string[];
  comment: string | null;
}

export interface Catalog {
  schemas: { name: string; grants: string[]; comment: string | null }[];
  tables: CatalogTable[];
  views: CatalogView[];
  sequences: CatalogSequence[];
  types: CatalogType[];
  functions: CatalogFunction[];
}

/** Our relations and functions: the sms_ ones in public, everything in sms_private. */
const OURS = (ns: string, name: string) =>
  `((${ns} = 'public'::regnamespace and ${name} like 'sms\\_%') or ${ns} = coalesce(to_regnamespace('sms_private'), 0))`;

/** An ACL as sorted `grantee: privilege` lines (the owner as `owner`, PUBLIC as `public`). */
const GRANTS = (acl: string, owner: string, kind: string) => `
  coalesce((select array_agg(g order by g) from (
     select case when a.grantee = ${owner} then 'owner' when a.grantee = 0 then 'public' else pg_get_userbyid(a.grantee) end
            || ': ' || a.privilege_type || case when a.is_grantable then ' with grant option' else '' end as g
       from aclexplode(coalesce(${acl}, acldefault(${kind}, ${owner}))) a) x), '{}')`;

/**
 * Reads the description, with search_path set to pg_catalog alone for the while, so every name
 * in it is written with its schema whatever the caller's search_path.
 */
export async function describeCatalog(client: pg.ClientBase): Promise<Catalog> {
  await client.query('begin read only');
  try {
    await client.query(`set local search_path = pg_catalog`);
    return await describe(client);
  } finally {
    await client.query('commit');
  }
}

async function describe(client: pg.ClientBase): Promise<Catalog> {
  const schemas = await client.query<Catalog['schemas'][number]>(`
    select n.nspname as name, ${GRANTS('n.nspacl', 'n.nspowner', `'n'::"char"`)} as grants, obj_description(n.oid, 'pg_namespace') as comment
      from pg_namespace n where n.nspname = 'sms_private'`);

  const relations = await client.query<{ oid: number; name: string; kind: string; options: string[] | null; rls: boolean; force: boolean; grants: string[]; comment: string | null }>(`
    select c.oid, c.oid::regclass::text as name, c.relkind as kind, c.reloptions as options,
           c.relrowsecurity as rls, c.relforcerowsecurity as force,
           ${GRANTS('c.relacl', 'c.relowner', `case c.relkind when 'S' then 's'::"char" else 'r'::"char" end`)} as grants,
           obj_description(c.oid, 'pg_class') as comment
      from pg_class c
     where ${OURS('c.relnamespace', 'c.relname')} and c.relkind in ('r', 'p', 'v', 'm', 'S')
     order by 2`);

  // One query per kind of detail for all the relations at once, each row naming its relation
  // (rel): a query per relation made a description cost a few hundred round trips.
  const oids = relations.rows.map((r) => r.oid);
  const each = async (sql: string) => byRelation((await client.query<{ rel: number; d: string }>(sql, [oids])).rows, (x) => x.d);
  const viewDefs = await each(`select c.oid as rel, pg_get_viewdef(c.oid, true) as d from pg_class c where c.oid = any($1::oid[]) and c.relkind in ('v', 'm')`);
  const sequenceDefs = await each(
    `select s.seqrelid as rel, format('as %s start %s increment %s minvalue %s maxvalue %s cache %s%s', format_type(s.seqtypid, null), s.seqstart,
                   s.seqincrement, s.seqmin, s.seqmax, s.seqcache, case when s.seqcycle then ' cycle' else '' end) as d
       from pg_sequence s where s.seqrelid = any($1::oid[])`,
  );
  const columns = byRelation(
    (
      await client.query<CatalogColumn & { rel: number }>(
        `select a.attrelid as rel, a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as "notNull",
                pg_get_expr(d.adbin, d.adrelid) as default,
                case a.attidentity when 'a' then 'generated always as identity' when 'd' then 'generated by default as identity' end as identity,
                coalesce((select array_agg(g order by g) from (
                   select case when x.grantee = 0 then 'public' else pg_get_userbyid(x.grantee) end || ': ' || x.privilege_type as g
                     from aclexplode(a.attacl) x) y), '{}') as grants,
                col_description(a.attrelid, a.attnum) as comment
           from pg_attribute a
           left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
          where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
          order by a.attnum`,
        [oids],
      )
    ).rows,
    ({ rel: _, ...column }) => column,
  );
  const constraints = await each(
    `select conrelid as rel, format('constraint %I %s', conname, pg_get_constraintdef(oid)) as d from pg_constraint where conrelid = any($1::oid[]) order by conname`,
  );
  const indexes = await each(
    `select i.indrelid as rel, pg_get_indexdef(i.indexrelid) as d from pg_index i where i.indrelid = any($1::oid[]) order by i.indexrelid::regclass::text`,
  );
  const policies = await each(
    `select format('%I.%I', p.schemaname, p.tablename)::regclass::oid as rel,
            format('policy %I %s for %s to %s%s%s', p.policyname, lower(p.permissive), lower(p.cmd), array_to_string(p.roles, ', '),
                   coalesce(' using (' || p.qual || ')', ''), coalesce(' with check (' || p.with_check || ')', '')) as d
       from pg_policies p where format('%I.%I', p.schemaname, p.tablename)::regclass = any($1::oid[]) order by p.policyname`,
  );
  const triggers = await each(
    `select t.tgrelid as rel, pg_get_triggerdef(t.oid) as d from pg_trigger t where t.tgrelid = any($1::oid[]) and not t.tgisinternal order by t.tgname`,
  );

  const tables: CatalogTable[] = [];
  const views: CatalogView[] = [];
  const sequences: CatalogSequence[] = [];
  for (const r of relations.rows) {
    const options = [...(r.options ?? [])].sort();
    const of = <T>(m: Map<number, T[]>) => m.get(r.oid) ?? [];
    if (r.kind === 'v' || r.kind === 'm') {
      views.push({ name: r.name, definition: of(viewDefs)[0]!.trim(), options, grants: r.grants, comment: r.comment });
    } else if (r.kind === 'S') {
      sequences.push({ name: r.name, definition: of(sequenceDefs)[0]!, grants: r.grants, comment: r.comment });
    } else {
      tables.push({
        name: r.name,
        columns: of(columns),
        constraints: of(constraints),
        indexes: of(indexes),
        options,
        rowSecurity: r.rls,
        forceRowSecurity: r.force,
        policies: of(policies),
        triggers: of(triggers),
        grants: r.grants,
        comment: r.comment,
      });
    }
  }

  const types = await client.query<CatalogType>(`
    select t.oid::regtype::text as name,
           (select array_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)) order by a.attnum)
              from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped) as attributes,
           obj_description(t.oid, 'pg_type') as comment
      from pg_type t join pg_class c on c.oid = t.typrelid
     where ${OURS('t.typnamespace', 't.typname')} and t.typtype = 'c' and c.relkind = 'c'
     order by 1`);

  const functions = await client.query<CatalogFunction>(`
    select p.oid::regprocedure::text as signature, pg_get_functiondef(p.oid) as definition,
           ${GRANTS('p.proacl', 'p.proowner', `'f'::"char"`)} as grants, obj_description(p.oid, 'pg_proc') as comment
      from pg_proc p
     where ${OURS('p.pronamespace', 'p.proname')}
     order by 1`);

  return {
    schemas: schemas.rows,
    tables,
    views,
    sequences,
    types: types.rows,
    functions: functions.rows.map((f) => ({ ...f, definition: f.definition.trim() })),
  };
}

/** `rows` by their relation (rel), each relation's in the order of `rows`, as `value` makes them. */
function byRelation<R extends { rel: number }, T>(rows: R[], value: (row: R) => T): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const row of rows) {
    if (!out.has(row.rel)) out.set(row.rel, []);
    out.get(row.rel)!.push(value(row));
  }
  return out;
}

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

function commentLine(what: string, comment: string | null): string[] {
  return comment === null ? [] : [`comment on ${what} is ${literal(comment)};`];
}

/** One line per grant: `-- grant <privilege> to <grantee>` (grants as SQL would need the owner's name). */
function grantLines(grants: string[]): string[] {
  return grants.filter((g) => !g.startsWith('owner: ')).map((g) => `-- granted ${g.replace(/^([^:]+): (.*)$/, '$2 to $1')}`);
}

/** The catalog as readable SQL: what a reviewer diffs to see what a change did to the installed schema. */
export function renderCatalog(c: Catalog, header: string): string {
  const out: string[] = [header.trimEnd(), ''];
  const section = (title: string) => out.push('', `-- ${title} ${'-'.repeat(Math.max(3, 96 - title.length))}`, '');
  section('schemas');
  for (const s of c.schemas) {
    out.push(`create schema ${s.name};`, ...grantLines(s.grants), ...commentLine(`schema ${s.name}`, s.comment), '');
  }
  section('tables');
  for (const t of c.tables) {
    const cols = t.columns.map(
      (col) => `  ${col.name} ${col.type}${col.notNull ? ' not null' : ''}${col.default !== null ? ` default ${col.default}` : ''}${col.identity ? ` ${col.identity}` : ''}`,
    );
    out.push(`create table ${t.name} (`, [...cols, ...t.constraints.map((x) => `  ${x}`)].join(',\n'), ');');
    if (t.options.length) out.push(`alter table ${t.name} set (${t.options.join(', ')});`);
    if (t.rowSecurity) out.push(`alter table ${t.name} enable row level security;`);
    if (t.forceRowSecurity) out.push(`alter table ${t.name} force row level security;`);
    out.push(...t.indexes.map((x) => `${x};`));
    out.push(...t.policies.map((x) => `create ${x.replace(/^policy (\S+) /, `policy $1 on ${t.name} as `)};`));
    out.push(...t.triggers.map((x) => `${x};`));
    out.push(...grantLines(t.grants));
    for (const col of t.columns) out.push(...grantLines(col.grants).map((g) => g.replace(/^-- granted (\S+) /, `-- granted $1 (${col.name}) `)));
    out.push(...commentLine(`table ${t.name}`, t.comment));
    for (const col of t.columns) out.push(...commentLine(`column ${t.name}.${col.name}`, col.comment));
    out.push('');
  }
  section('sequences');
  for (const s of c.sequences) out.push(`create sequence ${s.name} ${s.definition};`, ...grantLines(s.grants), ...commentLine(`sequence ${s.name}`, s.comment), '');
  section('types');
  for (const t of c.types) out.push(`create type ${t.name} as (`, t.attributes.map((a) => `  ${a}`).join(',\n'), ');', ...commentLine(`type ${t.name}`, t.comment), '');
  section('views');
  for (const v of c.views) {
    out.push(`create view ${v.name}${v.options.length ? ` with (${v.options.join(', ')})` : ''} as`, `${v.definition.replace(/;$/, '')};`);
    out.push(...grantLines(v.grants), ...commentLine(`view ${v.name}`, v.comment), '');
  }
  section('functions');
  for (const f of c.functions) {
    out.push(`${f.definition.replace(/^CREATE OR REPLACE FUNCTION/, 'create function')};`, ...grantLines(f.grants), ...commentLine(`function ${f.signature}`, f.comment), '');
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** The PostgreSQL major version of the server `client` is connected to. */
export async function serverMajor(client: pg.ClientBase): Promise<number> {
  const r = await client.query<{ v: string }>(`select current_setting('server_version_num') as v`);
  return Math.floor(Number(r.rows[0]!.v) / 10_000);
}

/** docs/reference/schema.sql: the header that says what it is, then the catalog. */
export function renderSchemaDump(c: Catalog, major: number): string {
  return renderCatalog(
    withoutSupabaseGrants(c),
    `-- The sms-outbox schema as \`sms-outbox migrate\` installs it: every table with its columns,
-- constraints, indexes, policies, triggers and grants, and every function's and view's current
-- definition, read back from PostgreSQL ${major}'s catalog (src/db/catalog.ts).
--
-- GENERATED by \`npm run schema:dump\`; do not edit. test/sql/schema-dump.test.ts fails when it is
-- out of date, so a change to the SQL interface shows in review as a diff of this file. To change
-- the schema, change migrations/ or sql/ (ARCHITECTURE.md, "Where the SQL lives"). Grants are
-- listed as comments (\`-- granted <privilege> to <role>\`), the roles with the default prefix;
-- not those to Supabase's roles, which sms_grant_supabase_roles() makes where they exist.`,
  );
}

/** Supabase's roles: whether they exist depends on the server, not on the schema. */
const SUPABASE_ROLES = /^(anon|authenticated|service_role|supabase_auth_admin): /;

/**
 * `c` without the grants to Supabase's roles (sql/functions/public.sms_grant_supabase_roles.sql
 * makes them when those roles exist on the server), so two installs compare alike on any server.
 */
export function withoutSupabaseGrants<T>(c: T): T {
  if (Array.isArray(c)) return c.map(withoutSupabaseGrants) as T;
  if (c === null || typeof c !== 'object') return c;
  return Object.fromEntries(
    Object.entries(c).map(([k, v]) => [
      k,
      k === 'grants' && Array.isArray(v) ? v.filter((g) => !(typeof g === 'string' && SUPABASE_ROLES.test(g))) : withoutSupabaseGrants(v),
    ]),
  ) as T;
}
