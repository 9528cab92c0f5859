/**
 * The tests run compiled: `npm run typecheck` emits src/, test/ and scripts/ as JavaScript into
 * .tmp/build/ (the type-check and the emit are one pass of tsc), and node's test runner runs
 * .tmp/build/test/**\/*.test.js with no loader hook. Through `--import tsx` every module a test
 * process imports goes through the loader's hooks and transform, about one CPU-second per test
 * file on this kind of machine, and the suite starts over a hundred test files on each run.
 *
 * .tmp/build/ is a mirror of the checkout: besides the emitted .js (and source maps, for stack
 * traces that name the .ts lines), every other file of src/, test/ and scripts/ (the .ts sources
 * themselves, fixtures, vectors) and every other top-level entry (sql/, migrations/, docs/,
 * package.json, dist/, bin/ ...) is a symbolic link to the checkout's. So a path a test or module
 * builds from its own import.meta.url (`../../sql/`, `../fixtures/tls/`) finds the same file in
 * the mirror as in the checkout, and node_modules is found by node's usual walk up to the checkout.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root, also when this module runs from the mirror. */
export const ROOT = checkoutRoot();
export const BUILD_DIR = path.join(ROOT, '.tmp', 'build');
/** tsconfig.json's "include". */
const INCLUDED = ['src', 'test', 'scripts'];
/** The directories tsc emits into: those, and supabase/ whose Edge Function handler a test imports. */
const COMPILED = [...INCLUDED, 'supabase'];
/** Top-level entries the mirror does not link: its own, and what node or git find elsewhere. */
const NOT_LINKED = new Set([...COMPILED, '.tmp', '.git', 'node_modules']);

function checkoutRoot(): string {
  const here = fileURLToPath(new URL('../../', import.meta.url));
  const marker = `${path.sep}.tmp${path.sep}build${path.sep}`;
  const at = here.lastIndexOf(marker);
  return at >= 0 ? here.slice(0, at + 1) : here;
}

/** The mirror's file for a checkout file (test/a.test.ts → .tmp/build/test/a.test.js), and back. */
export function compiledPath(file: string): string {
  return path.join(BUILD_DIR, path.relative(ROOT, path.resolve(file))).replace(/\.ts$/, '.js');
}
export function sourcePath(file: string): string {
  const relative = path.relative(BUILD_DIR, path.resolve(file));
  return relative.startsWith('..') ? path.resolve(file) : path.join(ROOT, relative).replace(/\.js$/, '.ts');
}

/**
 * The .ts files under `dir` (not .d.ts) whose compiled file, `outputOf(source)`, is older than
 * them, or missing where `missingCounts(source)` says a missing one is out of date. Shared with
 * test/support/cli.ts's check of dist/.
 */
export function outdatedSources(dir: string, outputOf: (source: string) => string, missingCounts: (source: string) => boolean = () => true): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return outdatedSources(full, outputOf, missingCounts);
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) return [];
    const output = outputOf(full);
    return (existsSync(output) ? statSync(output).mtimeMs < statSync(full).mtimeMs : missingCounts(full)) ? [full] : [];
  });
}

/** The sources whose .js in the mirror is older, or missing where tsc always emits one. */
function staleSources(): string[] {
  // Outside tsconfig.json's "include" a file is compiled only when imported (a Deno entry is not).
  const included = (source: string) => INCLUDED.includes(path.relative(ROOT, source).split(path.sep)[0]!);
  return COMPILED.filter((dir) => existsSync(path.join(ROOT, dir))).flatMap((dir) => outdatedSources(path.join(ROOT, dir), compiledPath, included));
}

/** A symbolic link at `link` to `target`, replacing a different one. */
function ensureLink(target: string, link: string): void {
  try {
    const st = lstatSync(link);
    if (!st.isSymbolicLink()) return; // a file tsc wrote (an imported .json): it is the same content
    if (readlinkSync(link) === target) return;
    unlinkSync(link);
  } catch {
    // missing
  }
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(target, link);
}

/**
 * Links every file of the checkout that tsc does not emit into the mirror (see the top of this
 * file): a directory tsc never writes to as one link, the compiled ones file by file (a link to
 * such a directory would let tsc write into the checkout). Links to files since deleted, and .js
 * of deleted sources, are removed.
 */
function linkTheRest(): void {
  for (const entry of readdirSync(ROOT)) {
    if (!NOT_LINKED.has(entry)) ensureLink(path.join(ROOT, entry), path.join(BUILD_DIR, entry));
  }
  const link = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) link(full);
      else ensureLink(full, path.join(BUILD_DIR, path.relative(ROOT, full)));
    }
  };
  const prune = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) prune(full);
      else if (entry.isSymbolicLink() ? !existsSync(full) : !existsSync(sourcePath(full.replace(/\.js\.map$/, '.js')))) unlinkSync(full);
    }
  };
  for (const dir of COMPILED) {
    if (existsSync(path.join(ROOT, dir))) link(path.join(ROOT, dir));
    if (existsSync(path.join(BUILD_DIR, dir))) prune(path.join(BUILD_DIR, dir));
  }
}

/**
 * Makes the mirror current: runs `npm run typecheck`, which emits it, when a .ts is newer than its
 * .js (`npm test` has just run it; a file run on its own after an edit has not), then links the
 * rest. Type errors do not stop the emit: the type-check reports them. Returns whether the
 * mirror can be run (false when tsc emitted nothing for a stale file).
 */
export function ensureCompiled(): boolean {
  const stale = staleSources();
  if (stale.length) {
    // tsc's incremental state says what it emitted, not whether the file is still there: with a
    // .js missing it starts over.
    if (stale.some((f) => !existsSync(compiledPath(f)))) rmSync(path.join(ROOT, BUILD_INFO), { force: true });
    spawnSync('npm', ['run', '--silent', 'typecheck'], { cwd: ROOT, stdio: 'inherit' });
    // A source touched but not changed is not emitted again: its .js is current.
    const now = new Date();
    for (const f of staleSources()) if (existsSync(compiledPath(f))) utimesSync(compiledPath(f), now, now);
    if (staleSources().length) return false;
  }
  linkTheRest();
  return true;
}

/** Where package.json's "typecheck" keeps tsc's incremental state for the project (--tsBuildInfoFile). */
const BUILD_INFO = '.tmp/tsc/project.tsbuildinfo';
