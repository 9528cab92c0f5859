#!/usr/bin/env node
/**
 * `npm run typecheck`: `tsc -b` over tsconfig.check.json (src/, test/ and scripts/, written as
 * JavaScript into .tmp/build/ for the tests: test/support/compiled.ts) and
 * supabase/functions/tsconfig.json (the Edge Functions, checked only). `tsc -b` skips a project
 * none of whose sources changed since its last check without errors, but it does not look at
 * node_modules: when npm-shrinkwrap.json is not the one the last finished check saw (a
 * dependency's types may have changed), it runs with --force, which checks everything again.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = path.join(root, '.tmp', 'tsc', 'npm-shrinkwrap.sha256');
const lock = createHash('sha256').update(readFileSync(path.join(root, 'npm-shrinkwrap.json'))).digest('hex');
let checkedWith = '';
try {
  checkedWith = readFileSync(stamp, 'utf8');
} catch {
  // no check yet
}
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const force = checkedWith === lock ? [] : ['--force'];
const r = spawnSync(process.execPath, [tsc, '-b', ...force, 'tsconfig.check.json', 'supabase/functions/tsconfig.json'], { cwd: root, stdio: 'inherit' });
// A check that ran to its end (errors or not: -b reports those again next time) saw this lockfile.
if (r.status !== null) {
  mkdirSync(path.dirname(stamp), { recursive: true });
  writeFileSync(stamp, lock);
}
process.exit(r.status ?? 1);
