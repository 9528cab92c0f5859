/** SMPP over TLS against the simulator, and the `sms-outbox simulator` command. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SmppSession } from '../../src/smpp/session.js';
import { startSimulator } from '../../src/simulator/index.js';
import { cliArgs } from '../support/cli.js';
import { logger, msg, sessionOptions, until } from './helpers.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const tls = { key: fixture('smsc-test.key'), cert: fixture('smsc-test.crt') };

describe('TLS (smpps://)', () => {
  it('binds and submits over TLS with verification off (a test SMSC)', async () => {
    const sim = await startSimulator({ tls });
    const session = new SmppSession(sessionOptions(sim, { tls: true, tlsVerify: false }), logger);
    try {
      session.start();
      await once(session, 'bound');
      assert.equal((await session.submit(msg(1))).outcome, 'accepted');
    } finally {
      await session.stop();
      await sim.stop();
    }
  });

  it('refuses an untrusted certificate when verifying, and retries slowly', async () => {
    const sim = await startSimulator({ tls });
    const session = new SmppSession(sessionOptions(sim, { tls: true, tlsVerify: true, slowRetryMs: 5000 }), logger);
    try {
      session.start();
      const [d] = await once(session, 'disconnected');
      assert.match((d as { reason: string }).reason, /SELF_SIGNED|certificate/i);
      const [r] = await once(session, 'reconnect');
      assert.equal((r as { delayMs: number }).delayMs, 5000);
      assert.equal(sim.received.binds.length, 0, 'no bind (and no password) went to the untrusted server');
    } finally {
      await session.stop();
      await sim.stop();
    }
  });

  it('verifies against a CA it was given', async () => {
    const sim = await startSimulator({ tls });
    const session = new SmppSession(sessionOptions(sim, { tls: true, tlsVerify: true, tlsCa: tls.cert }), logger);
    try {
      session.start();
      await once(session, 'bound');
    } finally {
      await session.stop();
      await sim.stop();
    }
  });
});

describe('sms-outbox simulator', () => {
  it('prints where it listens, serves a session, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, cliArgs(['simulator', '--port', '0', '--receipt-delay-ms', '0', '--id-format', 'decimal']), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(child, 'exit');
    try {
      const line = await until(() => /SMSC simulator listening on 127\.0\.0\.1:(\d+)\n/.exec(out), 20_000, 'the ready line');
      const port = Number(line[1]);
      const session = new SmppSession(sessionOptions({ port }), logger);
      const events: string[] = [];
      session.setInboundHandler(async (e) => void events.push(e.kind === 'receipt' ? e.receipt.messageId : 'mo'));
      session.start();
      await once(session, 'bound');
      const r = await session.submit(msg(1));
      assert.deepEqual(r, { outcome: 'accepted', messageIds: ['1000000000'] });
      await until(() => events.length === 1);
      await session.stop();
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await exited;
    assert.equal(code, 0);
  });
});
