/**
 * src/db/schema.ts (the kysely table types) must match the tables migrations/ create: the same
 * tables, columns, nullability, TypeScript type for each column's SQL type (as node-postgres
 * returns it), and Generated<> exactly where the column has a default. Read with the TypeScript
 * compiler API, so the types are checked as written, not as a hand-kept list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import ts from 'typescript';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ROOT } from '../support/compiled.js';

interface TsColumn {
  types: Set<string>;
  hasDefault: boolean;
}

function parseSchema(): Map<string, Map<string, TsColumn>> {
  const file = path.join(ROOT, 'src/db/schema.ts');
  const source = ts.createSourceFile('schema.ts', readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const aliases = new Map<string, ts.TypeNode>();
  const interfaces = new Map<string, ts.InterfaceDeclaration>();
  for (const statement of source.statements) {
    if (ts.isTypeAliasDeclaration(statement)) aliases.set(statement.name.text, statement.type);
    if (ts.isInterfaceDeclaration(statement)) interfaces.set(statement.name.text, statement);
  }

  const describe = (node: ts.TypeNode): TsColumn => {
    if (ts.isUnionTypeNode(node)) {
      const parts = node.types.map(describe);
      return { types: new Set(parts.flatMap((p) => [...p.types])), hasDefault: parts.some((p) => p.hasDefault) };
    }
    if (ts.isParenthesizedTypeNode(node)) return describe(node.type);
    if (ts.isArrayTypeNode(node)) return { types: new Set([...describe(node.elementType).types].map((t) => `${t}[]`)), hasDefault: false };
    if (ts.isLiteralTypeNode(node)) {
      if (node.literal.kind === ts.SyntaxKind.NullKeyword) return { types: new Set(['null']), hasDefault: false };
      if (ts.isStringLiteral(node.literal)) return { types: new Set(['string']), hasDefault: false };
    }
    if (ts.isTypeReferenceNode(node)) {
      const name = node.typeName.getText(source);
      const args = node.typeArguments ?? [];
      if (name === 'Generated') return { types: describe(args[0]!).types, hasDefault: true };
      if (name === 'ColumnType') {
        const insert = describe(args[1]!);
        return { types: describe(args[0]!).types, hasDefault: insert.types.has('undefined') };
      }
      const alias = aliases.get(name);
      if (alias) return describe(alias);
      return { types: new Set([name]), hasDefault: false };
    }
    // `(typeof LIST)[number]` of a `const LIST = ['a', 'b'] as const`: a union of strings.
    if (ts.isIndexedAccessTypeNode(node) && /^\(typeof \w+\)\[number\]$/.test(node.getText(source))) {
      const list = /^\(typeof (\w+)\)/.exec(node.getText(source))![1]!;
      assert.match(source.text, new RegExp(`const ${list} = \\[('[a-z0-9_]+',? ?)+\\] as const;`), `${list} is a constant list of strings`);
      return { types: new Set(['string']), hasDefault: false };
    }
    const keyword: Partial<Record<ts.SyntaxKind, string>> = {
      [ts.SyntaxKind.StringKeyword]: 'string',
      [ts.SyntaxKind.NumberKeyword]: 'number',
      [ts.SyntaxKind.BooleanKeyword]: 'boolean',
      [ts.SyntaxKind.UnknownKeyword]: 'unknown',
      [ts.SyntaxKind.UndefinedKeyword]: 'undefined',
    };
    const k = keyword[node.kind];
    if (k) return { types: new Set([k]), hasDefault: false };
    throw new Error(`schema.ts: unsupported type ${node.getText(source)}`);
  };

  const database = interfaces.get('Database');
  assert.ok(database, 'schema.ts exports interface Database');
  const tables = new Map<string, Map<string, TsColumn>>();
  for (const member of database.members) {
    assert.ok(ts.isPropertySignature(member) && member.type && ts.isTypeReferenceNode(member.type));
    const tableName = member.name.getText(source);
    const iface = interfaces.get(member.type.typeName.getText(source));
    assert.ok(iface, `interface for ${tableName}`);
    const columns = new Map<string, TsColumn>();
    for (const column of iface.members) {
      assert.ok(ts.isPropertySignature(column) && column.type);
      columns.set(column.name.getText(source), describe(column.type));
    }
    tables.set(tableName, columns);
  }
  return tables;
}

/** How node-postgres returns each SQL type (int8 is a string: it may exceed 2^53). */
const PG_TO_TS: Record<string, string> = {
  uuid: 'string',
  text: 'string',
  name: 'string',
  regprocedure: 'string',
  int2: 'number',
  int4: 'number',
  int8: 'string',
  float4: 'number',
  float8: 'number',
  bool: 'boolean',
  timestamptz: 'Date',
  jsonb: 'unknown',
  _text: 'string[]',
  _int2: 'number[]',
  bytea: 'Buffer',
  _bytea: 'Buffer[]',
  interval: 'PgInterval',
};

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
});
after(() => tdb.drop());

