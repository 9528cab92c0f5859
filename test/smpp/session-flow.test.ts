/** Flow control and submit outcomes over real TCP against the simulator. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { STATUS } from '../../src/smpp/command-status.js';
import { TokenBucket } from '../../src/smpp/rate-limiter.js';
import type { SessionOptions, SubmitResult } from '../../src/smpp/session.js';
import type { SimulatorOptions, SubmitRecord } from '../../src/simulator/index.js';
import { captureLogs } from '../support/log-capture.js';
import { bound, msg, until } from './helpers.js';

describe('submit', () => {
  it('sends GSM-7 and UCS-2 with the right addresses, coding and registered_delivery', async () => {
    const h = await bound();
    try {
      assert.equal((await h.session.submit(msg(1, 'Code 1234 {ok} €'))).outcome, 'accepted');
      assert.equal((await h.session.submit({ id: 'r', source: '+79001112233', destination: '+79991234567', body: 'Код: 4821', registeredDelivery: false })).outcome, 'accepted');
      const [a, b] = h.sim.received.submits as [SubmitRecord, SubmitRecord];
      assert.deepEqual(
        { src: [a.source, a.sourceTon, a.sourceNpi], dst: [a.destination, a.destTon, a.destNpi], dc: a.dataCoding, esm: a.esmClass, rd: a.registeredDelivery, text: a.text },
        { src: ['MyShop', 5, 0], dst: ['79991234567', 1, 1], dc: 0x00, esm: 0x00, rd: 1, text: 'Code 1234 {ok} €' },
      );
      assert.deepEqual([...a.payload.subarray(-2)], [0x1b, 0x65], 'the euro as escape + 0x65, one septet per octet');
      assert.deepEqual(
        { src: [b.source, b.sourceTon, b.sourceNpi], dst: b.destination, dc: b.dataCoding, rd: b.registeredDelivery, text: b.text },
        { src: ['79001112233', 1, 1], dst: '79991234567', dc: 0x08, rd: 0, text: 'Код: 4821' },
      );
    } finally {
      await h.close();
    }
  });

  it('splits long messages with a UDH and a reference that rotates per message', async () => {
    const h = await bound({}, { initialReference: 254 });
    try {
      const bodies = ['a'.repeat(200), 'Ж'.repeat(100), 'b'.repeat(161)];
      const results = await Promise.all(bodies.map((body, i) => h.session.submit(msg(i, body))));
      assert.deepEqual(results.map((r) => r.outcome === 'accepted' && r.messageIds.length), [2, 2, 2]);
      const subs = h.sim.received.submits;
      assert.ok(subs.every((s) => s.esmClass === 0x40));
      assert.deepEqual(subs.map((s) => s.udh), [
        { ref: 254, total: 2, seq: 1 },
        { ref: 254, total: 2, seq: 2 },
        { ref: 255, total: 2, seq: 1 },
        { ref: 255, total: 2, seq: 2 },
        { ref: 0, total: 2, seq: 1 },
        { ref: 0, total: 2, seq: 2 },
      ]);
      assert.equal(subs[0]!.text + subs[1]!.text, bodies[0]);
      assert.equal(subs[2]!.text + subs[3]!.text, bodies[1]);
      // Ids come back per part, in part order.
      const first = results[0] as Extract<SubmitResult, { outcome: 'accepted' }>;
      assert.deepEqual(first.messageIds, [subs[0]!.messageId, subs[1]!.messageId]);
    } finally {
      await h.close();
    }
  });

  it('rejects locally what cannot be sent, without touching the wire', async () => {
    const h = await bound();
    try {
      const bad = await Promise.all([
        h.session.submit({ id: '1', source: 'A very long sender', destination: '79991234567', body: 'x' }),
        h.session.submit({ id: '2', source: 'MyShop', destination: '+7 (999) abc', body: 'x' }),
        h.session.submit({ id: '3', source: 'MyShop', destination: '79991234567', body: '' }),
      ]);
      assert.deepEqual(bad.map((r) => r.outcome === 'rejected' && [r.statusName, r.local]), [
        ['ESME_RINVSRCADR', true],
        ['ESME_RINVDSTADR', true],
        ['ESME_RINVMSGLEN', true],
      ]);
      assert.equal(h.sim.received.submits.length, 0);
    } finally {
      await h.close();
    }
  });
});

describe('flow control', () => {
  it('never has more than SMPP_WINDOW submit_sm outstanding on the wire', async () => {
    const h = await bound({ responseDelayMs: 5 }, { window: 7 });
    try {
      const results = await Promise.all(Array.from({ length: 120 }, (_, i) => h.session.submit(msg(i, i % 5 === 0 ? 'z'.repeat(300) : undefined))));
      assert.ok(results.every((r) => r.outcome === 'accepted'));
      assert.equal(h.sim.counters.peakUnanswered, 7, 'the window fills, and never overflows');
      assert.equal(h.session.windowInUse, 0);
    } finally {
      await h.close();
    }
  });

  it('holds the TPS cap, counting every part', async () => {
    const h = await bound({}, { window: 100, tps: 40 });
    try {
      const started = performance.now();
      // 10 single-part + 10 three-part messages = 40 PDUs.
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => h.session.submit(msg(i, i % 2 ? 'q'.repeat(400) : undefined))));
      const elapsed = performance.now() - started;
      assert.ok(results.every((r) => r.outcome === 'accepted'));
      const times = h.sim.received.submits.map((s) => s.at);
      assert.equal(times.length, 40);
      // 40 PDUs at 40/s with a burst of 4: at least (40 - 4) / 40 s.
      assert.ok(elapsed >= 800, `40 PDUs took ${elapsed.toFixed(0)} ms, faster than 40/s allows`);
      for (let i = 0; i < times.length; i++) {
        const inOneSecond = times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length;
        assert.ok(inOneSecond <= 40 + 4 + 1, `${inOneSecond} PDUs within one second`);
      }
    } finally {
      await h.close();
    }
  });

  it('uses a plugged-in rate limiter', async () => {
    const calls: number[] = [];
    const inner = new TokenBucket(1000);
    const limiter = { acquire: (n: number, signal?: AbortSignal) => (calls.push(n), inner.acquire(n, signal)) };
    const h = await bound({}, { rateLimiter: limiter });
    try {
      await Promise.all([h.session.submit(msg(1)), h.session.submit(msg(2, 'w'.repeat(320)))]);
      assert.deepEqual(calls, [1, 3], 'one acquire per message, for all its parts');
    } finally {
      await h.close();
    }
  });

  it('backs off on ESME_RTHROTTLED, resubmits the same part, then recovers the window', async () => {
    const h = await bound({ throttleRate: 1 }, { window: 8, throttleBackoffMinMs: 20, throttleBackoffMaxMs: 80 });
    try {
      const throttled: { window: number; pauseMs: number }[] = [];
      h.session.on('throttled', (e) => throttled.push(e));
      const results = Array.from({ length: 30 }, (_, i) => h.session.submit(msg(i, i === 0 ? 'L'.repeat(300) : undefined)));
      await until(() => throttled.length >= 3, 3000, 'throttling');
      assert.ok(h.session.currentWindow < 8, 'the window shrinks');
      assert.ok(throttled.length < h.sim.counters.throttled, 'a burst of throttled responses counts as one slow-down');
      h.sim.configure({ throttleRate: 0 });
      const all = await Promise.all(results);
      assert.ok(all.every((r) => r.outcome === 'accepted'), 'nothing failed because of throttling');
      // The long message's parts were resubmitted as the same parts (same UDH reference).
      const accepted = h.sim.received.submits.filter((s) => s.status === 0 && s.udh);
      assert.deepEqual(accepted.map((s) => s.udh!.seq).sort(), [1, 2]);
      assert.equal(new Set(h.sim.received.submits.filter((s) => s.udh).map((s) => s.udh!.ref)).size, 1);
      await Promise.all(Array.from({ length: 60 }, (_, i) => h.session.submit(msg(100 + i))));
      assert.equal(h.session.currentWindow, 8, 'the window grows back');
    } finally {
      await h.close();
    }
  });

  it('steps the throttling pause back down as the window regrows', async () => {
    // random 1: no jitter below the exponential value, so each pause is exactly 10 ms · 2^level.
    const h = await bound({ throttleRate: 1 }, { window: 8, throttleBackoffMinMs: 10, throttleBackoffMaxMs: 10_000, random: () => 1 });
    try {
      const pauses: number[] = [];
      h.session.on('throttled', (e) => pauses.push(e.pauseMs));
      const first = h.session.submit(msg(1));
      await until(() => pauses.length >= 4, 5000, 'four slow-downs');
      h.sim.configure({ throttleRate: 0 });
      assert.equal((await first).outcome, 'accepted');
      const level = pauses.length; // one PDU at a time: each of its throttles escalated
      assert.deepEqual(pauses, pauses.map((_, i) => 10 * 2 ** i), 'the pause doubles while every PDU is throttled');
      // The window is 1 now: one accepted PDU regrows it to 2, two more to 3 (two slots regained).
      for (let i = 2; i <= 4; i++) assert.equal((await h.session.submit(msg(i))).outcome, 'accepted');
      assert.equal(h.session.currentWindow, 3);
      h.sim.configure({ throttleRate: 1 });
      const next = h.session.submit(msg(5));
      await until(() => pauses.length > level, 5000, 'throttled again');
      h.sim.configure({ throttleRate: 0 });
      assert.equal((await next).outcome, 'accepted');
      assert.equal(pauses[level], 10 * 2 ** (level - 2), 'two slots regained: the next pause is two steps shorter');
    } finally {
      await h.close();
    }
  });

  it('treats ESME_RMSGQFUL like throttling and gives up after throttleGiveUpMs with retry', async () => {
    const h = await bound({ throttleRate: 1, throttleStatus: 0x14 }, { throttleBackoffMinMs: 10, throttleBackoffMaxMs: 20, throttleGiveUpMs: 150 });
    try {
      const r = await h.session.submit(msg(1));
      assert.equal(r.outcome, 'retry');
      assert.ok(r.outcome === 'retry' && r.commandStatus === 0x14 && r.statusName === 'ESME_RMSGQFUL' && r.unknown === false, JSON.stringify(r));
      assert.ok(h.sim.counters.throttled >= 2, 'it was resubmitted before giving up');
    } finally {
      await h.close();
    }
  });
});

describe('submit outcomes', () => {
  it('reports permanent errors as rejected and transient ones as retry', async () => {
    const h = await bound({ rejectDestinations: { '79990000000': 0x0b, '79990000008': 0x08 } });
    try {
      const [bad, sys, good] = await Promise.all([
        h.session.submit(msg(1, undefined, '79990000000')),
        h.session.submit(msg(2, undefined, '79990000008')),
        h.session.submit(msg(3)),
      ]);
      assert.deepEqual(bad, { outcome: 'rejected', commandStatus: 0x0b, statusName: 'ESME_RINVDSTADR', description: 'Invalid destination address', acceptedIds: [] });
      assert.deepEqual(sys, { outcome: 'retry', reason: 'ESME_RSYSERR: System error', commandStatus: 0x08, statusName: 'ESME_RSYSERR', acceptedIds: [], unknown: false });
      assert.equal(good.outcome, 'accepted');
      // A long message whose parts are refused is rejected as a whole.
      const long = await h.session.submit(msg(4, 'p'.repeat(500), '79990000000'));
      assert.deepEqual(long.outcome === 'rejected' && [long.statusName, long.acceptedIds], ['ESME_RINVDSTADR', []]);
    } finally {
      await h.close();
    }
  });

  it('times out a lost response as retry with unknown outcome, probes the link and carries on', async () => {
    const h = await bound({ dropNextResponses: 1 }, { responseTimeoutMs: 150 });
    try {
      const timeouts: unknown[] = [];
      h.session.on('response_timeout', (e) => timeouts.push(e));
      const before = h.sim.received.enquireLinks;
      const r = await h.session.submit(msg('lost'));
      assert.equal(r.outcome, 'retry');
      assert.ok(r.outcome === 'retry' && r.unknown && /no submit_sm_resp within 150 ms/.test(r.reason), JSON.stringify(r));
      assert.deepEqual(timeouts, [{ messageId: 'mlost', part: 0 }]);
      await until(() => h.sim.received.enquireLinks > before, 2000, 'an enquire_link probe');
      assert.equal(h.session.state, 'bound');
      assert.equal((await h.session.submit(msg('next'))).outcome, 'accepted');
    } finally {
      await h.close();
    }
  });

  it('reports a response that arrives after its timeout', async () => {
    const h = await bound({ responseDelayMs: 300 }, { responseTimeoutMs: 100 });
    try {
      const late = once(h.session, 'late_response');
      const r = await h.session.submit(msg('slow'));
      assert.ok(r.outcome === 'retry' && r.unknown);
      const [e] = await late;
      assert.deepEqual(e, { messageId: 'mslow', part: 0, commandStatus: 0, smscMessageId: '3B9ACA00' });
    } finally {
      await h.close();
    }
  });

  it('reports every outstanding submit as unknown when the connection drops mid-window, then reconnects', async () => {
    const h = await bound({ responseDelayMs: 300 }, { window: 10 });
    try {
      const results = Array.from({ length: 25 }, (_, i) => h.session.submit(msg(i)));
      await until(() => h.sim.received.submits.length === 10, 2000, 'a full window');
      h.sim.closeConnections();
      h.sim.configure({ responseDelayMs: 0 });
      const all = await Promise.all(results);
      const unknown = all.filter((r) => r.outcome === 'retry' && r.unknown);
      assert.equal(unknown.length, 10, 'the ten on the wire are unknown');
      assert.ok(unknown.every((r) => r.outcome === 'retry' && /connection lost/.test(r.reason)));
      assert.equal(all.filter((r) => r.outcome === 'accepted').length, 15, 'the fifteen queued go after the reconnect');
      assert.equal(h.sim.received.binds.length, 2);
    } finally {
      await h.close();
    }
  });

  it('returns the ids of parts accepted before the connection was cut', async () => {
    const h = await bound({ closeAfterSubmits: 2 }, { window: 1 });
    try {
      const r = await h.session.submit(msg(1, 'y'.repeat(400)));
      assert.equal(r.outcome, 'retry');
      assert.ok(r.outcome === 'retry' && r.unknown);
      const firstId = h.sim.received.submits[0]!.messageId!;
      assert.deepEqual(r.outcome === 'retry' && r.acceptedIds, [firstId]);
      assert.equal(h.sim.received.submits.length, 2, 'the third part was never sent');
      await until(() => h.session.isBound, 3000, 'a reconnect');
    } finally {
      await h.close();
    }
  });

  it('gives up on parts not yet sent when the caller aborts', async () => {
    const h = await bound({ responseDelayMs: 200 }, { window: 1 });
    try {
      const first = h.session.submit(msg(1));
      const ac = new AbortController();
      const second = h.session.submit(msg(2), { signal: ac.signal });
      ac.abort();
      assert.deepEqual(await second, { outcome: 'retry', reason: 'submit aborted by the caller', acceptedIds: [], unknown: false });
      assert.equal((await first).outcome, 'accepted');
      assert.equal(h.sim.received.submits.length, 1);
    } finally {
      await h.close();
    }
  });
});

describe('validity_period', () => {
  const validUntil = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
  const VP = '300102030405000+';

  /** A simulator and a session whose log lines are kept. */
  async function withLogs(simOptions: SimulatorOptions = {}, overrides: Partial<SessionOptions> = {}) {
    const { lines, logger } = captureLogs('warn');
    const h = await bound(simOptions, overrides, logger);
    const refusals: string[] = [];
    h.session.on('validity_refused', (e) => refusals.push(e.statusName));
    const warnings = () => lines.filter((l) => /refused validity_period/.test(String(l.msg)));
    return { ...h, refusals, warnings };
  }

  it('every part of a long message carries the same validity_period when the SMSC takes it', async () => {
    const h = await withLogs();
    try {
      const r = await h.session.submit({ ...msg(1, 'v'.repeat(300)), validUntil });
      assert.equal(r.outcome === 'accepted' && r.messageIds.length, 2);
      assert.deepEqual(h.sim.received.submits.map((s) => [s.udh?.seq, s.validityPeriod, s.status]), [[1, VP, 0], [2, VP, 0]]);
      assert.equal(h.session.sendsValidityPeriod, true);
      assert.deepEqual(h.warnings(), []);
    } finally {
      await h.close();
    }
  });

  it('refused: the parts go again without it inside the same submit, the rest of the bind sends none, one warning; a new bind tries again', async () => {
    const h = await withLogs({ refuseValidityPeriod: true });
    try {
      const first = await h.session.submit({ ...msg(1, 'w'.repeat(300)), validUntil });
      assert.equal(first.outcome === 'accepted' && first.messageIds.length, 2, 'one submit, one result: accepted');
      const wire = h.sim.received.submits.map((s) => [s.udh?.seq, s.validityPeriod, s.status]);
      // Part 1 goes with it and is refused; both parts then go without it (part 2 may have gone
      // out with it too, before the refusal came back: it is resent the same way).
      assert.deepEqual(wire[0], [1, VP, STATUS.ESME_RINVEXPIRY]);
      const accepted = wire.filter((w) => w[2] === 0);
      assert.deepEqual(accepted.map((w) => [w[0], w[1]]).sort(), [[1, ''], [2, '']]);
      assert.ok(wire.every((w) => (w[1] === VP ? w[2] === STATUS.ESME_RINVEXPIRY : w[2] === 0)));
      assert.equal(h.session.sendsValidityPeriod, false);

      const before = h.sim.received.submits.length;
      const second = await Promise.all([1, 2, 3].map((i) => h.session.submit({ ...msg(10 + i), validUntil })));
      assert.deepEqual(second.map((r) => r.outcome), ['accepted', 'accepted', 'accepted']);
      assert.deepEqual(h.sim.received.submits.slice(before).map((s) => [s.validityPeriod, s.status]), [['', 0], ['', 0], ['', 0]], 'not even tried on this bind');
      assert.equal(h.warnings().length, 1, 'warned once for the bind');
      assert.equal(h.warnings()[0]!.statusName, 'ESME_RINVEXPIRY');
      assert.deepEqual(h.refusals, ['ESME_RINVEXPIRY']);

      // A new bind tries it again (and, refused again, warns again for that bind).
      const rebound = once(h.session, 'bound');
      h.sim.closeConnections();
      await rebound;
      const mark = h.sim.received.submits.length;
      assert.equal((await h.session.submit({ ...msg(20), validUntil })).outcome, 'accepted');
      assert.deepEqual(h.sim.received.submits.slice(mark).map((s) => [s.validityPeriod, s.status]), [[VP, STATUS.ESME_RINVEXPIRY], ['', 0]]);
      assert.equal(h.warnings().length, 2);
    } finally {
      await h.close();
    }
  });

  it('a message refused again without it fails with that status, and the session keeps sending it', async () => {
    const h = await withLogs();
    try {
      h.sim.failNextSubmits(2, STATUS.ESME_RINVEXPIRY);
      const r = await h.session.submit({ ...msg(1), validUntil });
      assert.deepEqual(r.outcome === 'rejected' && [r.statusName, r.acceptedIds], ['ESME_RINVEXPIRY', []]);
      assert.deepEqual(h.sim.received.submits.map((s) => s.validityPeriod), [VP, '']);
      assert.equal(h.session.sendsValidityPeriod, true, 'not the field: the same refusal came without it');
      assert.equal((await h.session.submit({ ...msg(2), validUntil })).outcome, 'accepted');
      assert.equal(h.sim.received.submits[2]!.validityPeriod, VP);
      assert.deepEqual(h.warnings(), []);
    } finally {
      await h.close();
    }
  });

  it('validityPeriod: false (SMPP_VALIDITY_PERIOD=off) never sends it', async () => {
    const h = await withLogs({}, { validityPeriod: false });
    try {
      assert.equal((await h.session.submit({ ...msg(1, 'x'.repeat(200)), validUntil })).outcome, 'accepted');
      assert.deepEqual(h.sim.received.submits.map((s) => s.validityPeriod), ['', '']);
      assert.equal(h.session.sendsValidityPeriod, false);
    } finally {
      await h.close();
    }
  });
});
