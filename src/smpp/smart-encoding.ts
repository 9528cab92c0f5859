/**
 * Smart encoding: typographic look-alikes that GSM 03.38 lacks (curly quotes, dashes, the
 * ellipsis, no-break and thin spaces, the minus sign, ...) replaced by the GSM-7 characters they
 * stand for, so a Latin text an editor "prettified" still goes as GSM-7 (160 characters a part)
 * instead of UCS-2 (70). It applies only when the replaced text is GSM-7 through and through: a
 * text that needs UCS-2 anyway (Cyrillic, emoji, ...) keeps every character as it was, and no
 * letter is ever transliterated.
 *
 * The same table is in SQL (sms_private.smart_text, migrations/0014_opt_out_smart_encoding.sql),
 * which applies it in sms_send when sms_settings.smart_encoding is on and stores the replaced
 * text, the one that is sent; scripts/gen-segment-vectors.py has an independent copy, and
 * test/vectors/segments.json holds what the three must agree on.
 */
import { isGsm7 } from './gsm7.js';

/** Look-alike → its GSM-7 replacement ('' removes an invisible character). */
export const LOOK_ALIKES: ReadonlyMap<string, string> = new Map([
  // Spaces: tab, no-break, the typographic spaces (en quad ... hair space), narrow no-break,
  // medium mathematical, ideographic.
  ['\t', ' '],
  ['\u00A0', ' '],
  ...Array.from({ length: 11 }, (_, i) => [String.fromCharCode(0x2000 + i), ' '] as [string, string]),
  ['\u202F', ' '],
  ['\u205F', ' '],
  ['\u3000', ' '],
  // Line and paragraph separators.
  ['\u2028', '\n'],
  ['\u2029', '\n'],
  // Invisible: soft hyphen, zero-width space / non-joiner / joiner, word joiner, zero-width no-break space.
  ['\u00AD', ''],
  ['\u200B', ''],
  ['\u200C', ''],
  ['\u200D', ''],
  ['\u2060', ''],
  ['\uFEFF', ''],
  // Single quotes and apostrophes: ‘ ’ ‚ ‛ ′ ‵ ‹ › ʼ ´ `
  ['\u2018', "'"],
  ['\u2019', "'"],
  ['\u201A', "'"],
  ['\u201B', "'"],
  ['\u2032', "'"],
  ['\u2035', "'"],
  ['\u2039', "'"],
  ['\u203A', "'"],
  ['\u02BC', "'"],
  ['\u00B4', "'"],
  ['`', "'"],
  // Double quotes: “ ” „ ‟ ″ ‶ « »
  ['\u201C', '"'],
  ['\u201D', '"'],
  ['\u201E', '"'],
  ['\u201F', '"'],
  ['\u2033', '"'],
  ['\u2036', '"'],
  ['\u00AB', '"'],
  ['\u00BB', '"'],
  // Hyphens, dashes and minus signs: ‐ ‑ ‒ – — ― ⁃ − ﹘ ﹣ －
  ['\u2010', '-'],
  ['\u2011', '-'],
  ['\u2012', '-'],
  ['\u2013', '-'],
  ['\u2014', '-'],
  ['\u2015', '-'],
  ['\u2043', '-'],
  ['\u2212', '-'],
  ['\uFE58', '-'],
  ['\uFE63', '-'],
  ['\uFF0D', '-'],
  // Leaders and the ellipsis: ․ ‥ …
  ['\u2024', '.'],
  ['\u2025', '..'],
  ['\u2026', '...'],
  // Slashes, circumflex and tilde: ⁄ ∕ ˆ ˜
  ['\u2044', '/'],
  ['\u2215', '/'],
  ['\u02C6', '^'],
  ['\u02DC', '~'],
]);

export interface SmartText {
  /** The text to send: replaced when that makes it GSM-7, else the input unchanged. */
  text: string;
  /** How many characters were replaced or removed (0: the text is the input). */
  replaced: number;
}

/** The text smart encoding sends for `body` (see the top of this file). */
export function smartEncode(body: string): SmartText {
  let out = '';
  let replaced = 0;
  for (const ch of body) {
    const r = LOOK_ALIKES.get(ch);
    if (r === undefined) {
      out += ch;
    } else {
      out += r;
      replaced++;
    }
  }
  if (replaced === 0 || !isGsm7(out)) return { text: body, replaced: 0 };
  return { text: out, replaced };
}
