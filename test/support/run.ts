/**
 * `npm test`: runs every test/**\/*.test.ts file with node's test runner against a real Postgres.
 *
 * - DATABASE_URL set: that server is used (each test file creates and drops its own database).
 * - DATABASE_URL unset: an embedded Postgres is started for the run and stopped after.
 * The migrations are applied once to a template database that each test file clones, so files
 * run in parallel against isolated, fully migrated databases. The last line is
 * `N passed, N failed`, which CI reads.
 *
 * Usage: npm test [-- test/some.test.ts ...]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { maskSecretUrl } from '../../src/secrets.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { distIsCurrent } from './cli.js';
import { compiledPath, ensureCompiled, sourcePath } from './compiled.js';
import { withDatabase } from './db.js';

function findTests(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((entry) => {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) return entry === 'support' || entry === 'vectors' ? [] : findTests(full);
      return entry.endsWith('.test.ts') ? [full] : [];
    })
    .sort();
}

/**
 * Where the last run's durations per file are kept: outside the checkout, so that a clean clone
 * (and CI's reinstall of node_modules for another Node.js) still finds them.
 */
const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'sms-outbox');
const durationsFile = path.join(cacheDir, 'test-durations.json');

/**
 * On a Node.js with a module compile cache (22.1 and later), every process of the run (the test
 * files, and the workers and tools they start, which inherit the environment) keeps the code V8
 * compiled on disk and reuses it: about 0.1 CPU-second less per process start, the same code run.
 * Node.js 20 ignores the variable. A NODE_COMPILE_CACHE already set is kept.
 */
function compileCacheEnv(): Record<string, string> {
  if (process.env.NODE_COMPILE_CACHE || !('enableCompileCache' in module)) return {};
  return { NODE_COMPILE_CACHE: path.join(cacheDir, 'node-compile-cache') };
}

/**
 * The files, longest first as the last run timed them: files run a few at a time, and a long one
 * started last would run alone at the end. A file without a recorded time (a new one) counts as
 * the median of those recorded; with none recorded (the first run), the order is by name.
 */
function orderByDuration(files: string[]): string[] {
  const known = recordedDurations();
  const key = (f: string) => path.relative(process.cwd(), path.resolve(f)).split(path.sep).join('/');
  const recorded = Object.values(known).sort((a, b) => a - b);
  const median = recorded.length ? recorded[Math.floor(recorded.length / 2)]! : 0;
  const ms = (f: string) => known[key(f)] ?? median;
  return [...files].sort((a, b) => ms(b) - ms(a) || a.localeCompare(b));
}

