/**
 * The embedded Postgres (src/db/embedded.ts) is never left running by a process that dies without
 * stopping it: a real child process starts a cluster and is killed with SIGKILL, so no exit hook
 * runs; the cluster's postmaster must go too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
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

test('a process killed with SIGKILL leaves no embedded Postgres running', { skip: process.platform !== 'linux' }, async () => {
  const script = `
    import { startEmbeddedPostgres } from './src/db/embedded.ts';
    const pg = await startEmbeddedPostgres({ settings: { fsync: 'off' } });
    const pid = Number((await import('node:fs')).readFileSync(pg.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0]);
    process.stdout.write(JSON.stringify({ pid, dataDir: pg.dataDir }) + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = await new Promise<{ pid: number; dataDir: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.on('exit', (code) => reject(new Error(`the child exited (${code}) before its cluster was up`)));
  });
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
