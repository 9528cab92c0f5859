/** Receipts, MO messages and garbage from the SMSC, over real TCP against the simulator. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { normalizeMessageId, receiptIdCandidates } from '../../src/smpp/message-id.js';
import { reassemble, MISSING_PART_MARKER } from '../../src/smpp/mo.js';
import type { InboundEvent, MoPart, Receipt } from '../../src/smpp/session.js';
import type { SimulatorOptions } from '../../src/simulator/index.js';
import { encodePdu } from '../../src/smpp/smpp-lib.js';
import { bound, msg, until, type Harness } from './helpers.js';

/** A harness whose inbound handler stores every event (like the worker, minus Postgres). */
async function storing(simOptions: SimulatorOptions = {}): Promise<Harness & { events: InboundEvent[] }> {
  const h = await bound(simOptions);
  const events: InboundEvent[] = [];
  h.session.setInboundHandler(async (e) => {
    events.push(e);
  });
  return Object.assign(h, { events });
}

const receipts = (events: InboundEvent[]) => events.flatMap((e) => (e.kind === 'receipt' ? [e.receipt] : []));
const moParts = (events: InboundEvent[]) => events.flatMap((e) => (e.kind === 'mo' ? [e.part] : []));

/** What the worker does: store normalized part ids, match a receipt by its candidates. */
function matches(storedIds: string[], r: Receipt): boolean {
  const stored = new Set(storedIds.map(normalizeMessageId));
  return [r.messageId, ...r.altMessageIds].some((id) => receiptIdCandidates(id).some((c) => stored.has(c)));
}

