/**
 * Guard for the query tests: every async function src/db/ exports (its queries) is called by some
 * test, so a query added without one fails here, in a second, instead of in production.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, sourcePath } from '../support/compiled.js';

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? files(full, suffix) : entry.endsWith(suffix) ? [full] : [];
  });
}

test('every query (async function) exported by src/db/ is called by a test', () => {
  const tests = files(path.join(ROOT, 'test'), '.ts')
    .filter((f) => f !== sourcePath(fileURLToPath(import.meta.url)))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  const missing: string[] = [];
  for (const file of files(path.join(ROOT, 'src/db'), '.ts')) {
    for (const [, name] of readFileSync(file, 'utf8').matchAll(/^export async function (\w+)/gm)) {
      if (!new RegExp(`\\b${name}\\(`).test(tests)) missing.push(`${path.relative(ROOT, file)}: ${name}`);
    }
  }
  assert.deepEqual(missing, [], 'exported from src/db/ but called by no test');
});
