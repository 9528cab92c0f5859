/**
 * Every `sql` and `sh` block of the README and of docs/ runs, page by page, in the order the page
 * gives them, as a reader would run them:
 *
 * - SQL blocks on a fresh migrated database of their own per page (a Supabase-like one for the
 *   Supabase guide), as its owner, after a fixture that stands for what the reader already has:
 *   a default sender, the tables `orders` and `accounts` the examples update, the login roles
 *   they grant to (unless the page creates them), and on the operations guide a parked row 42.
 * - Shell blocks in bash, one page's blocks sharing the variables they set (`db`, `id`, ...),
 *   with `set -e`: a failing command fails the block. A block that is exactly `npm start` starts
 *   the demo as the reader does (`npm start` in the checkout), in the background; the simulator's
 *   reference page talks to the one the first such page left running (one is started for it when
 *   none runs).
 * - `<!-- run: until TEXT -->` before a block runs it again, up to 30 s, until its output shows
 *   TEXT. `<!-- not run: REASON -->` skips a block, with its reason; `<!-- guide: STEP -->` and
 *   `<!-- local: STEP -->` belong to scripts/check-production-guide.sh (checked here to match it).
 *
 * Only what must differ between runs is substituted, and the test names it on failure: the
 * demo's ports (55432, 2775, 2776: free ports, passed as --postgres-port, --smpp-port,
 * --control-port), role names and role prefixes (roles are server-wide: a unique suffix),
 * database addresses (`postgres://owner@db/NAME`, the Supabase one: databases of this test), and
 * `npx sms-outbox` (the checkout's bin when dist/ is current, else src/cli.ts through tsx:
 * test/support/cli.ts). Uses 127.0.0.1 only.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/db/embedded.js';
import { cliCommandLine } from '../support/cli.js';
import { createTestDatabase, serverUrl, testPool, withDatabase } from '../support/db.js';
import { createSupabaseDatabase } from '../supabase/support.js';
import { blocks, docFiles, ROOT, type Block } from './markdown.js';

const RUN_UNTIL_MS = 30_000;
/** The login roles the examples grant to or log in as: the reader's own, made by the fixture. */
const READER_ROLES = ['my_app', 'my_dashboard', 'sms_worker_login', 'shop_app', 'billing_worker'];
/** Role prefixes the examples install databases with. */
const PREFIXES = ['shop_sms_', 'billing_sms_'];

const FIXTURE = `
  update sms_settings set default_sender = 'MyBrand';
  create table orders (id integer primary key, status text not null default 'new', phone text not null default '+79991234567');
  insert into orders (id) values (42);
  create table accounts (id integer primary key, phone_verified_at timestamptz);
  insert into accounts values (42, now());`;

const PAGE_FIXTURES: Record<string, string> = {
  'docs/guides/operations.md': `
    insert into sms_inbound_parked (id, kind, command_id, pdu, sender, recipient, error_code, error_message) overriding system value
    values (42, 'mo', 5, '\\x00'::bytea, '79991234567', '1234', '23514', 'new row for relation "sms_inbox" violates check constraint "my_check"')`,
};
/**
 * Pages whose shell blocks talk to a running demo without starting it themselves ("With the demo
 * running (`npm start`)"): they get the one the first page that ran `npm start` left running, as a
 * reader who followed that page has it, or one started for them.
 */
const DEMO_STARTED_FOR = new Set(['docs/reference/simulator.md']);

const runnable = (b: Block) => b.lang === 'sql' || b.lang === 'sh';

function markerOf(b: Block): { kind: 'none' | 'until' | 'not-run' | 'guide' | 'local'; arg: string } {
  if (!b.marker) return { kind: 'none', arg: '' };
  const m = /^(run: until|not run:|guide:|local:) (.+)$/.exec(b.marker);
  if (!m) throw new Error(`${b.file}:${b.line}: unknown marker <!-- ${b.marker} -->`);
  const kind = ({ 'run: until': 'until', 'not run:': 'not-run', 'guide:': 'guide', 'local:': 'local' } as const)[m[1] as 'guide:'];
  return { kind, arg: m[2]!.trim() };
}

const pages = docFiles()
  .map((file) => ({ file, blocks: blocks(file).filter(runnable) }))
  .filter((p) => p.blocks.length);