describe('receipts', () => {
  for (const form of ['text', 'tlv', 'both'] as const) {
    for (const idFormat of ['hex', 'decimal'] as const) {
      it(`${form} form, ${idFormat} ids: decoded and matched to the submit`, async () => {
        const h = await storing({ receiptForm: form, idFormat, receiptStates: { '79990000005': 'UNDELIV' } });
        try {
          const ok = await h.session.submit(msg(1));
          const bad = await h.session.submit(msg(2, undefined, '79990000005'));
          assert.ok(ok.outcome === 'accepted' && bad.outcome === 'accepted');
          await until(() => receipts(h.events).length === 2 && h.sim.received.deliverResps.length === 2);
          const [r1, r2] = receipts(h.events) as [Receipt, Receipt];
          assert.ok(matches(ok.messageIds, r1), `${r1.messageId} matches ${ok.messageIds}`);
          assert.ok(matches(bad.messageIds, r2));
          assert.equal(r1.state, 'DELIVRD');
          assert.equal(r2.state, 'UNDELIV');
          assert.equal(r1.source, '79991234567');
          assert.equal(r1.destination, 'MyShop');
          if (form !== 'tlv') assert.equal(r1.error, '000');
          assert.ok(h.sim.received.deliverResps.every((d) => d.status === 0), 'acknowledged with ESME_ROK');
        } finally {
          await h.close();
        }
      });
    }
  }

  it('matches receipts whose id is in the other base and zero-padded', async () => {
    for (const [idFormat, receiptIdBase] of [['hex', 'decimal'], ['decimal', 'hex']] as const) {
      const h = await storing({ idFormat, receiptIdBase, receiptIdPad: 20, receiptForm: 'text' });
      try {
        const r = await h.session.submit(msg(1));
        assert.equal(r.outcome, 'accepted');
        await until(() => receipts(h.events).length === 1);
        const receipt = receipts(h.events)[0]!;
        assert.equal(receipt.messageId.length, 20);
        assert.notEqual(normalizeMessageId(receipt.messageId), normalizeMessageId(r.outcome === 'accepted' ? r.messageIds[0]! : ''));
        assert.ok(matches(r.outcome === 'accepted' ? r.messageIds : [], receipt));
      } finally {
        await h.close();
      }
    }
  });

  it('handles a receipt that arrives before the submit_sm_resp', async () => {
    const h = await storing({ receiptBeforeResponse: true });
    try {
      let resolvedFirst = false;
      const submitted = h.session.submit(msg(1)).then((r) => {
        resolvedFirst = receipts(h.events).length === 0;
        return r;
      });
      const r = await submitted;
      await until(() => receipts(h.events).length === 1);
      assert.equal(resolvedFirst, false, 'the receipt was handled before submit() resolved');
      assert.ok(matches(r.outcome === 'accepted' ? r.messageIds : [], receipts(h.events)[0]!));
    } finally {
      await h.close();
    }
  });

  it('answers deliver_sm only after the handler has stored it', async () => {
    const h = await bound();
    try {
      let release!: () => void;
      const stored = new Promise<void>((r) => (release = r));
      let seen = 0;
      h.session.setInboundHandler(async () => {
        seen++;
        await stored;
      });
      h.sim.sendReceipt({ messageId: 'ABC' });
      await until(() => seen === 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(h.sim.received.deliverResps.length, 0, 'no deliver_sm_resp while the handler is storing');
      release();
      await until(() => h.sim.received.deliverResps.length === 1);
      assert.equal(h.sim.received.deliverResps[0]!.status, 0);
    } finally {
      await h.close();
    }
  });

  it('answers ESME_RX_T_APPN when the handler fails, and the SMSC redelivers', async () => {
    const h = await bound({ redeliverDelayMs: 20 });
    try {
      let calls = 0;
      const stored: InboundEvent[] = [];
      h.session.setInboundHandler(async (e) => {
        if (++calls === 1) throw new Error('database is down');
        stored.push(e);
      });
      h.sim.sendReceipt({ messageId: '77', state: 'EXPIRED' });
      await until(() => stored.length === 1 && h.sim.received.deliverResps.length === 2, 3000, 'the redelivered receipt');
      assert.deepEqual(h.sim.received.deliverResps.map((d) => [d.status, d.attempt]), [
        [0x64, 1],
        [0, 2],
      ]);
      assert.equal(stored[0]!.kind === 'receipt' && stored[0]!.receipt.state, 'EXPIRED');
    } finally {
      await h.close();
    }
  });

  it('answers ESME_RX_T_APPN while no handler is set', async () => {
    const h = await bound({ redeliver: false });
    try {
      h.sim.sendReceipt({ messageId: '1' });
      await until(() => h.sim.received.deliverResps.length === 1);
      assert.equal(h.sim.received.deliverResps[0]!.status, 0x64);
    } finally {
      await h.close();
    }
  });
});

describe('MO messages', () => {
  it('delivers a single GSM-7 and a single UCS-2 SMS', async () => {
    const h = await storing();
    try {
      h.sim.sendMo({ source: '+79991234567', destination: 'MyShop', text: 'STOP' });
      h.sim.sendMo({ source: '79991234567', destination: '79001112233', text: 'Спасибо 👍' });
      await until(() => moParts(h.events).length === 2);
      const [a, b] = moParts(h.events) as [MoPart, MoPart];
      assert.deepEqual([a.text, a.source, a.destination, a.dataCoding, a.concat], ['STOP', '79991234567', 'MyShop', 0, null]);
      assert.deepEqual([b.text, b.dataCoding, b.concat], ['Спасибо 👍', 8, null]);
    } finally {
      await h.close();
    }
  });

  it('reassembles a concatenated SMS from its parts (8- and 16-bit references)', async () => {
    const h = await storing();
    try {
      const text = 'Привет! '.repeat(30);
      const sent = h.sim.sendMo({ source: '79991234567', destination: 'MyShop', text, concat: {} });
      const sent16 = h.sim.sendMo({ source: '79991234567', destination: 'MyShop', text: 'abc '.repeat(60), concat: { parts: 3, ref: 0x1234, sixteenBitRef: true } });
      await until(() => moParts(h.events).length === sent.total + sent16.total);
      const parts = moParts(h.events);
      const first = parts.filter((p) => p.concat?.ref === sent.ref);
      assert.equal(first.length, sent.total);
      assert.ok(sent.total >= 4);
      const joined = reassemble(first.map((p) => ({ seq: p.concat!.seq, payload: p.payload })), first[0]!.concat!.total, 8);
      assert.deepEqual({ text: joined.text, missing: joined.missing }, { text, missing: [] });
      assert.deepEqual(joined.payload, Buffer.from(text, 'utf16le').swap16(), 'the parts\' bytes joined in order');
      const second = parts.filter((p) => p.concat?.ref === 0x1234);
      assert.equal(reassemble(second.map((p) => ({ seq: p.concat!.seq, payload: p.payload })), 3, 0).text, 'abc '.repeat(60));
    } finally {
      await h.close();
    }
  });

  it('tolerates a missing and a duplicated part', async () => {
    const h = await storing();
    try {
      const sent = h.sim.sendMo({ source: '79991234567', destination: 'MyShop', text: 'AAAA BBBB CCCC DDDD', concat: { parts: 4, dropSeq: [3], duplicateSeq: [2] } });
      await until(() => moParts(h.events).length === 4);
      const parts = moParts(h.events).map((p) => ({ seq: p.concat!.seq, payload: p.payload }));
      assert.deepEqual(parts.map((p) => p.seq), [1, 2, 2, 4]);
      const { text, missing } = reassemble(parts, sent.total, 0);
      assert.deepEqual({ text, missing }, { text: `AAAA BBBB ${MISSING_PART_MARKER}DDDD`, missing: [3] });
    } finally {
      await h.close();
    }
  });
});

describe('inbound back-pressure', () => {
  it('holds at most inboundWindow deliver_sm, stops reading meanwhile without timing out submits, and reads again below half', async () => {
    const h = await bound({ redeliver: false }, { inboundWindow: 5, responseTimeoutMs: 300 });
    try {
      const held: (() => void)[] = [];
      let handled = 0;
      h.session.setInboundHandler(
        () =>
          new Promise<void>((resolve) => {
            handled++;
            held.push(resolve);
          }),
      );
      const paused: number[] = [];
      h.session.on('inbound_paused', (e) => paused.push(e.pending));
      // One TCP write with all 50: the session must stop inside the chunk, not at its end.
      for (let i = 0; i < 50; i++) h.sim.sendMo({ source: '79991234567', destination: 'MyShop', text: `mo ${i}` });
      await until(() => handled === 5);
      // A submit while reading is paused: its response waits unread, longer than the response timeout.
      const submitted = h.session.submit(msg(1));
      await new Promise((r) => setTimeout(r, 800));
      assert.equal(handled, 5, 'no more than the window handed on');
      assert.equal(h.session.inboundInFlight, 5);
      assert.deepEqual(paused, [5]);
      assert.equal(h.session.state, 'bound', 'no timeout declared the link dead while it was not read');
      // Answering 2 of 5 leaves 3 (above half): still paused; answering one more reads again.
      held.splice(0, 2).forEach((r) => r());
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(handled, 5);
      held.splice(0, 1).forEach((r) => r());
      await until(() => handled > 5);
      // Release everything as it comes: all 50 answered ESME_ROK, and the submit's response,
      // read late, counts (it did not time out while it could not be read).
      const drain = setInterval(() => held.splice(0).forEach((r) => r()), 5);
      try {
        assert.equal((await submitted).outcome, 'accepted');
        // The submit's delivery receipt is a deliver_sm too, and may come before the last MO: count MOs.
        const moResps = () => h.sim.received.deliverResps.filter((d) => d.kind === 'mo');
        await until(() => moResps().length === 50, 20_000, 'all answered');
      } finally {
        clearInterval(drain);
      }
      assert.equal(h.sim.received.deliverResps.filter((d) => d.kind === 'mo').length, 50, 'each MO answered once');
      assert.ok(h.sim.received.deliverResps.every((d) => d.status === 0));
      assert.ok(Math.max(...paused) <= 5);
    } finally {
      await h.close();
    }
  });
});

describe('garbage from the SMSC', () => {
  it('answers an unknown command with generic_nack and stays bound', async () => {
    const h = await storing();
    try {
      const unknown = Buffer.alloc(20);
      unknown.writeUInt32BE(20, 0);
      unknown.writeUInt32BE(0x00000abc, 4);
      unknown.writeUInt32BE(0, 8);
      unknown.writeUInt32BE(4242, 12);
      const nack = once(h.sim, 'generic_nack');
      h.sim.sendRaw(unknown);
      const [header] = await nack;
      assert.deepEqual([header.sequence, header.status], [4242, 0x03]);
      assert.equal(h.session.state, 'bound');
      assert.equal((await h.session.submit(msg(1))).outcome, 'accepted');
    } finally {
      await h.close();
    }
  });

  it('answers a deliver_sm with a body that runs past its length, logs it, and stays bound', async () => {
    const h = await storing({ redeliver: false });
    try {
      const errors: Error[] = [];
      h.session.on('pdu_error', (e) => errors.push(e.error));
      const good = encodePdu('deliver_sm', 99, { source_addr: '1', destination_addr: '2', short_message: Buffer.from('hello') });
      const bad = Buffer.from(good);
      bad[bad.length - 6] = 200; // sm_length far beyond the PDU
      const resp = new Promise<void>((resolve) => {
        // The simulator did not send this deliver_sm itself, so watch the wire through a generic hook.
        const timer = setInterval(() => {
          if (errors.length) {
            clearInterval(timer);
            resolve();
          }
        }, 5);
      });
      h.sim.sendRaw(bad);
      await resp;
      assert.match(errors[0]!.message, /sm_length 200/);
      assert.equal(h.events.length, 0);
      // A receipt without any id is answered too, and the session goes on.
      h.sim.sendRaw(encodePdu('deliver_sm', 100, { esm_class: 4, source_addr: '1', destination_addr: '2', short_message: Buffer.from('stat:DELIVRD') }));
      await until(() => errors.length === 2);
      assert.match(errors[1]!.message, /no message id/);
      assert.equal(h.session.state, 'bound');
      h.sim.sendMo({ source: '79991234567', destination: 'MyShop', text: 'still here' });
      await until(() => moParts(h.events).length === 1);
    } finally {
      await h.close();
    }
  });

  it('drops a stream with an impossible command_length, reconnects and carries on', async () => {
    const h = await storing();
    try {
      const errors: Error[] = [];
      h.session.on('pdu_error', (e) => errors.push(e.error));
      const junk = Buffer.from('GET / HTTP/1.1\r\nHost: smsc\r\n\r\n');
      const disconnected = once(h.session, 'disconnected');
      h.sim.sendRaw(junk);
      const [d] = await disconnected;
      assert.match((d as { reason: string }).reason, /framing lost: invalid command_length/);
      assert.match(errors[0]!.message, /invalid command_length/);
      await until(() => h.session.isBound && h.sim.received.binds.length === 2, 3000, 'a new bind');
      assert.equal((await h.session.submit(msg(1))).outcome, 'accepted');
    } finally {
      await h.close();
    }
  });

  it('survives a PDU split across many TCP segments and many PDUs in one', async () => {
    const h = await storing();
    try {
      const a = encodePdu('deliver_sm', 501, { source_addr: '79991234567', destination_addr: 'MyShop', short_message: Buffer.from('one') });
      const b = encodePdu('deliver_sm', 502, { source_addr: '79991234567', destination_addr: 'MyShop', short_message: Buffer.from('two') });
      const c = encodePdu('deliver_sm', 503, { source_addr: '79991234567', destination_addr: 'MyShop', short_message: Buffer.from('six') });
      for (const byte of a) {
        h.sim.sendRaw(Buffer.from([byte]));
        await new Promise((r) => setImmediate(r));
      }
      h.sim.sendRaw(Buffer.concat([b, c]));
      await until(() => moParts(h.events).length === 3);
      assert.deepEqual(moParts(h.events).map((p) => p.text), ['one', 'two', 'six']);
    } finally {
      await h.close();
    }
  });
});
