/**
 * Chooses the encoding and splits a message body into parts, exactly as the SQL segment counter
 * does (both are checked against test/vectors/segments.json):
 *
 * - GSM 03.38 (data_coding 0x00) when every character is in the basic or extension table; an
 *   extension character takes 2 septets. One part holds 160 septets; a concatenated part 153
 *   (160 minus the 6-octet UDH, counted in septets as SMSCs do for unpacked GSM over SMPP).
 * - Otherwise UCS-2 (data_coding 0x08): 70 UTF-16 units single, 67 per concatenated part; a
 *   character outside the BMP takes 2 units.
 * - A part never ends inside an escape pair or a surrogate pair: the whole character moves on.
 *
 * With `smartEncoding`, typographic look-alikes are first replaced by their GSM-7 equivalents
 * when that makes the whole text GSM-7 (src/smpp/smart-encoding.ts), as sms_send does when
 * sms_settings.smart_encoding is on. Off by default: the worker sends the body sms_send stored,
 * which is already replaced (or deliberately not, with the setting off).
 */
import { encodeGsm7, gsm7Septets } from './gsm7.js';
import { DATA_CODING } from './data-coding.js';
import { smartEncode } from './smart-encoding.js';
import { encodeUcs2, isHighSurrogate } from './ucs2.js';

export type Encoding = 'gsm7' | 'ucs2';

export const PART_LIMITS: Record<Encoding, { single: number; multi: number }> = {
  gsm7: { single: 160, multi: 153 },
  ucs2: { single: 70, multi: 67 },
};

/** An 8-bit concatenation reference allows 255 parts; carriers allow fewer (Exolve: 10). */
export const MAX_PARTS = 255;

export interface SplitOptions {
  /** Replace typographic look-alikes when that makes the text GSM-7 (default false). */
  smartEncoding?: boolean;
}

export interface SplitMessage {
  encoding: Encoding;
  /** Septets (GSM-7) or UTF-16 units (UCS-2) of the whole text. */
  units: number;
  /** Each part's text; joined they give `text`. */
  partTexts: string[];
  /** The text that is sent: the body, or with `smartEncoding` its replaced form. */
  text: string;
  /** Characters smart encoding replaced or removed (0 without it). */
  replaced: number;
}

export interface EncodedMessage {
  encoding: Encoding;
  dataCoding: number;
  /** Septets (GSM-7) or UTF-16 units (UCS-2) of the whole body. */
  units: number;
  /** Each part's user data without UDH, in order. */
  parts: Buffer[];
  /** Each part's text; joined they give back the text sent exactly. */
  partTexts: string[];
  /** The text sent (see SplitMessage.text) and how many characters smart encoding replaced. */
  text: string;
  replaced: number;
}

interface Measured {
  encoding: Encoding;
  units: number;
}

function measure(body: string): Measured {
  let septets = 0;
  for (let i = 0; i < body.length; i++) {
    const s = gsm7Septets(body.charCodeAt(i));
    if (s === 0) return { encoding: 'ucs2', units: body.length };
    septets += s;
  }
  return { encoding: 'gsm7', units: septets };
}

/** Units the character starting at `i` takes, and how many code units it spans. */
function charAt(body: string, i: number, encoding: Encoding): { units: number; span: number } {
  const c = body.charCodeAt(i);
  if (encoding === 'gsm7') return { units: gsm7Septets(c), span: 1 };
  if (isHighSurrogate(c) && i + 1 < body.length) {
    const d = body.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return { units: 2, span: 2 };
  }
  return { units: 1, span: 1 };
}

/** The encoding, unit count and part texts of `input`, without encoding the bytes. */
export function splitMessage(input: string, options: SplitOptions = {}): SplitMessage {
  const { text: body, replaced } = options.smartEncoding ? smartEncode(input) : { text: input, replaced: 0 };
  const { encoding, units } = measure(body);
  const limits = PART_LIMITS[encoding];
  if (units <= limits.single) return { encoding, units, partTexts: [body], text: body, replaced };
  const partTexts: string[] = [];
  let start = 0;
  let fill = 0;
  let i = 0;
  while (i < body.length) {
    const ch = charAt(body, i, encoding);
    if (fill + ch.units > limits.multi) {
      partTexts.push(body.slice(start, i));
      start = i;
      fill = 0;
    }
    fill += ch.units;
    i += ch.span;
  }
  if (start < body.length) partTexts.push(body.slice(start));
  return { encoding, units, partTexts, text: body, replaced };
}

/** Encodes and splits `body` for submit_sm: payloads are what goes after the UDH (if any). */
export function encodeMessage(body: string, options: SplitOptions = {}): EncodedMessage {
  const { encoding, units, partTexts, text, replaced } = splitMessage(body, options);
  const encode = encoding === 'gsm7' ? encodeGsm7 : encodeUcs2;
  return { encoding, dataCoding: DATA_CODING[encoding], units, parts: partTexts.map(encode), partTexts, text, replaced };
}

/** Segment count alone (what sms_send stores), without allocating the payloads. */
export function countSegments(body: string, options: SplitOptions = {}): number {
  return splitMessage(body, options).partTexts.length;
}
