/**
 * Incoming (MO) SMS: decoding user data by data_coding and reassembling concatenated parts.
 *
 * The worker stores every part in Postgres before it acknowledges the deliver_sm, so reassembly is
 * a pure function over stored parts: it can run when the last part arrives, or later by a sweep
 * that gives up waiting for a part that never came.
 */
import { decodeLatin1, decodeIso8859_5 } from './charsets.js';
import { decodeGsm7 } from './gsm7.js';
import { decodeUcs2 } from './ucs2.js';
import { alphabetOf } from './data-coding.js';

/** Stands in for each run of missing parts in a reassembled text, so a gap is visible. */
export const MISSING_PART_MARKER = '…';

/**
 * Decodes user data (without UDH). GSM-7 is taken unpacked, one septet per octet, as SMSCs send it
 * over SMPP; an octet above 0x7F cannot be a septet, so such a payload labelled 0x00 is read as
 * Latin-1 (some SMSCs put Latin-1 there). UCS-2 is big-endian UTF-16, so a surrogate pair split
 * across two parts decodes correctly once the payloads are concatenated (see `reassemble`).
 */
export function decodePayload(payload: Buffer, dataCoding: number): string {
  const alphabet = alphabetOf(dataCoding);
  switch (alphabet) {
    case 'gsm7':
      return payload.some((b) => b > 0x7f) ? decodeLatin1(payload) : decodeGsm7(payload);
    case 'ascii':
    case 'latin1':
      return decodeLatin1(payload);
    case 'iso8859_5':
      return decodeIso8859_5(payload);
    case 'ucs2':
      return decodeUcs2(payload);
  }
}

export interface StoredPart {
  seq: number;
  payload: Buffer;
}

/**
 * Joins the parts of one concatenated message (1-based `seq`, `total` parts). Duplicates of a
 * sequence number are ignored (the first one stored wins); parts outside 1..total are ignored.
 * Adjacent parts are concatenated as bytes before decoding, so an escape or a surrogate pair that a
 * sender split across parts comes out whole. Each run of missing parts shows as one
 * MISSING_PART_MARKER and is listed in `missing`, so a caller can tell "complete" from "gave up".
 * `payload` is the user data of the parts used, joined in order: the bytes behind `text`.
 */
export function reassemble(parts: StoredPart[], total: number, dataCoding: number): { text: string; missing: number[]; payload: Buffer } {
  const bySeq = new Map<number, Buffer>();
  for (const p of parts) {
    if (Number.isInteger(p.seq) && p.seq >= 1 && p.seq <= total && !bySeq.has(p.seq)) bySeq.set(p.seq, p.payload);
  }
  const missing: number[] = [];
  const used: Buffer[] = [];
  let text = '';
  let run: Buffer[] = [];
  const flush = () => {
    if (run.length) text += decodePayload(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run), dataCoding);
    run = [];
  };
  for (let seq = 1; seq <= total; seq++) {
    const payload = bySeq.get(seq);
    if (payload) {
      run.push(payload);
      used.push(payload);
    } else {
      flush();
      if (missing.length === 0 || missing[missing.length - 1] !== seq - 1) text += MISSING_PART_MARKER;
      missing.push(seq);
    }
  }
  flush();
  return { text, missing, payload: Buffer.concat(used) };
}
