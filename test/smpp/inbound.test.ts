import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDeliverSm, type InboundContent } from '../../src/smpp/inbound.js';
import { decodePayload, MISSING_PART_MARKER, reassemble } from '../../src/smpp/mo.js';
import { formatReceiptText, parseReceiptDate, parseReceiptText } from '../../src/smpp/receipt.js';
import { parseSmBody } from '../../src/smpp/sm-body.js';
import { encodePdu } from '../../src/smpp/smpp-lib.js';
import { encodeGsm7 } from '../../src/smpp/gsm7.js';
import { encodeUcs2 } from '../../src/smpp/ucs2.js';
import { encodeIso8859_5 } from '../../src/smpp/charsets.js';
import { PduFormatError } from '../../src/smpp/pdu.js';

function deliver(fields: Record<string, unknown>, extraTlvs: Buffer[] = []): InboundContent {
  let pdu = encodePdu('deliver_sm', 7, { source_addr: '79991234567', destination_addr: 'MyShop', data_coding: 0, ...fields });
  if (extraTlvs.length) {
    pdu = Buffer.concat([pdu, ...extraTlvs]);
    pdu.writeUInt32BE(pdu.length, 0);
  }
  return decodeDeliverSm(parseSmBody(pdu));
}

function rawTlv(tag: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(tag, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value]);
}

const TEXT = 'id:0123456789 sub:001 dlvrd:001 submit date:2511251530 done date:2511251531 stat:DELIVRD err:000 text:Your code';

describe('receipts', () => {
  it('reads the text-only form', () => {
    const ev = deliver({ esm_class: 0x04, short_message: Buffer.from(TEXT) });
    assert.equal(ev.kind, 'receipt');
    if (ev.kind !== 'receipt') return;
    const r = ev.receipt;
    assert.equal(r.messageId, '0123456789');
    assert.equal(r.state, 'DELIVRD');
    assert.equal(r.error, '000');
    assert.deepEqual(r.submitDate, new Date(Date.UTC(2025, 10, 25, 15, 30)));
    assert.deepEqual(r.doneDate, new Date(Date.UTC(2025, 10, 25, 15, 31)));
    assert.equal(r.source, '79991234567');
    assert.equal(r.destination, 'MyShop');
    assert.equal(r.text, TEXT);
  });
  it('reads the TLV-only form', () => {
    const ev = deliver({ esm_class: 0x04, receipted_message_id: 'A1B2C3', message_state: 5, network_error_code: Buffer.from([3, 0x00, 0x22]) });
    assert.equal(ev.kind, 'receipt');
    if (ev.kind !== 'receipt') return;
    assert.equal(ev.receipt.messageId, 'A1B2C3');
    assert.equal(ev.receipt.state, 'UNDELIV');
    assert.equal(ev.receipt.error, '34');
    assert.deepEqual(ev.receipt.networkError, { networkType: 3, code: 34 });
  });
  it('prefers the TLVs when both forms are present and keeps the other id', () => {
    const ev = deliver({ esm_class: 0x04, short_message: Buffer.from(TEXT), receipted_message_id: '75BCD15', message_state: 2 });
    if (ev.kind !== 'receipt') return assert.fail('not a receipt');
    assert.equal(ev.receipt.messageId, '75BCD15');
    assert.deepEqual(ev.receipt.altMessageIds, ['0123456789']);
    assert.equal(ev.receipt.state, 'DELIVRD');
    assert.equal(ev.receipt.error, '000');
  });
  it('reads a receipted_message_id that lacks its NUL terminator (the smpp package would overrun it)', () => {
    const ev = deliver({ esm_class: 0x04 }, [rawTlv(0x001e, Buffer.from('ABC123')), rawTlv(0x0427, Buffer.from([8]))]);
    if (ev.kind !== 'receipt') return assert.fail('not a receipt');
    assert.equal(ev.receipt.messageId, 'ABC123');
    assert.equal(ev.receipt.state, 'REJECTD');
  });
  it('treats both receipt TLVs without the esm_class flag as a receipt', () => {
    const ev = deliver({ esm_class: 0, receipted_message_id: '42', message_state: 3 });
    assert.equal(ev.kind, 'receipt');
  });
  it('normalizes long state words and odd spacing', () => {
    const t = parseReceiptText('ID: 77  Sub:1 stat: delivered  err:0 submit_date:2501010000 done_date:250101000059');
    assert.equal(t.id, '77');
    assert.equal(t.stat, 'delivered');
    const ev = deliver({ esm_class: 0x04, short_message: Buffer.from('id:77 stat:undeliverable err:012') });
    if (ev.kind !== 'receipt') return assert.fail('not a receipt');
    assert.equal(ev.receipt.state, 'UNDELIV');
    assert.equal(ev.receipt.error, '012');
    assert.deepEqual(t.doneDate, new Date(Date.UTC(2025, 0, 1, 0, 0, 59)));
  });
  it('rejects impossible dates rather than rolling them over', () => {
    assert.equal(parseReceiptDate('2502300000'), null);
    assert.equal(parseReceiptDate('2513010000'), null);
  });
  it('throws on a receipt with no id at all', () => {
    assert.throws(() => deliver({ esm_class: 0x04, short_message: Buffer.from('stat:DELIVRD') }), /no message id/);
  });
  it('formats what it parses', () => {
    const text = formatReceiptText({ id: 'ff01', stat: 'EXPIRED', err: '001', submitDate: new Date(Date.UTC(2025, 1, 3, 4, 5)) });
    const back = parseReceiptText(text);
    assert.equal(back.id, 'ff01');
    assert.equal(back.stat, 'EXPIRED');
    assert.equal(back.err, '001');
    assert.deepEqual(back.submitDate, new Date(Date.UTC(2025, 1, 3, 4, 5)));
  });
});

