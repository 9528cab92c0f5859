/**
 * Text that Postgres can store. A `text` value (and a jsonb string) cannot hold U+0000: Postgres
 * refuses the whole statement (22021, or 22P05 inside jsonb). JavaScript strings can also hold
 * unpaired UTF-16 surrogates (a UCS-2 SMS cut between the halves of an emoji), which have no UTF-8
 * form: node-postgres would silently send U+FFFD for them. Both come straight from the SMSC's
 * bytes, so every text derived from inbound traffic passes through here before it is written.
 */

/** Written in place of each character Postgres cannot store. */
export const REPLACEMENT_CHARACTER = '\uFFFD';

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` with U+0000 and unpaired surrogates replaced by U+FFFD, and whether any was. */
export function storableText(text: string): { text: string; replaced: boolean } {
  UNSTORABLE.lastIndex = 0;
  if (!UNSTORABLE.test(text)) return { text, replaced: false };
  UNSTORABLE.lastIndex = 0;
  return { text: text.replace(UNSTORABLE, REPLACEMENT_CHARACTER), replaced: true };
}

/** storableText's text alone; null stays null. */
export function pgText(text: string): string;
export function pgText(text: string | null): string | null;
export function pgText(text: string | null): string | null {
  return text === null ? null : storableText(text).text;
}
