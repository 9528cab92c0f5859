/**
 * The reference against the code it describes, read from the code's own lists: every environment
 * variable sms-outbox reads (src/config.ts), every metric a worker exports (src/worker/metrics.ts),
 * every exit code (src/errors.ts), every command's --help, and every function, table, view and
 * column the migrations install in `public` is in docs/reference/, and nothing documented there
 * is gone from the code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { KNOWN_VARIABLES } from '../../src/config.js';
import * as errors from '../../src/errors.js';
import { workerMetricNames } from '../ops/metric-names.js';
import { ROOT } from '../ops/helpers.js';
import { cliArgs } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { readDoc, section } from './markdown.js';

/** The backticked names in the first cell of each table row of `markdown`. */
function firstCellNames(markdown: string, pattern = /[A-Za-z0-9_]+/): string[] {
  return [...markdown.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) =>
    [...m[1]!.matchAll(/`([^`]+)`/g)].map((n) => n[1]!).filter((n) => new RegExp(`^${pattern.source}$`).test(n)),
  );
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

describe('docs/reference/configuration.md', () => {
  test('documents every variable src/config.ts reads, and no other', () => {
    const documented = firstCellNames(readDoc('docs/reference/configuration.md'), /[A-Z][A-Z0-9_]+/);
    assert.deepEqual(sorted(documented), sorted(KNOWN_VARIABLES));
  });
});

describe('docs/reference/metrics.md', () => {
  test('lists every metric the worker exports, and no other', () => {
    const table = section(readDoc('docs/reference/metrics.md'), '## Metrics');
    const documented = [...table.matchAll(/^\| `([a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => m[1]!);
    assert.deepEqual(sorted(documented), workerMetricNames());
  });
});

describe('docs/reference/cli.md', () => {
  const page = readDoc('docs/reference/cli.md');

  test('the exit-code table lists exactly the codes src/errors.ts defines', () => {
    const defined = Object.entries(errors)
      .filter(([name, value]) => name.startsWith('EXIT_') && typeof value === 'number')
      .map(([, value]) => value as number);
    const documented = [...section(page, '## Exit codes').matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1]));
    assert.deepEqual(sorted(documented.map(String)), sorted(defined.map(String)));
  });

  for (const command of ['migrate', 'worker', 'simulator', 'dev', 'status', 'console', 'bench']) {
    test(`sms-outbox ${command} --help is printed as the page shows it`, () => {
      const r = spawnSync(process.execPath, cliArgs([command, '--help']), { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      assert.equal(r.status, 0, r.stderr);
      const block = /```text\n([\s\S]*?)\n```/.exec(section(page, `### \`sms-outbox ${command}\``))?.[1];
      assert.equal(block, r.stdout.replace(/\n+$/, ''));
    });
  }

  test('every command of sms-outbox --help has its section', () => {
    const r = spawnSync(process.execPath, cliArgs(['--help']), { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    const commands = [...r.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    assert.ok(commands.length >= 6, r.stdout);
    for (const c of commands) assert.ok(page.includes(`\n### \`sms-outbox ${c}\`\n`), c);
  });
});

describe('docs/reference/sql-api.md against the installed schema', () => {
  let tdb: TestDatabase;
  const page = readDoc('docs/reference/sql-api.md');
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(async () => {
    await tdb?.drop();
  });

  test('every sms_ function in public is in the function tables, and each one there is installed', async () => {
    const { rows } = await tdb.pool.query<{ name: string }>(
      `select distinct p.proname as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.proname like 'sms\\_%'`,
    );
    const installed = sorted(rows.map((r) => r.name));
    const tables = section(page, '## Functions and views for apps') + section(page, '## Functions for Supabase, operators and the worker');
    const documented = sorted([...tables.matchAll(/^\| `(sms_[a-z0-9_]+)\(/gm), ...tables.matchAll(/ \/ `(sms_[a-z0-9_]+)\(/g)].map((m) => m[1]!));
    assert.deepEqual(documented, installed);
  });

  test('every sms_ table and view in public has its section, listing exactly its columns', async () => {
    const { rows } = await tdb.pool.query<{ rel: string; cols: string[] }>(
      `select c.relname as rel, array_agg(a.attname::text order by a.attnum) as cols
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'public' and c.relname like 'sms\\_%' and c.relkind in ('r', 'v', 'm', 'p')
        group by c.relname`,
    );
    const tables = section(page, '## Tables and views');
    const documentedRelations = sorted([...tables.matchAll(/^### `(sms_[a-z0-9_]+)`$/gm)].map((m) => m[1]!));
    assert.deepEqual(documentedRelations, sorted(rows.map((r) => r.rel)));
    for (const { rel, cols } of rows) {
      const columns = firstCellNames(section(tables, `### \`${rel}\``), /[a-z_][a-z0-9_]*/);
      assert.deepEqual(sorted(columns), sorted(cols), rel);
    }
  });

  test('sms_status: every column it returns is named in "Status, cancel, preview"', async () => {
    const { rows } = await tdb.pool.query<{ name: string }>(
      `select a.attname::text as name from pg_proc p
         join pg_type t on t.oid = p.prorettype join pg_attribute a on a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped
        where p.oid = 'public.sms_status(uuid)'::regprocedure order by a.attnum`,
    );
    assert.ok(rows.length > 10);
    const text = section(page, '## Status, cancel, preview');
    const missing = rows.map((r) => r.name).filter((n) => !new RegExp(`\\b${n}\\b`).test(text));
    assert.deepEqual(missing, []);
  });
});