describe('MO messages', () => {
  it('decodes a single GSM-7 SMS', () => {
    const ev = deliver({ short_message: encodeGsm7('Hello {world} €5') });
    if (ev.kind !== 'mo') return assert.fail('not an MO');
    assert.equal(ev.part.text, 'Hello {world} €5');
    assert.equal(ev.part.concat, null);
    assert.equal(ev.part.source, '79991234567');
  });
  it('decodes UCS-2, Latin-1 and ISO-8859-5', () => {
    const ucs = deliver({ data_coding: 8, short_message: encodeUcs2('Привет 😀') });
    assert.equal(ucs.kind === 'mo' && ucs.part.text, 'Привет 😀');
    const latin = deliver({ data_coding: 3, short_message: Buffer.from('café', 'latin1') });
    assert.equal(latin.kind === 'mo' && latin.part.text, 'café');
    const cyr = deliver({ data_coding: 6, short_message: encodeIso8859_5('Ёжик №5 §') });
    assert.equal(cyr.kind === 'mo' && cyr.part.text, 'Ёжик №5 §');
  });
  it('reads the concatenation UDH and strips it from the payload', () => {
    const udh = Buffer.from([0x05, 0x00, 0x03, 0x2a, 0x02, 0x02]);
    const ev = deliver({ esm_class: 0x40, data_coding: 8, short_message: Buffer.concat([udh, encodeUcs2('мир')]) });
    if (ev.kind !== 'mo') return assert.fail('not an MO');
    assert.deepEqual(ev.part.concat, { ref: 0x2a, total: 2, seq: 2 });
    assert.equal(ev.part.text, 'мир');
    assert.deepEqual(ev.part.payload, encodeUcs2('мир'));
  });
  it('reads SAR TLVs and message_payload', () => {
    const ev = deliver({ short_message: Buffer.alloc(0), message_payload: encodeGsm7('part one'), sar_msg_ref_num: 300, sar_total_segments: 2, sar_segment_seqnum: 1 });
    if (ev.kind !== 'mo') return assert.fail('not an MO');
    assert.deepEqual(ev.part.concat, { ref: 300, total: 2, seq: 1 });
    assert.equal(ev.part.text, 'part one');
  });
  it('leaves a part standalone when its SAR TLVs are out of range (sms_inbox_part could not hold them)', () => {
    const sar = (ref: Buffer, total: Buffer, seq: Buffer) =>
      deliver({ short_message: encodeGsm7('alone') }, [rawTlv(0x020c, ref), rawTlv(0x020e, total), rawTlv(0x020f, seq)]);
    const cases = [
      sar(Buffer.from([0, 1, 0, 0]), Buffer.from([2]), Buffer.from([1])), // a 4-octet reference of 65536
      sar(Buffer.from([0, 7]), Buffer.from([1, 44]), Buffer.from([1])), // 300 segments
      sar(Buffer.from([0, 7]), Buffer.from([3]), Buffer.from([4])), // segment 4 of 3
    ];
    for (const ev of cases) {
      assert.ok(ev.kind === 'mo');
      assert.equal(ev.part.concat, null);
      assert.equal(ev.part.text, 'alone');
    }
  });
  it('decodeInboundPdu keeps a copy of the whole PDU, detached from the read buffer', async () => {
    const { decodeInboundPdu } = await import('../../src/smpp/inbound.js');
    const chunk = Buffer.concat([Buffer.alloc(10), encodePdu('deliver_sm', 7, { source_addr: '7999', destination_addr: 'MyShop', short_message: encodeGsm7('hello') })]);
    const pdu = chunk.subarray(10);
    const original = Buffer.from(pdu);
    const ev = decodeInboundPdu(pdu);
    assert.deepEqual(ev.pdu, original);
    chunk.fill(0); // the socket's buffer is reused
    assert.deepEqual(ev.pdu, original);
    assert.ok(ev.kind === 'mo' && ev.part.text === 'hello' && ev.part.payload.toString() === 'hello');
  });
  it('decodes data_coding values sensibly', () => {
    assert.equal(decodePayload(Buffer.from('caf\xe9', 'latin1'), 0x00), 'café', 'octets above 0x7F under 0x00 are Latin-1');
    assert.equal(decodePayload(Buffer.from('abc'), 0x01), 'abc');
    assert.equal(decodePayload(Buffer.from([0x41, 0xff]), 0x04), 'A\xff');
    assert.equal(decodePayload(encodeGsm7('@x'), 0xf0), '@x');
    assert.equal(decodePayload(encodeUcs2('Ж'), 0x18), 'Ж');
    assert.equal(decodePayload(encodeGsm7('ok'), 0x11), 'ok');
  });
  it('reassembles across a surrogate pair and an escape split between parts', () => {
    const emoji = encodeUcs2('a😀b');
    const u = reassemble([{ seq: 2, payload: emoji.subarray(4) }, { seq: 1, payload: emoji.subarray(0, 4) }], 2, 8);
    assert.deepEqual(u, { text: 'a😀b', missing: [], payload: emoji });
    const g = encodeGsm7('x€y');
    assert.equal(reassemble([{ seq: 1, payload: g.subarray(0, 2) }, { seq: 2, payload: g.subarray(2) }], 2, 0).text, 'x€y');
  });
  it('marks missing parts and ignores duplicates and strays', () => {
    const p = (seq: number, t: string) => ({ seq, payload: encodeGsm7(t) });
    const out = reassemble([p(1, 'A'), p(1, 'Z'), p(3, 'C'), p(6, 'F'), p(0, '?'), p(9, '?')], 6, 0);
    assert.deepEqual(out.missing, [2, 4, 5]);
    assert.equal(out.text, `A${MISSING_PART_MARKER}C${MISSING_PART_MARKER}F`);
    assert.deepEqual(out.payload, Buffer.concat([encodeGsm7('A'), encodeGsm7('C'), encodeGsm7('F')]), 'the bytes of the parts used, in order');
  });
});

describe('malformed deliver_sm bodies', () => {
  it('throws PduFormatError, never reads past the PDU', () => {
    const good = encodePdu('deliver_sm', 1, { source_addr: '1', destination_addr: '2', short_message: Buffer.from('hello') });
    for (let cut = 17; cut < good.length; cut++) {
      const bad = Buffer.from(good.subarray(0, cut));
      bad.writeUInt32BE(cut, 0);
      assert.throws(() => parseSmBody(bad), PduFormatError, `cut at ${cut}`);
    }
    const tlvOverrun = Buffer.concat([good, Buffer.from([0x04, 0x24, 0x00, 0x10, 0x41])]);
    tlvOverrun.writeUInt32BE(tlvOverrun.length, 0);
    assert.throws(() => parseSmBody(tlvOverrun), /runs past the end/);
  });
});