/** The durations recorded by earlier runs; none before the first. */
function recordedDurations(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(durationsFile, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/** What test/support/run-reporter.mjs wrote: the run's totals and each file's duration. */
interface RunReport {
  pass: number;
  fail: number;
  durations: Record<string, number>;
}

/** Keeps this run's durations for the next one, merged over the recorded ones (a partial run keeps the rest). */
function recordDurations(reported: Record<string, number>): void {
  try {
    // The reporter saw the compiled files (.tmp/build/test/a.test.js); kept under test/a.test.ts.
    const fresh = Object.fromEntries(
      Object.entries(reported).map(([file, ms]) => [path.relative(process.cwd(), sourcePath(file)).split(path.sep).join('/'), ms]),
    );
    const known = recordedDurations();
    mkdirSync(path.dirname(durationsFile), { recursive: true });
    const tmp = `${durationsFile}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ ...known, ...fresh }, null, 1));
    renameSync(tmp, durationsFile);
  } catch {
    // only the order of a later run depends on it
  }
}

/**
 * Where the embedded cluster's throw-away data directory goes: /dev/shm when it is a memory file
 * system (tmpfs) with 4 GiB free, else the system's temporary directory. Each test file clones
 * and drops a database (some 1,000 files each); on ext4 without a journal, as on the CI machine,
 * creating a file right after many were deleted walks past every inode freed in the last 30 s,
 * and that cost about a tenth of the suite's CPU (one run on the embedded Postgres: 328 CPU-s on
 * ext4, 294 with the cluster and the temporary files on /dev/shm). The same SQL runs either way.
 */
function clusterParent(): string | undefined {
  const TMPFS_MAGIC = 0x01021994;
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= 4 * 2 ** 30) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return undefined;
}

async function main(): Promise<number> {
  // The processes the tests start run the compiled package when dist/ is current
  // (test/support/cli.ts): build it first when src/ changed since. Decided once here and handed
  // to the test files as SMS_TEST_CLI, so none of them looks through src/ again.
  let cli = process.env.SMS_TEST_CLI;
  if (!cli) {
    if (!distIsCurrent()) {
      process.stdout.write('test: src/ is newer than dist/, running npm run build\n');
      spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
    }
    cli = distIsCurrent() ? 'dist' : 'tsx';
    if (cli === 'tsx') process.stdout.write('test: the build failed; the tests run src/cli.ts through tsx\n');
  }
  const files = orderByDuration(process.argv.slice(2).length ? process.argv.slice(2) : findTests('test'));
  // The test files run compiled (test/support/compiled.ts), or through tsx when tsc emitted nothing.
  const compiled = ensureCompiled();
  if (!compiled) process.stdout.write('test: tsc did not emit every file; the tests run through tsx\n');
  const runnerArgs = compiled ? ['--enable-source-maps'] : ['--import', 'tsx'];
  const runFiles = compiled ? files.map(compiledPath) : files;
  let embedded: EmbeddedPostgresHandle | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    process.stdout.write(`test: using DATABASE_URL ${maskSecretUrl(serverUrl)}\n`);
  } else {
    process.stdout.write('test: DATABASE_URL is unset, starting an embedded Postgres\n');
    // A throw-away cluster: durability settings off make it faster and change nothing tested.
    embedded = await startEmbeddedPostgres({
      temporaryParent: clusterParent(),
      settings: { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off', autovacuum: 'off' },
    });
    serverUrl = embedded.url;
    process.stdout.write(`test: embedded Postgres on 127.0.0.1:${embedded.port}\n`);
  }
  const template = `sms_test_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  let code = 1;
  const reportDir = mkdtempSync(path.join(tmpdir(), 'sms-outbox-report-'));
  try {
    await admin.query(`drop database if exists ${template}`);
    await admin.query(`create database ${template}`);
    await migrate(withDatabase(serverUrl, template));
    const reportFile = path.join(reportDir, 'report.json');
    // Four files at once keeps both cores of a 2-core machine busy while some files wait on
    // processes and sockets (with three, a sixth of the CPU stayed idle); the busiest moment
    // holds about 55 connections, well under Postgres' default max_connections of 100.
    const concurrency = process.env.TEST_CONCURRENCY ?? '4';
    const child = spawn(
      process.execPath,
      [
        ...runnerArgs,
        '--test',
        `--test-concurrency=${concurrency}`,
        // A test waiting on a lock or a dead process fails after 10 minutes instead of hanging CI.
        // The bound applies to each file as a whole: the longest (test/worker/faults.test.ts, the
        // upgrade of every released state) take a few minutes when the machine is busy.
        `--test-timeout=${process.env.TEST_TIMEOUT_MS ?? 600_000}`,
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        `--test-reporter=${fileURLToPath(new URL('./run-reporter.mjs', import.meta.url))}`,
        `--test-reporter-destination=${reportFile}`,
        ...runFiles,
      ],
      {
        stdio: 'inherit',
        env: { ...process.env, ...compileCacheEnv(), SMS_TEST_SERVER_URL: serverUrl, SMS_TEST_TEMPLATE: template, SMS_TEST_CLI: cli, DATABASE_URL: '' },
      },
    );
    const stop = () => child.kill('SIGINT');
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as RunReport;
    recordDurations(report.durations);
    process.stdout.write(`\n${report.pass} passed, ${report.fail} failed\n`);
  } finally {
    rmSync(reportDir, { recursive: true, force: true });
    await admin.query(`drop database if exists ${template} with (force)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`test runner: ${err.stack ?? err}\n`);
    process.stdout.write('\n0 passed, 1 failed\n');
    process.exit(1);
  },
);
