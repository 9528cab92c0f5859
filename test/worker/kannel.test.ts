/**
 * `sms-outbox bench --kannel` (src/bench/kannel.ts): a tiny run of the real command line, as the
 * figures of docs/performance.md are taken, checks that every message went through Kannel's smsbox
 * and bearerbox to the simulator and came back as a delivered receipt on the dlr-url, with receipts
 * in memory and in PostgreSQL, beside sms-outbox's own run; that Kannel's database is dropped and
 * no Kannel process outlives the command; and that a Kannel dying mid-run fails the run and takes
 * the other box with it.
 *
 * Needs Kannel (Debian: apt-get install kannel; its service is not used). Without bearerbox and
 * smsbox the tests are skipped with a notice, unless SMS_TEST_REQUIRE_KANNEL=1 (set by .ci/run):
 * then they fail.
 */
import assert from 'node:assert/strict';
import { createServer as createTcpServer } from 'node:net';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { findKannel, freeKannelPorts, startKannel, type KannelPorts } from '../../src/bench/kannel-boxes.js';
import { runKannelBench } from '../../src/bench/kannel.js';
import { startSimulator } from '../../src/simulator/index.js';
import { runCli } from '../ops/helpers.js';
import { databaseExists, serverUrl } from '../support/db.js';
import { waitFor } from '../support/wait.js';

const installed = findKannel() !== undefined;
const required = process.env.SMS_TEST_REQUIRE_KANNEL === '1';
const skip = !installed && !required ? 'Kannel is not installed (bearerbox and smsbox; Debian: apt-get install kannel)' : false;
if (skip) process.stderr.write(`kannel.test.ts: skipped: ${skip}\n`);

