#!/usr/bin/env node
/**
 * `npm run typecheck`: `tsc -b` over tsconfig.check.json (src/, test/ and scripts/, written as
 * JavaScript into .tmp/build/ for the tests: test/support/compiled.ts) and
 * supabase/functions/tsconfig.json (the Edge Functions, checked only). `tsc -b` skips a project
 * none of whose sources changed since its last check without errors, but it does not look at
 * node_modules: when npm-shrinkwrap.json changed since that check (a dependency's types may have),
 * its state in .tmp/tsc/ is dropped first, so everything is checked again.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const state = path.join(root, '.tmp', 'tsc');
const stamp = path.join(state, 'npm-shrinkwrap.sha256');
const lock = createHash('sha256').update(readFileSync(path.join(root, 'npm-shrinkwrap.json'))).digest('hex');
let checkedWith = '';
try {
  checkedWith = readFileSync(stamp, 'utf8');
} catch {
  // no check yet
}
if (checkedWith !== lock) {
  for (const file of ['project.tsbuildinfo', 'functions.tsbuildinfo']) rmSync(path.join(state, file), { force: true });
  mkdirSync(state, { recursive: true });
  writeFileSync(stamp, lock);
}
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.check.json', 'supabase/functions/tsconfig.json'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
