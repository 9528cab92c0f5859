/**
 * The files of sql/: one per function (all its overloads, its triggers, and the defaults or
 * policies that call it) and one per view, each holding the object's current definition
 * (ARCHITECTURE.md, "Where the SQL lives"). `sms-outbox migrate` applies them after the
 * numbered migrations (src/db/migrate.ts), in the order `loadSqlFiles` gives:
 *
 * - sql/functions/, alphabetically. They are created with check_function_bodies off, so a
 *   function may call one whose file comes later; their bodies are checked once all exist.
 * - then sql/views/, alphabetically, except that a view that reads another view names that
 *   view's file in a header line `-- requires: views/public.other.sql`, and comes after it.
 *
 * A file is named for what it defines: functions/<schema>.<name>.sql must create function
 * <schema>.<name>, views/<schema>.<name>.sql view <schema>.<name>.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));

export interface SqlFile {
  /** The path under sql/, e.g. functions/public.sms_send.sql: the key recorded in sms_schema_objects. */
  file: string;
  sql: string;
  /** SHA-256 of the file as written (before role names are applied), hex. */
  checksum: string;
}

const KINDS = ['functions', 'views'] as const;
const NAME = /^(public|sms_private)\.([a-z0-9_]+)\.sql$/;

export function sqlChecksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

/** The files of sql/ in the order they are applied. */
export function loadSqlFiles(dir = SQL_DIR): SqlFile[] {
  const byKind = KINDS.map((kind) =>
    readdirSync(`${dir}/${kind}`)
      .filter((f) => f.endsWith('.sql'))
      .sort()
      .map((name) => {
        const file = `${kind}/${name}`;
        const m = NAME.exec(name);
        if (!m) throw new Error(`sql/${file}: expected a name <schema>.<name>.sql, schema public or sms_private`);
        const sql = readFileSync(`${dir}/${file}`, 'utf8');
        const defines = new RegExp(`create or replace ${kind === 'functions' ? 'function' : 'view'} ${m[1]}\\.${m[2]}\\b`);
        if (!defines.test(sql)) throw new Error(`sql/${file} does not create or replace ${kind === 'functions' ? 'function' : 'view'} ${m[1]}.${m[2]}`);
        return { file, sql, checksum: sqlChecksum(sql) };
      }),
  );
  return [...byKind[0]!, ...orderByRequires(byKind[1]!)];
}

/** `files` (sorted by name) with each after the files its `-- requires:` lines name. */
function orderByRequires(files: SqlFile[]): SqlFile[] {
  const byName = new Map(files.map((f) => [f.file, f]));
  const ordered: SqlFile[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (f: SqlFile, path: string[]) => {
    if (state.get(f.file) === 'done') return;
    if (state.get(f.file) === 'visiting') throw new Error(`sql/: the requires of ${[...path, f.file].join(' -> ')} go round in a circle`);
    state.set(f.file, 'visiting');
    for (const [, required] of f.sql.matchAll(/^-- requires: (\S+)\s*$/gm)) {
      const dep = byName.get(required!);
      if (!dep) throw new Error(`sql/${f.file} requires ${required}, which is not a file of sql/views/`);
      visit(dep, [...path, f.file]);
    }
    state.set(f.file, 'done');
    ordered.push(f);
  };
  for (const f of files) visit(f, []);
  return ordered;
}