test('schema.ts matches information_schema', async () => {
  const ts_ = parseSchema();
  const r = await tdb.pool.query<{
    table_name: string;
    column_name: string;
    is_nullable: 'YES' | 'NO';
    udt_name: string;
    column_default: string | null;
    is_identity: 'YES' | 'NO';
  }>(`
    select c.table_name, c.column_name, c.is_nullable, c.udt_name, c.column_default, c.is_identity
      from information_schema.columns c
      join information_schema.tables t using (table_schema, table_name)
     where c.table_schema = 'public' and c.table_name like 'sms\\_%' and t.table_type = 'BASE TABLE'
       and c.table_name not in ('sms_schema_migrations', 'sms_schema_objects')
     order by c.table_name, c.ordinal_position`);
  const sql = new Map<string, typeof r.rows>();
  for (const row of r.rows) sql.set(row.table_name, [...(sql.get(row.table_name) ?? []), row]);

  assert.deepEqual([...ts_.keys()].sort(), [...sql.keys()].sort(), 'the same tables');
  const problems: string[] = [];
  for (const [table, rows] of sql) {
    const tsColumns = ts_.get(table)!;
    assert.deepEqual([...tsColumns.keys()].sort(), rows.map((c) => c.column_name).sort(), `${table}: the same columns`);
    for (const c of rows) {
      const t = tsColumns.get(c.column_name)!;
      const where = `${table}.${c.column_name}`;
      const nullable = c.is_nullable === 'YES';
      if (t.types.has('null') !== nullable) problems.push(`${where}: SQL ${nullable ? 'nullable' : 'not null'}, schema.ts ${t.types.has('null') ? 'allows' : 'lacks'} null`);
      const base = [...t.types].filter((x) => x !== 'null');
      const want = PG_TO_TS[c.udt_name];
      if (!want) problems.push(`${where}: no TypeScript mapping for SQL type ${c.udt_name}`);
      else if (base.length !== 1 || base[0] !== want) problems.push(`${where}: SQL ${c.udt_name} is ${want}, schema.ts says ${base.join(' | ')}`);
      const hasDefault = c.column_default !== null || c.is_identity === 'YES';
      if (t.hasDefault !== hasDefault) problems.push(`${where}: SQL ${hasDefault ? 'has a' : 'has no'} default, schema.ts ${t.hasDefault ? 'marks it Generated' : 'does not mark it Generated'}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the status and encoding unions in schema.ts are the values the SQL allows', async () => {
  const source = readFileSync(path.join(ROOT, 'src/db/schema.ts'), 'utf8');
  const union = (name: string) =>
    [...(new RegExp(`export type ${name} =([^;]+);`).exec(source)?.[1] ?? '').matchAll(/'([a-z0-9]+)'/g)].map((m) => m[1]).sort();
  const check = await tdb.pool.query<{ def: string }>(
    `select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'sms_outbox_status_check'`,
  );
  const allowed = [...(check.rows[0]?.def ?? '').matchAll(/'([a-z]+)'::text/g)].map((m) => m[1]).sort();
  const { FINAL_STATUSES, MESSAGE_STATUSES } = await import('../../src/db/schema.js');
  assert.deepEqual([...MESSAGE_STATUSES].sort(), allowed);
  assert.equal(allowed.length, 9);
  assert.deepEqual(union('Encoding'), ['gsm7', 'ucs2']);
  const done = await tdb.pool.query<{ def: string }>(`select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'sms_outbox_done_at_check'`);
  const live = [...(done.rows[0]?.def ?? '').matchAll(/'([a-z]+)'::text/g)].map((m) => m[1]);
  assert.deepEqual([...FINAL_STATUSES].sort(), allowed.filter((s) => !live.includes(s)));
});