describe('the markers', () => {
  test('every marker is known; not-run blocks give a reason, and are few', () => {
    const notRun: string[] = [];
    for (const { blocks: bs } of pages) {
      for (const b of bs) {
        const m = markerOf(b);
        if (m.kind === 'not-run') {
          assert.ok(m.arg.split(/\s+/).length >= 3, `${b.file}:${b.line}: say why it is not run`);
          notRun.push(`${b.file}:${b.line}: ${m.arg}`);
        }
      }
    }
    assert.ok(notRun.length <= 6, `more blocks are left unrun than a few:\n${notRun.join('\n')}`);
  });

  test('guide: and local: blocks are the production guide\'s, as scripts/check-production-guide.sh knows them', () => {
    const script = readFileSync(path.join(ROOT, 'scripts/check-production-guide.sh'), 'utf8');
    for (const kind of ['guide', 'local'] as const) {
      const steps = pages.flatMap((p) => p.blocks.map((b) => ({ b, m: markerOf(b) }))).filter(({ m }) => m.kind === kind);
      for (const { b } of steps) assert.equal(b.file, 'docs/guides/production.md', `${b.file}:${b.line}`);
      const names = steps.map(({ m }) => m.arg).join(' ');
      const known = kind === 'guide' ? /marker=guide\n\s+STEPS=\(([^)]*)\)/.exec(script) : /marker=local\n\s+STEPS=\(([^)]*)\)/.exec(script);
      assert.equal(names, known?.[1], `the ${kind} steps of the page and of the script`);
    }
  });
});

