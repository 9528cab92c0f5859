/**
 * SMSC message ids. SMSCs disagree between the submit_sm_resp and the receipt: one side hex, the
 * other decimal, some zero-padded, some upper-case. We store the normalized form of every part's
 * id and match a receipt by trying its candidates in order.
 */

/** Trims (spaces and NULs), lower-cases, strips leading zeros (keeping a single "0"). */
export function normalizeMessageId(raw: string): string {
  const s = raw.replace(/^[\s\0]+|[\s\0]+$/g, '').toLowerCase();
  const stripped = s.replace(/^0+/, '');
  return stripped === '' && s !== '' ? '0' : stripped;
}

const DECIMAL = /^[0-9]+$/;
const HEX = /^[0-9a-f]+$/;
/** Longer ids are not numbers in another base (UUIDs, composite ids): no reinterpretation. */
const MAX_NUMERIC_DIGITS = 32;

/**
 * The normalized id first, then its reinterpretations in the other base, when the digits allow:
 * decimal digits read as decimal give a hex form, hex digits read as hex give a decimal form.
 * "255" → ["255", "ff", "597"]; "1a2b" → ["1a2b", "6699"]; "abc-1" → ["abc-1"].
 */
export function receiptIdCandidates(raw: string): string[] {
  const id = normalizeMessageId(raw);
  const out = [id];
  if (id === '' || id.length > MAX_NUMERIC_DIGITS) return out;
  const add = (v: string) => {
    if (!out.includes(v)) out.push(v);
  };
  if (DECIMAL.test(id)) add(BigInt(id).toString(16));
  if (HEX.test(id)) add(BigInt(`0x${id}`).toString(10));
  return out;
}
