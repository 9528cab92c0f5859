/**
 * GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table, as SMSCs expect it over
 * SMPP with data_coding 0x00: one septet per octet, unpacked; an extension character is the escape
 * 0x1B followed by its code. National language shift tables are not used (they are not needed for
 * Latin or Cyrillic traffic: Cyrillic goes as UCS-2).
 */

/** The 128 basic characters by septet value; 0x1B (the escape) is a placeholder here. */
export const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** Extension table: character → code sent after the escape. */
export const GSM7_EXTENSION: ReadonlyMap<string, number> = new Map([
  ['\f', 0x0a],
  ['^', 0x14],
  ['{', 0x28],
  ['}', 0x29],
  ['\\', 0x2f],
  ['[', 0x3c],
  ['~', 0x3d],
  [']', 0x3e],
  ['|', 0x40],
  ['€', 0x65],
]);

export const GSM7_ESCAPE = 0x1b;

/**
 * Septet value of every BMP code unit: 0..127 basic, 0x100 | code for extension characters,
 * -1 when the character is not in GSM 03.38. A flat table keeps the hot path branch-light.
 */
const ENCODE = new Int16Array(0x10000).fill(-1);
for (let i = 0; i < GSM7_BASIC.length; i++) {
  if (i !== GSM7_ESCAPE) ENCODE[GSM7_BASIC.charCodeAt(i)] = i;
}
for (const [ch, code] of GSM7_EXTENSION) ENCODE[ch.charCodeAt(0)] = 0x100 | code;

const DECODE_EXTENSION = new Map<number, string>();
for (const [ch, code] of GSM7_EXTENSION) DECODE_EXTENSION.set(code, ch);

/** Septets a single UTF-16 code unit takes in GSM-7: 1 basic, 2 extension, 0 not representable. */
export function gsm7Septets(codeUnit: number): 0 | 1 | 2 {
  const v = ENCODE[codeUnit] ?? -1;
  return v < 0 ? 0 : v > 0xff ? 2 : 1;
}

/** True when every character of `text` is in the GSM basic or extension table. */
export function isGsm7(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if ((ENCODE[text.charCodeAt(i)] as number) < 0) return false;
  }
  return true;
}

/** Septets `text` needs (extension characters count 2); -1 when it is not GSM-7. */
export function gsm7Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const v = ENCODE[text.charCodeAt(i)] as number;
    if (v < 0) return -1;
    n += v > 0xff ? 2 : 1;
  }
  return n;
}

/** Encodes GSM-7 text unpacked (one septet per octet). Throws on a character outside GSM 03.38. */
export function encodeGsm7(text: string): Buffer {
  const n = gsm7Length(text);
  if (n < 0) throw new RangeError('text contains a character outside GSM 03.38');
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const v = ENCODE[text.charCodeAt(i)] as number;
    if (v > 0xff) {
      out[o++] = GSM7_ESCAPE;
      out[o++] = v & 0x7f;
    } else {
      out[o++] = v;
    }
  }
  return out;
}

/**
 * Decodes unpacked GSM-7 (one septet per octet; the high bit is ignored). An escape followed by a
 * code with no extension character shows the basic character, as TS 23.038 asks; a doubled escape
 * shows a space; a lone escape at the very end is dropped.
 */
export function decodeGsm7(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = (bytes[i] as number) & 0x7f;
    if (b === GSM7_ESCAPE) {
      if (i + 1 >= bytes.length) break;
      const next = (bytes[++i] as number) & 0x7f;
      const ext = DECODE_EXTENSION.get(next);
      if (ext !== undefined) out += ext;
      else if (next === GSM7_ESCAPE) out += ' ';
      else out += GSM7_BASIC[next];
    } else {
      out += GSM7_BASIC[b];
    }
  }
  return out;
}
