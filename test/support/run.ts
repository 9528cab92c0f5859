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
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { maskSecretUrl } from '../../src/secrets.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
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

async function main(): Promise<number> {
  const files = process.argv.slice(2).length ? process.argv.slice(2) : findTests('test');
  let embedded: EmbeddedPostgresHandle | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    process.stdout.write(`test: using DATABASE_URL ${maskSecretUrl(serverUrl)}\n`);
  } else {
    process.stdout.write('test: DATABASE_URL is unset, starting an embedded Postgres\n');
    // A throw-away cluster: durability settings off make it faster and change nothing tested.
    embedded = await startEmbeddedPostgres({ settings: { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off' } });
    serverUrl = embedded.url;
    process.stdout.write(`test: embedded Postgres on 127.0.0.1:${embedded.port}\n`);
  }
  const template = `sms_test_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  let code = 1;
  const tapDir = mkdtempSync(path.join(tmpdir(), 'sms-outbox-tap-'));
  try {
    await admin.query(`drop database if exists ${template}`);
    await admin.query(`create database ${template}`);
    await migrate(withDatabase(serverUrl, template));
    const tapFile = path.join(tapDir, 'report.tap');
    const concurrency = process.env.TEST_CONCURRENCY ?? '3';
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        `--test-concurrency=${concurrency}`,
        // A test waiting on a lock or a dead process fails after 10 minutes instead of hanging CI.
        // The bound applies to each file as a whole: the longest (test/worker/faults.test.ts, the
        // upgrade of every released state) take a few minutes when the machine is busy.
        `--test-timeout=${process.env.TEST_TIMEOUT_MS ?? 600_000}`,
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tapFile}`,
        ...files,
      ],
      {
        stdio: 'inherit',
        env: { ...process.env, SMS_TEST_SERVER_URL: serverUrl, SMS_TEST_TEMPLATE: template, DATABASE_URL: '' },
      },
    );
    const stop = () => child.kill('SIGINT');
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
    const tap = readFileSync(tapFile, 'utf8');
    const count = (label: string) => Number(new RegExp(`^# ${label} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
    process.stdout.write(`\n${count('pass')} passed, ${count('fail')} failed\n`);
  } finally {
    rmSync(tapDir, { recursive: true, force: true });
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