/** A temporary directory of this test's own: Kannel's configuration lands under it, so its processes can be told apart. */
const TMP = mkdtempSync(path.join(tmpdir(), 'kannel-test-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

/** Processes whose command line names something under `dir` (Kannel's, given its kannel.conf there). */
function processesUnder(dir: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(dir) && /bearerbox|smsbox/.test(cmd)) out.push({ pid: Number(p), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('bench --kannel: every message delivered through Kannel, receipts in memory and in PostgreSQL, beside sms-outbox', { skip }, async () => {
  assert.ok(installed, 'SMS_TEST_REQUIRE_KANNEL=1 but bearerbox and smsbox are not installed');
  const dir = mkdtempSync(path.join(TMP, 'cli-'));
  const messages = 36;
  const r = await runCli(
    { DATABASE_URL: serverUrl(), LOG_LEVEL: 'warn', TMPDIR: dir },
    ['bench', '--kannel', '--json', '--no-baseline', '--messages', String(messages), '--connections', '4', '--window', '10',
      '--response-delay-ms', '20', '--receipt-delay-ms', '10', '--light-rate', '10', '--light-seconds', '1'],
    180_000,
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, any>;
  assert.equal(out.ours.messages, messages);
  assert.equal(out.ours.duplicates, 0);
  assert.ok(out.ours.endToEndPerSecond > 0);
  assert.deepEqual(out.kannel.map((k: any) => k.dlrStorage), ['memory', 'pgsql']);
  for (const k of out.kannel) {
    assert.match(k.kannel, /^\d+\.\d+/, 'the Kannel version');
    assert.equal(k.messages, messages);
    assert.equal(k.delivered, messages, `every message's delivered receipt reached the dlr-url (${k.dlrStorage})`);
    assert.equal(k.failed, 0);
    assert.equal(k.duplicates, 0);
    assert.equal(k.window, 10);
    assert.equal(k.responseDelayMs, 20);
    assert.equal(k.idealPerSecond, 500, '10 / 20 ms');
    assert.ok(k.endToEndPerSecond > 0 && k.endToEndSeconds > 0 && k.sendPerSecond > 0, JSON.stringify(k));
    // Kannel's CPU is read in clock ticks (10 ms) over a send phase of a fraction of a second:
    // with 36 messages it can round to 0, so only its presence is checked here.
    assert.ok(Number.isFinite(k.cpuMsPerMessage.kannel) && k.cpuMsPerMessage.kannel >= 0 && k.loadAverage.length === 3, JSON.stringify(k));
  }
  assert.equal(out.kannel[0].database, null);
  assert.match(out.kannel[1].database, /^sms_bench_kannel_\d+$/);
  assert.equal(await databaseExists(out.kannel[1].database), false, "Kannel's database is dropped");
  assert.ok(out.oursOver.memory > 0 && out.oursOver.pgsql > 0, JSON.stringify(out.oursOver));
  assert.deepEqual(processesUnder(dir), [], 'no Kannel process outlives the command');
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('sms-bench-kannel-')), [], "Kannel's configuration and logs are removed after a good run");
});

test('bench --kannel: bearerbox dying mid-run fails the run, and smsbox is stopped too', { skip }, async () => {
  const dir = mkdtempSync(path.join(TMP, 'die-'));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  let killed: number | undefined;
  try {
    // Window 1 and 200 ms per response: the run lasts seconds, long past the first progress report.
    const run = runKannelBench({
      dlr: 'memory', messages: 30, connections: 2, window: 1, responseDelayMs: 200, receiptDelayMs: 0,
      progress: () => {
        if (killed !== undefined) return;
        const box = processesUnder(dir).find((p) => p.cmd.includes('bearerbox'));
        if (box) process.kill((killed = box.pid), 'SIGKILL');
      },
    });
    await assert.rejects(run, /bearerbox exited/);
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
  assert.ok(killed, 'bearerbox was found and killed');
  assert.deepEqual(processesUnder(dir), [], 'smsbox is stopped with the failed run');
});

/**
 * A stand-in for smsbox that does what the real one does once bearerbox is gone (it logs
 * "Bearerbox is gone, restarting" and starts itself again): it leaves a process of its own
 * behind when it exits. It answers on its sendsms port, as startKannel waits for, and exits at
 * once on SIGTERM.
 */
const LEAVING_SMSBOX = `#!/usr/bin/env node
const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { createServer } = require('node:http');
const conf = process.argv[process.argv.length - 1];
if (process.argv.includes('--left-behind')) {
  setInterval(() => {}, 60_000);
} else {
  const port = Number(/sendsms-port = (\\d+)/.exec(readFileSync(conf, 'utf8'))[1]);
  spawn(process.execPath, [__filename, '--left-behind', conf], { stdio: 'ignore' });
  createServer((req, res) => res.end('ok')).listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
`;

test('stopping Kannel stops every process of each box\'s group, also one the box left behind', { skip }, async () => {
  const dir = mkdtempSync(path.join(TMP, 'group-'));
  const smsbox = path.join(dir, 'smsbox');
  writeFileSync(smsbox, LEAVING_SMSBOX);
  chmodSync(smsbox, 0o755);
  const sim = await startSimulator({ receiptDelayMs: 0 });
  try {
    const boxes = await startKannel({ bearerbox: findKannel()!.bearerbox, smsbox }, { dir, smscPort: sim.port, window: 1, dlr: 'memory' }, () => {});
    await waitFor('the process the stand-in leaves behind', () => processesUnder(dir).some((p) => p.cmd.includes('--left-behind')));
    await boxes.stop();
    assert.deepEqual(processesUnder(dir), [], 'nothing of either box is left');
  } finally {
    await sim.stop();
  }
});

test('a box whose port another process took meanwhile is started again on new ports', { skip }, async () => {
  const dir = mkdtempSync(path.join(TMP, 'taken-'));
  const sim = await startSimulator({ receiptDelayMs: 0 });
  // What freePort() cannot rule out: the port it chose is taken before bearerbox listens on it.
  const taker = createTcpServer();
  await new Promise<void>((r) => taker.listen(0, '127.0.0.1', r));
  const taken = (taker.address() as { port: number }).port;
  const attempts: KannelPorts[] = [];
  try {
    const boxes = await startKannel(findKannel()!, { dir, smscPort: sim.port, window: 1, dlr: 'memory' }, () => {}, {
      choosePorts: async () => {
        const ports = attempts.length === 0 ? { ...(await freeKannelPorts()), smsbox: taken } : await freeKannelPorts();
        attempts.push(ports);
        return ports;
      },
    });
    try {
      assert.equal(attempts.length, 2, 'one attempt on the taken port, then one on new ports');
      assert.deepEqual(boxes.ports, attempts[1]);
      assert.match(readFileSync(path.join(dir, 'kannel.conf'), 'utf8'), new RegExp(`smsbox-port = ${attempts[1]!.smsbox}\\b`));
    } finally {
      await boxes.stop();
    }
    assert.deepEqual(processesUnder(dir), [], 'nothing of the first attempt is left');
  } finally {
    taker.close();
    await sim.stop();
  }
});
