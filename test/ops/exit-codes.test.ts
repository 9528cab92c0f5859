/**
 * The exit-code table of docs/reference/cli.md, kept true: every code it lists is produced by the real command
 * line (`sms-outbox ...` and `npm run bench:*` as child processes) in at least one case of that
 * row, and no case exits with a code the table does not list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../../src/db/embedded.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess } from '../support/worker-process.js';
import { ROOT, runCli, type CliResult } from './helpers.js';

const documented = (() => {
  const page = readFileSync(path.join(ROOT, 'docs/reference/cli.md'), 'utf8');
  const start = page.indexOf('\n## Exit codes\n');
  assert.ok(start >= 0, 'docs/reference/cli.md has "## Exit codes"');
  const next = page.indexOf('\n## ', start + 5);
  const table = page.slice(start, next < 0 ? undefined : next);
  return [...table.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1]));
})();

/** Exit codes seen per case, to compare with the table at the end. */
const seen = new Map<number, string[]>();
function expectExit(what: string, code: number | string | null, want: number, detail = ''): void {
  assert.equal(code, want, `${what}: exit ${code}, want ${want}. ${detail}`);
  seen.set(want, [...(seen.get(want) ?? []), what]);
}

function npmRun(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const noStack = (r: CliResult) => assert.doesNotMatch(`${r.stdout}${r.stderr}`, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');

let tdb: TestDatabase;
let empty: TestDatabase;
let sim: Simulator;
let closedPort: number;
let scratch: string;

before(async () => {
  [tdb, empty] = await Promise.all([createTestDatabase(), createTestDatabase({ migrated: false })]);
  sim = await startSimulator({ receiptDelayMs: 10 });
  closedPort = await freePort();
  scratch = mkdtempSync(path.join(tmpdir(), 'sms-outbox-exit-'));
});

after(async () => {
  await sim?.stop();
  await Promise.all([tdb?.drop(), empty?.drop()]);
  rmSync(scratch, { recursive: true, force: true });
});

const workerEnv = () => ({ DATABASE_URL: tdb.url, SMPP_URL: `smpp://exitcodes:Exit-Codes-Pw-77@127.0.0.1:${sim.port}`, SMS_SHUTDOWN_TIMEOUT_S: '5' });

describe('0: the command finished, or the worker stopped cleanly', () => {
  test('sms-outbox --help and status', async () => {
    const help = await runCli({}, ['--help']);
    expectExit('sms-outbox --help', help.code, 0);
    assert.match(help.stdout, /^Usage: sms-outbox <command>/m);
    const status = await runCli({ DATABASE_URL: tdb.url }, ['status']);
    expectExit('sms-outbox status', status.code, 0, status.stderr);
  });

  test('npm run bench:smpp -- --help and bench:enqueue -- --help print their usage', async () => {
    for (const script of ['bench:smpp', 'bench:enqueue']) {
      const r = await npmRun([script, '--', '--help']);
      expectExit(`npm run ${script} -- --help`, r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: npm run ${script} -- \\[options\\]`, 'm'));
      assert.equal(r.stderr, '');
    }
  });

  test('the worker after SIGTERM', async () => {
    const w = startWorkerProcess(workerEnv());
    await w.waitForLog(/SMPP session bound/);
    expectExit('worker, SIGTERM', await w.stop('SIGTERM'), 0, w.stderr());
  });
});

describe('1: a second signal cuts the drain short', () => {
  test('SIGTERM then SIGINT', async () => {
    const w = startWorkerProcess(workerEnv());
    await w.waitForLog(/SMPP session bound/);
    w.child.kill('SIGTERM');
    w.child.kill('SIGINT');
    expectExit('worker, SIGTERM then SIGINT', await w.exited, 1, w.stderr());
    await w.waitForLog(/second signal: exiting now/);
  });
});

describe('64: a bad command line', () => {
  test('no command, an unknown command, an unknown option, a bad value', async () => {
    const cases: [string, string[], RegExp][] = [
      ['sms-outbox', [], /^sms-outbox: a command is required\n\nsms-outbox: a Postgres-native SMS outbox/],
      ['sms-outbox frobnicate', ['frobnicate'], /^sms-outbox: unknown command "frobnicate"\n/],
      ['sms-outbox worker --window 5', ['worker', '--window', '5'], /^sms-outbox worker: Unknown option '--window'/],
      ['sms-outbox bench --messages 0', ['bench', '--messages', '0'], /^sms-outbox bench: --messages expects a whole number of 1 or more, got "0"\n$/],
      ['sms-outbox simulator --port x', ['simulator', '--port', 'x'], /^sms-outbox simulator: --port expects a whole number from 0 to 65535, got "x"\n$/],
    ];
    for (const [what, args, stderr] of cases) {
      const r = await runCli({}, args);
      expectExit(what, r.code, 64, r.stderr);
      assert.match(r.stderr, stderr, what);
      noStack(r);
    }
  });

  test('npm run bench:smpp / bench:enqueue with a bad option', async () => {
    const smpp = await npmRun(['bench:smpp', '--', '--bogus']);
    expectExit('npm run bench:smpp -- --bogus', smpp.code, 64, smpp.stderr);
    assert.match(smpp.stderr, /^bench:smpp: Unknown option '--bogus'/);
    noStack(smpp);
    const enqueue = await npmRun(['bench:enqueue', '--', '--connections', 'many']);
    expectExit('npm run bench:enqueue -- --connections many', enqueue.code, 64, enqueue.stderr);
    assert.equal(enqueue.stderr, 'bench:enqueue: --connections expects a whole number from 1 to 1000, got "many"\n');
  });
});

describe('69: Postgres unreachable at start', () => {
  test('the worker, DATABASE_URL on a closed port', async () => {
    const r = await runCli({ ...workerEnv(), DATABASE_URL: `postgres://nobody@127.0.0.1:${closedPort}/app` });
    expectExit('worker, Postgres refused', r.code, 69, r.stderr);
    noStack(r);
  });
});

describe('70: an uncaught exception in the worker', () => {
  test('a bug thrown on the event loop is logged as fatal, then exit 70', async () => {
    // The fault is injected from outside the product: a preloaded module that throws on SIGUSR2.
    const fault = path.join(scratch, 'throw-on-sigusr2.mjs');
    writeFileSync(fault, "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('injected fault for the exit-code test'); }));\n");
    const w = startWorkerProcess({ ...workerEnv(), NODE_OPTIONS: `--import=${pathToFileURL(fault).href}` });
    await w.waitForLog(/SMPP session bound/);
    w.child.kill('SIGUSR2');
    expectExit('worker, uncaught exception', await w.exited, 70, w.stderr());
    const fatal = await w.waitForLog(/uncaught exception; exiting/);
    assert.equal(fatal.level, 60);
    assert.match(JSON.stringify(fatal.err), /injected fault for the exit-code test/);
  });
});

describe('78: the configuration or the schema must be fixed first', () => {
  test('a bad variable, and the schema missing for the worker and for status alike', async () => {
    const bad = await runCli({ ...workerEnv(), SMPP_WINDOW: 'ten' });
    expectExit('worker, SMPP_WINDOW=ten', bad.code, 78, bad.stderr);
    const worker = await runCli({ ...workerEnv(), DATABASE_URL: empty.url });
    expectExit('worker, no schema', worker.code, 78, worker.stderr);
    const status = await runCli({ DATABASE_URL: empty.url }, ['status']);
    expectExit('status, no schema', status.code, 78, status.stderr);
    for (const r of [worker, status]) {
      assert.match(r.stderr.trim(), /^sms-outbox (worker|status): DATABASE_URL \(database "\w+" .*\): the sms-outbox schema is not installed in this database.*: run `sms-outbox migrate` \(with the same DATABASE_URL\) first$/);
      noStack(r);
    }
  });
});

test('the table of docs/reference/cli.md lists exactly the codes produced above', () => {
  assert.deepEqual([...seen.keys()].sort((a, b) => a - b), [...documented].sort((a, b) => a - b), `seen: ${JSON.stringify(Object.fromEntries(seen))}`);
});
