/**
 * The house rules of src/, read from the import graph (every `import`/`export ... from` of a
 * relative path, type-only ones included), and the size of its files. ARCHITECTURE.md draws the
 * same layers.
 *
 * A unit is a folder of src/ (`smpp/`) or a top-level file (`config.ts`). Each may import only
 * the units listed for it; the lists form layers, lowest first:
 *
 *   leaves       errors.ts, secrets.ts, backoff.ts, logger.ts: import nothing of ours
 *   smpp/        the protocol: codec, meanings, session; knows nothing of the app
 *   simulator/   a test SMSC built on smpp/
 *   db/          typed queries; may use smpp/'s pure meanings (ids, receipt states, reassembly)
 *   config.ts    the environment, read once (its SMPP part in smpp/'s terms: BindMode)
 *   tasks/       Graphile Worker tasks: stand on db/ and the small interfaces they declare
 *   worker/      wires session, pump, store, tasks and config together
 *   console/     the web console: a client of the SQL interface (db/) and nothing else
 *   bench/, cli/ and cli.ts: the entry points, on top
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/compiled.js';

const SRC = path.join(ROOT, 'src/');

const LEAVES = ['errors.ts', 'secrets.ts', 'backoff.ts', 'logger.ts'];

const ALLOWED: Record<string, string[]> = {
  'errors.ts': [],
  'secrets.ts': [],
  'backoff.ts': [],
  'logger.ts': [],
  'smpp/': [...LEAVES],
  'simulator/': ['smpp/', ...LEAVES],
  'db/': ['smpp/', ...LEAVES],
  'config.ts': ['db/', 'smpp/', ...LEAVES],
  'tasks/': ['db/', 'smpp/', ...LEAVES],
  'worker/': ['tasks/', 'db/', 'smpp/', 'config.ts', ...LEAVES],
  'bench/': ['console/', 'worker/', 'simulator/', 'db/', 'smpp/', 'config.ts', ...LEAVES],
  'console/': ['db/', ...LEAVES],
  'cli/': ['bench/', 'console/', 'worker/', 'tasks/', 'simulator/', 'db/', 'smpp/', 'config.ts', ...LEAVES],
  'cli.ts': ['cli/', 'config.ts', ...LEAVES],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function unitOf(file: string): string {
  const rel = path.relative(SRC, file);
  const [first] = rel.split(path.sep);
  return rel.includes(path.sep) ? `${first}/` : first!;
}

/** Every relative import of src/: [importing file, imported file], both relative to src/. */
function imports(): [string, string][] {
  const out: [string, string][] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.{1,2}\/[^']+)'/gm)) {
      const target = path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'));
      out.push([path.relative(SRC, file), path.relative(SRC, target)]);
    }
    for (const m of text.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) {
      const target = path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'));
      out.push([path.relative(SRC, file), path.relative(SRC, target)]);
    }
  }
  return out;
}

test('every unit of src/ is in the layering', () => {
  const units = new Set(sourceFiles(SRC).map(unitOf));
  assert.deepEqual([...units].filter((u) => !(u in ALLOWED)).sort(), [], 'a new folder or top-level file: give it its place in ALLOWED');
});

test('each unit of src/ imports only the units below it', () => {
  const wrong: string[] = [];
  for (const [from, to] of imports()) {
    const a = unitOf(path.join(SRC, from));
    const b = unitOf(path.join(SRC, to));
    if (a !== b && !(ALLOWED[a] ?? []).includes(b)) wrong.push(`${from} imports ${to} (${a} may import ${(ALLOWED[a] ?? []).join(', ') || 'nothing of ours'})`);
  }
  assert.deepEqual(wrong, []);
});

test('the import graph sees the imports it checks (the parser is not blind)', () => {
  const pairs = imports().map(([a, b]) => `${a} -> ${b}`);
  for (const expected of ['worker/main.ts -> tasks/index.ts', 'tasks/reconcile.ts -> db/inbound-writes.ts', 'simulator/simulator.ts -> smpp/connection.ts']) {
    assert.ok(pairs.includes(expected), `${expected} is found`);
  }
});

test('the layering has no cycle', () => {
  const seen = new Set<string>();
  const visiting = new Set<string>();
  const visit = (u: string, trail: string[]): void => {
    if (visiting.has(u)) assert.fail(`cycle: ${[...trail, u].join(' -> ')}`);
    if (seen.has(u)) return;
    visiting.add(u);
    for (const v of ALLOWED[u] ?? []) visit(v, [...trail, u]);
    visiting.delete(u);
    seen.add(u);
  };
  for (const u of Object.keys(ALLOWED)) visit(u, []);
});

test('no source file of src/ is over 500 lines', () => {
  const long = sourceFiles(SRC)
    .map((file) => ({ file: path.relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
    .filter((f) => f.lines > 500)
    .map((f) => `${f.file}: ${f.lines} lines`);
  assert.deepEqual(long, [], 'split along its seams (see ARCHITECTURE.md)');
});
