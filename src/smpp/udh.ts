/**
 * User Data Header (TS 23.040 9.2.3.24) for concatenated messages. We send the 8-bit reference
 * form (IE 0x00, 6 octets: 05 00 03 ref total seq) with esm_class 0x40; we read both the 8-bit
 * (0x00) and the 16-bit (0x08) reference forms and skip every other information element.
 */

export const ESM_CLASS_UDHI = 0x40;

/** Octets of the concatenation UDH we send; the per-part payload limits (153/67) leave room for it. */
export const CONCAT_UDH_LENGTH = 6;

export function concatUdh(ref: number, total: number, seq: number): Buffer {
  return Buffer.from([0x05, 0x00, 0x03, ref & 0xff, total & 0xff, seq & 0xff]);
}

export interface ConcatInfo {
  ref: number;
  total: number;
  seq: number;
}

export interface ParsedUdh {
  /** Octets the header takes, length byte included; the user data starts here. */
  length: number;
  concat: ConcatInfo | null;
}

/**
 * Reads the UDH at the start of `data` (whose first octet is the UDH length). Returns null when the
 * header does not fit the data: the caller then treats the whole thing as user data.
 * A concatenation IE with total 0 or a sequence outside 1..total is ignored, as TS 23.040 asks.
 */
export function parseUdh(data: Uint8Array): ParsedUdh | null {
  if (data.length < 1) return null;
  const udhl = data[0] as number;
  if (udhl + 1 > data.length) return null;
  let concat: ConcatInfo | null = null;
  let i = 1;
  const end = udhl + 1;
  while (i + 2 <= end) {
    const iei = data[i] as number;
    const len = data[i + 1] as number;
    const body = i + 2;
    if (body + len > end) break;
    if (iei === 0x00 && len === 3) {
      concat = checked(data[body] as number, data[body + 1] as number, data[body + 2] as number) ?? concat;
    } else if (iei === 0x08 && len === 4) {
      const ref = ((data[body] as number) << 8) | (data[body + 1] as number);
      concat = checked(ref, data[body + 2] as number, data[body + 3] as number) ?? concat;
    }
    i = body + len;
  }
  return { length: end, concat };
}

function checked(ref: number, total: number, seq: number): ConcatInfo | null {
  if (total < 1 || seq < 1 || seq > total) return null;
  return { ref, total, seq };
}
