/** The session's link over real TCP: bind, enquire_link both ways, dead links, reconnects, credentials, unbind. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { SmppSession } from '../../src/smpp/session.js';
import { startSimulator } from '../../src/simulator/index.js';
import { bound, logger, msg, sessionOptions, until } from './helpers.js';
import { captureLogs } from '../support/log-capture.js';

describe('bind', () => {
  it('binds as transceiver with interface_version 0x34, system_id, password and system_type', async () => {
    const h = await bound({ systemId: 'test', password: 'secret' });
    try {
      assert.equal(h.session.state, 'bound');
      assert.equal(h.session.isBound, true);
      assert.deepEqual(h.sim.received.binds, [
        { command: 'bind_transceiver', systemId: 'test', password: 'secret', systemType: 'OTP', interfaceVersion: 0x34, status: 0 },
      ]);
    } finally {
      await h.close();
    }
  });

  it('binds as receiver or transmitter when configured', async () => {
    for (const bindMode of ['receiver', 'transmitter'] as const) {
      const h = await bound({}, { bindMode });
      try {
        assert.equal(h.sim.received.binds[0]?.command, `bind_${bindMode}`);
      } finally {
        await h.close();
      }
    }
  });

  it('reports bad credentials clearly and retries slowly, not in a hot loop', async () => {
    const sim = await startSimulator({ systemId: 'test', password: 'right' });
    const session = new SmppSession(sessionOptions(sim, { password: 'wrong', slowRetryMs: 400 }), logger);
    const failures: unknown[] = [];
    const reconnects: { delayMs: number }[] = [];
    session.on('bind_failed', (e) => failures.push(e));
    session.on('reconnect', (e) => reconnects.push(e));
    try {
      session.start();
      await until(() => failures.length >= 1);
      assert.deepEqual(failures[0], { commandStatus: 0x0e, statusName: 'ESME_RINVPASWD', credentials: true });
      await until(() => reconnects.length >= 1);
      assert.equal(reconnects[0]?.delayMs, 400);
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(sim.received.binds.length, 1, 'no second bind before the slow retry delay');
      // The operator fixes the password on the SMSC side: the next slow retry binds.
      sim.configure({ password: 'wrong' });
      await once(session, 'bound');
      assert.equal(sim.received.binds.length, 2);
    } finally {
      await session.stop();
      await sim.stop();
    }
  });

  it('names an unknown system_id and a refused bind', async () => {
    const sim = await startSimulator({ systemId: 'someone-else' });
    const session = new SmppSession(sessionOptions(sim, { slowRetryMs: 5000 }), logger);
    try {
      session.start();
      const [e] = await once(session, 'bind_failed');
      assert.deepEqual(e, { commandStatus: 0x0f, statusName: 'ESME_RINVSYSID', credentials: true });
    } finally {
      await session.stop();
      await sim.stop();
    }
    const sim2 = await startSimulator({ refuseBinds: 0x05 });
    const session2 = new SmppSession(sessionOptions(sim2, { slowRetryMs: 5000, reconnectMinMs: 10, reconnectMaxMs: 50 }), logger);
    try {
      session2.start();
      const [e] = await once(session2, 'bind_failed');
      assert.deepEqual(e, { commandStatus: 0x05, statusName: 'ESME_RALYBND', credentials: false });
      // Not a credentials problem: the normal (fast, capped) back-off applies.
      const [r] = await once(session2, 'reconnect');
      assert.ok((r as { delayMs: number }).delayMs <= 50);
    } finally {
      await session2.stop();
      await sim2.stop();
    }
  });
});

describe('enquire_link', () => {
  it('sends enquire_link every period and answers the SMSC’s', async () => {
    const h = await bound({}, { enquireLinkSeconds: 0.05 });
    try {
      await until(() => h.sim.received.enquireLinks >= 3, 3000, 'three enquire_link from the session');
      h.sim.sendEnquireLink();
      h.sim.sendEnquireLink();
      await until(() => h.sim.received.enquireLinkResps >= 2, 3000, 'enquire_link_resp from the session');
      assert.equal(h.session.state, 'bound');
    } finally {
      await h.close();
    }
  });

  it('declares the link dead when enquire_link goes unanswered, then reconnects', async () => {
    const h = await bound({ ignoreEnquireLink: true }, { enquireLinkSeconds: 0.05, responseTimeoutMs: 150 });
    try {
      const dead = once(h.session, 'enquire_link_timeout');
      const disconnected = once(h.session, 'disconnected');
      await dead;
      const [d] = await disconnected;
      assert.match((d as { reason: string }).reason, /enquire_link_resp/);
      h.sim.configure({ ignoreEnquireLink: false });
      await until(() => h.session.isBound && h.sim.received.binds.length === 2, 3000, 'a second bind');
    } finally {
      await h.close();
    }
  });
});

describe('reconnect', () => {
  it('backs off exponentially with jitter up to the cap, then binds again when the SMSC returns', async () => {
    const sim = await startSimulator();
    const port = sim.port;
    const session = new SmppSession(sessionOptions(sim, { reconnectMinMs: 20, reconnectMaxMs: 160 }), logger);
    const delays: number[] = [];
    session.on('reconnect', (e) => delays.push(e.delayMs));
    session.start();
    await once(session, 'bound');
    await sim.stop();
    try {
      await until(() => delays.length >= 7, 5000, 'seven reconnect attempts');
      assert.ok(delays.every((d) => d >= 20 && d <= 160), `delays within [min, cap]: ${delays}`);
      assert.ok(Math.max(...delays) > 40, `delays grow: ${delays}`);
      const again = await startSimulator({ port });
      try {
        await until(() => session.isBound, 3000, 'a bind to the restarted SMSC');
        assert.equal(again.received.binds.length, 1);
        assert.deepEqual(await session.submit(msg(1)), { outcome: 'accepted', messageIds: ['3B9ACA00'] });
      } finally {
        await session.stop();
        await again.stop();
      }
    } finally {
      await session.stop();
    }
  });

  it('answers the SMSC’s unbind with unbind_resp and binds again', async () => {
    const h = await bound();
    try {
      const disconnected = once(h.session, 'disconnected');
      h.sim.sendUnbind();
      const [d] = await disconnected;
      assert.match((d as { reason: string }).reason, /unbound by the SMSC/);
      await until(() => h.session.isBound && h.sim.received.binds.length === 2, 3000, 'a new bind');
    } finally {
      await h.close();
    }
  });
});

describe('stop', () => {
  it('waits for the window to drain, unbinds cleanly and closes', async () => {
    const h = await bound({ responseDelayMs: 80 }, { window: 5 });
    const results = Array.from({ length: 5 }, (_, i) => h.session.submit(msg(i)));
    await until(() => h.sim.received.submits.length === 5);
    await h.session.stop({ drainTimeoutMs: 2000 });
    const all = await Promise.all(results);
    assert.ok(all.every((r) => r.outcome === 'accepted'), JSON.stringify(all));
    assert.equal(h.sim.received.unbinds, 1);
    assert.equal(h.session.state, 'closed');
    await until(() => h.sim.connections === 0, 2000, 'the connection to close');
    const after = await h.session.submit(msg(9));
    assert.deepEqual(after, { outcome: 'retry', reason: 'session is stopping', acceptedIds: [], unknown: false });
    await h.sim.stop();
  });

  it('reports parts that never left as retry (unknown: false) and bounds the drain', async () => {
    const { lines, logger: captured } = captureLogs();
    const h = await bound({ dropNextResponses: 2 }, { window: 2, responseTimeoutMs: 10_000 }, captured);
    const { sim, session } = h;
    try {
      const results = Array.from({ length: 6 }, (_, i) => session.submit(msg(i)));
      await until(() => sim.received.submits.length === 2);
      await session.stop({ drainTimeoutMs: 150 });
      // The drain ended by its 150 ms timer, with both responses still outstanding; they were
      // failed by the stop, not by their 10 s response timeout.
      assert.deepEqual(
        lines.filter((l) => l.msg === 'drain timed out; unbinding anyway').map((l) => l.outstanding),
        [2],
        'the drain wait is bounded',
      );
      const all = await Promise.all(results);
      assert.deepEqual(
        all.map((r) => r.outcome === 'retry' && r.unknown),
        [true, true, false, false, false, false],
        'the two on the wire are unknown, the four queued certainly unsent',
      );
      assert.deepEqual(
        all.slice(0, 2).map((r) => r.outcome === 'retry' && r.reason),
        ['connection lost with the submit_sm outstanding (stopped)', 'connection lost with the submit_sm outstanding (stopped)'],
      );
      assert.equal(sim.received.unbinds, 1);
    } finally {
      await h.close();
    }
  });

  it('resolves queued submits when stopped while disconnected', async () => {
    const sim = await startSimulator();
    const port = sim.port;
    await sim.stop();
    const session = new SmppSession(sessionOptions(sim, { port }), logger);
    session.start();
    const r = session.submit(msg(1));
    await new Promise((res) => setTimeout(res, 50));
    await session.stop();
    assert.deepEqual(await r, { outcome: 'retry', reason: 'session stopped before the part was sent', acceptedIds: [], unknown: false });
    assert.equal(session.state, 'closed');
  });
});
