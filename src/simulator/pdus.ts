/**
 * The deliver_sm bodies the simulator sends, built as an SMSC builds them: delivery receipts in
 * text and/or TLV form, and MO messages, single or concatenated (8- or 16-bit reference).
 */
import { encodeIso8859_5 } from '../smpp/charsets.js';
import { DATA_CODING } from '../smpp/data-coding.js';
import { encodeGsm7, isGsm7 } from '../smpp/gsm7.js';
import { formatReceiptText } from '../smpp/receipt.js';
import { tlvOfState } from '../smpp/receipt-state.js';
import { splitMessage } from '../smpp/split.js';
import { encodeUcs2 } from '../smpp/ucs2.js';
import { concatUdh, ESM_CLASS_UDHI } from '../smpp/udh.js';
import type { MoOptions, ReceiptForm } from './types.js';

type Fields = Record<string, unknown>;

/** deliver_sm fields of a receipt for `id` (SMPP 3.4 Appendix B text, and/or the TLVs). */
export function receiptFields(id: string, state: string, err: string, form: ReceiptForm, from: string, to: string, networkErrorCode?: number): Fields {
  const fields: Fields = {
    source_addr_ton: 1,
    source_addr_npi: 1,
    source_addr: from,
    dest_addr_ton: /^\d+$/.test(to) ? 1 : 5,
    dest_addr_npi: /^\d+$/.test(to) ? 1 : 0,
    destination_addr: to,
    esm_class: 0x04,
    data_coding: 0,
  };
  if (form !== 'tlv') fields.short_message = Buffer.from(formatReceiptText({ id, stat: state, err }), 'latin1');
  if (form !== 'text') {
    fields.receipted_message_id = id;
    fields.message_state = tlvOfState(state) ?? 7;
    if (networkErrorCode !== undefined || state !== 'DELIVRD') {
      const code = networkErrorCode ?? Number.parseInt(err, 10);
      fields.network_error_code = Buffer.from([3, (code >> 8) & 0xff, code & 0xff]);
    }
  }
  return fields;
}

/** One deliver_sm of an MO message: its part number, its fields, and how many times it is sent. */
export interface MoPdu {
  seq: number;
  fields: Fields;
  times: number;
}

/** The deliver_sm of an MO message (parts dropped or duplicated as `mo.concat` asks), with reference `ref`. */
export function moPdus(mo: MoOptions, ref: number): { pdus: MoPdu[]; total: number } {
  const dc = mo.dataCoding ?? (isGsm7(mo.text) ? DATA_CODING.gsm7 : DATA_CODING.ucs2);
  const chunks = mo.concat?.parts ? splitEvenly(mo.text, mo.concat.parts) : mo.concat ? splitMessage(mo.text).partTexts : [mo.text];
  const total = chunks.length;
  const sourceNumeric = /^\+?\d+$/.test(mo.source);
  const pdus: MoPdu[] = [];
  for (let i = 0; i < total; i++) {
    const seq = i + 1;
    if (mo.concat?.dropSeq?.includes(seq)) continue;
    const payload = encodeFor(chunks[i] as string, dc);
    let sm = payload;
    if (total > 1) {
      const udh = mo.concat?.sixteenBitRef ? Buffer.from([0x06, 0x08, 0x04, (ref >> 8) & 0xff, ref & 0xff, total, seq]) : concatUdh(ref, total, seq);
      sm = Buffer.concat([udh, payload]);
    }
    const fields: Fields = {
      source_addr_ton: sourceNumeric ? 1 : 5,
      source_addr_npi: sourceNumeric ? 1 : 0,
      source_addr: mo.source.replace(/^\+/, ''),
      dest_addr_ton: /^\+?\d+$/.test(mo.destination) ? 1 : 5,
      dest_addr_npi: /^\+?\d+$/.test(mo.destination) ? 1 : 0,
      destination_addr: mo.destination.replace(/^\+/, ''),
      esm_class: total > 1 ? ESM_CLASS_UDHI : 0,
      data_coding: dc,
      ...(mo.messagePayload ? { message_payload: sm } : { short_message: sm }),
    };
    pdus.push({ seq, fields, times: mo.concat?.duplicateSeq?.includes(seq) ? 2 : 1 });
  }
  return { pdus, total };
}

function encodeFor(text: string, dataCoding: number): Buffer {
  switch (dataCoding) {
    case DATA_CODING.gsm7:
      return encodeGsm7(text);
    case DATA_CODING.latin1:
      return Buffer.from(text, 'latin1');
    case DATA_CODING.iso8859_5:
      return encodeIso8859_5(text);
    case DATA_CODING.ucs2:
      return encodeUcs2(text);
    default:
      return Buffer.from(text, 'latin1');
  }
}

/** Splits text into `n` nearly equal chunks of code points (never inside a surrogate pair). */
function splitEvenly(text: string, n: number): string[] {
  const chars = Array.from(text);
  const size = Math.ceil(chars.length / n);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(chars.slice(i * size, (i + 1) * size).join(''));
  return out;
}
