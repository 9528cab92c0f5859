/**
 * Receipt states: SMPP 3.4's short names (DELIVRD, UNDELIV, ...), as SMSCs also send them: long
 * forms (DELIVERED), other shortenings (EXPIRD), or the numeric message_state (TLV 0x0427), in
 * the text or as a number.
 */

/** Every state, final ones first. */
export const RECEIPT_STATES = ['DELIVRD', 'UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN', 'ACCEPTD', 'ENROUTE', 'SCHEDULED', 'SKIPPED'] as const;

export type ReceiptState = (typeof RECEIPT_STATES)[number];

/**
 * The states that end a part: a later receipt never replaces them. The database's list
 * (sms_private.final_receipt_states, which decides) is the same; test/db/state-lists.test.ts
 * compares them.
 */
export const FINAL_RECEIPT_STATES: readonly ReceiptState[] = RECEIPT_STATES.slice(0, 6);

/** message_state values (SMPP 3.4 5.2.28). */
const STATE_BY_TLV: Record<number, ReceiptState> = {
  0: 'SCHEDULED',
  1: 'ENROUTE',
  2: 'DELIVRD',
  3: 'EXPIRED',
  4: 'DELETED',
  5: 'UNDELIV',
  6: 'ACCEPTD',
  7: 'UNKNOWN',
  8: 'REJECTD',
  9: 'SKIPPED',
};

const STATE_ALIASES: Record<string, ReceiptState> = {
  DELIVRD: 'DELIVRD',
  DELIVERED: 'DELIVRD',
  DELIVER: 'DELIVRD',
  UNDELIV: 'UNDELIV',
  UNDELIVERABLE: 'UNDELIV',
  UNDELIVERED: 'UNDELIV',
  EXPIRED: 'EXPIRED',
  EXPIRD: 'EXPIRED',
  DELETED: 'DELETED',
  DELETD: 'DELETED',
  UNKNOWN: 'UNKNOWN',
  UNKNOW: 'UNKNOWN',
  ACCEPTD: 'ACCEPTD',
  ACCEPTED: 'ACCEPTD',
  REJECTD: 'REJECTD',
  REJECTED: 'REJECTD',
  ENROUTE: 'ENROUTE',
  SCHEDULED: 'SCHEDULED',
  SKIPPED: 'SKIPPED',
  // A message_state that arrived as digits.
  ...Object.fromEntries(Object.entries(STATE_BY_TLV).map(([n, s]) => [n, s])),
};

const TLV_BY_STATE = new Map<string, number>(Object.entries(STATE_BY_TLV).map(([n, s]) => [s, Number(n)]));

/** The message_state TLV value of a state, null for a name SMPP 3.4 does not define. */
export function tlvOfState(state: string): number | null {
  return TLV_BY_STATE.get(state) ?? null;
}

/** The state of a message_state TLV value, null for a value SMPP 3.4 does not define. */
export function stateFromTlv(value: number): ReceiptState | null {
  return STATE_BY_TLV[value] ?? null;
}

/**
 * The SMPP 3.4 short state name, or the input trimmed and upper-cased when it is something else;
 * null for null or blank.
 */
export function normalizeReceiptState(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const s = raw.trim().toUpperCase();
  if (!s) return null;
  return STATE_ALIASES[s] ?? s;
}