/** Everything one page's run made, to undo. */
class PageRun {
  readonly tag: string;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'sms-docs-'));
  readonly state = path.join(this.dir, 'state.sh');
  databases: string[] = [];
  roles: string[] = [];
  prefixes: string[] = [];
  demo?: { child: ChildProcess; ports: { postgres: number; smpp: number; control: number }; log: string[] };
  substitutions: [RegExp, string][] = [];
  url = '';
  supabaseDrop?: () => Promise<void>;

  constructor(
    readonly file: string,
    index: number,
  ) {
    this.tag = `d${process.pid}_${index}`;
  }

  substitute(code: string): string {
    return this.substitutions.reduce((text, [from, to]) => text.replace(from, to), code);
  }

  async startDemo(): Promise<void> {
    const ports = { postgres: await freePort(), smpp: await freePort(), control: await freePort() };
    const log: string[] = [];
    const args = ['start', '--', '--postgres-port', String(ports.postgres), '--smpp-port', String(ports.smpp), '--control-port', String(ports.control)];
    const child = spawn('npm', args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info' } });
    this.demo = { child, ports, log };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not say it was running within 90 s:\n${log.join('')}`)), 90_000);
      const onData = (d: Buffer) => {
        log.push(d.toString());
        if (log.join('').includes('sms-outbox dev is running')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`npm start exited (${code}):\n${log.join('')}`)));
    });
    this.useDemoPorts();
  }

  /** Talks to the demo `other` started (when it still runs) instead of starting one; whether it could. */
  borrowDemo(other: PageRun | undefined): boolean {
    const child = other?.demo?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return false;
    this.demo = other!.demo;
    this.useDemoPorts();
    return true;
  }

  private useDemoPorts(): void {
    const { ports } = this.demo!;
    this.substitutions.push([/\b55432\b/g, String(ports.postgres)], [/\b2775\b/g, String(ports.smpp)], [/\b2776\b/g, String(ports.control)]);
  }

  async stopDemo(): Promise<void> {
    const child = this.demo?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(-child.pid!, 'SIGINT');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  async cleanUp(): Promise<void> {
    await this.stopDemo().catch(() => {});
    await this.supabaseDrop?.().catch(() => {});
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      for (const db of this.databases) await admin.query(`drop database if exists ${db} with (force)`);
      const prefixed = this.prefixes.length
        ? (await admin.query<{ rolname: string }>(`select rolname from pg_roles where rolname like any ($1)`, [this.prefixes.map((p) => `${p.replace(/_/g, '\\_')}%`)])).rows.map((r) => r.rolname)
        : [];
      for (const role of [...this.roles, ...prefixed]) await admin.query(`drop role if exists ${role}`);
    } finally {
      await admin.end();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs one shell block in bash with the page's variables; resolves with its exit code and output. */
function runShell(run: PageRun, code: string, variables: string[]): Promise<{ status: number | null; output: string }> {
  const script = [
    'set -eo pipefail',
    `[ ! -f ${JSON.stringify(run.state)} ] || . ${JSON.stringify(run.state)}`,
    code,
    `for v in ${variables.join(' ') || ':'}; do if [ "$v" != : ] && [ -n "\${!v+x}" ]; then declare -p "$v"; fi; done > ${JSON.stringify(run.state)}`,
  ].join('\n');
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', PSQLRC: '/dev/null', PGCONNECT_TIMEOUT: '10' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

describe('every sql and sh block runs', () => {
  const runs: PageRun[] = [];
  /** The run whose demo is left running for a later page of DEMO_STARTED_FOR. */
  let keptDemo: PageRun | undefined;
  after(async () => {
    for (const run of runs) await run.cleanUp();
  });

  test('psql and curl are installed (the shell blocks use them)', () => {
    for (const tool of ['psql', 'curl', 'bash']) {
      assert.equal(spawnSync(tool, ['--version']).status, 0, `${tool} is missing (Debian: apt-get install postgresql-client curl); .ci/run installs it`);
    }
  });

  pages.forEach(({ file, blocks: pageBlocks }, index) => {
    test(file, { timeout: 10 * 60_000 }, async (t) => {
      const run = new PageRun(file, index);
      runs.push(run);
      // What the blocks run here do (the production guide's own steps are the script's).
      const all = pageBlocks.filter((b) => ['none', 'until'].includes(markerOf(b).kind)).map((b) => b.code).join('\n');
      const created = new Set([...all.matchAll(/create role (\w+)/gi)].map((m) => m[1]!));

      // Roles are server-wide: each of the reader's roles and prefixes gets this run's suffix.
      for (const role of READER_ROLES) {
        run.substitutions.push([new RegExp(`\\b${role}\\b`, 'g'), `${role}_${run.tag}`]);
        run.roles.push(`${role}_${run.tag}`);
      }
      for (const prefix of PREFIXES) {
        run.substitutions.push([new RegExp(`\\b${prefix}`, 'g'), `${prefix}${run.tag}_`]);
        run.prefixes.push(`${prefix}${run.tag}_`);
      }
      run.substitutions.push([/\bnpx sms-outbox\b/g, cliCommandLine()]);

      // The page's database, as its owner.
      let owner: pg.Pool;
      if (file === 'docs/guides/supabase.md') {
        const sdb = await createSupabaseDatabase({ defaultSender: 'MyBrand' });
        run.supabaseDrop = () => sdb.drop();
        run.url = sdb.ownerUrl;
        owner = sdb.pool;
        await owner.query(FIXTURE.replace(/update sms_settings[^;]*;/, ''));
      } else {
        const tdb = await createTestDatabase();
        run.databases.push(tdb.name);
        await tdb.pool.end();
        run.url = tdb.url;
        owner = testPool({ connectionString: tdb.url, max: 2 });
        await owner.query(FIXTURE);
      }
      try {
        const admin = testPool({ connectionString: serverUrl(), max: 1 });
        try {
          for (const role of READER_ROLES) if (!created.has(role)) await admin.query(`create role ${role}_${run.tag} login`);
          // The databases the page names by address: created empty, as a reader's would be.
          for (const name of new Set([...all.matchAll(/postgres:\/\/owner@db\/(\w+)/g)].map((m) => m[1]!))) {
            const db = `sms_docs_${name}_${run.tag}`;
            await admin.query(`create database ${db}`);
            run.databases.push(db);
            run.substitutions.push([new RegExp(`postgres://owner@db/${name}\\b`, 'g'), withDatabase(serverUrl(), db)]);
          }
        } finally {
          await admin.end();
        }
        run.substitutions.push([/postgresql:\/\/postgres:PASSWORD@db\.PROJECT\.supabase\.co:5432\/postgres/g, run.url]);
        if (PAGE_FIXTURES[file]) await owner.query(PAGE_FIXTURES[file]!);
        if (DEMO_STARTED_FOR.has(file) && !run.borrowDemo(keptDemo)) await run.startDemo();

        const variables = [...new Set([...pageBlocks.filter((b) => b.lang === 'sh').map((b) => b.code).join('\n').matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]!))];
        for (const block of pageBlocks) {
          const where = `${file}:${block.line}`;
          const marker = markerOf(block);
          if (marker.kind === 'not-run' || marker.kind === 'guide' || marker.kind === 'local') {
            t.diagnostic(`${where}: ${marker.kind} ${marker.arg}`);
            continue;
          }
          const code = run.substitute(block.code);
          if (block.lang === 'sql') {
            await owner.query(code).catch((err: Error) => assert.fail(`${where}: ${err.message}\n${code}`));
            continue;
          }
          if (code.trim() === 'npm start') {
            await run.startDemo();
            continue;
          }
          const deadline = Date.now() + RUN_UNTIL_MS;
          for (;;) {
            const r = await runShell(run, code, variables);
            const done = r.status === 0 && (marker.kind !== 'until' || r.output.includes(marker.arg));
            if (done) break;
            if (marker.kind !== 'until' || Date.now() > deadline) {
              assert.fail(`${where}: ${marker.kind === 'until' ? `never showed "${marker.arg}"` : `exit ${r.status}`}\n--- ran:\n${code}\n--- output:\n${r.output}${run.demo ? `\n--- npm start:\n${run.demo.log.join('').slice(-3000)}` : ''}`);
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      } finally {
        await owner.end().catch(() => {});
        const later = pages.slice(index + 1).some((p) => DEMO_STARTED_FOR.has(p.file));
        if (later && !keptDemo && run.demo) keptDemo = run;
        else if (run !== keptDemo) await run.stopDemo();
      }
    });
  });
});
