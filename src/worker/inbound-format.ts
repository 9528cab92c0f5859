/**
 * How inbound SMPP data is named in Postgres: receipt states in their SMPP 3.4 short form
 * (SMSCs also send long forms or the numeric message_state), and MO encodings by name.
 */
import { receiptIdCandidates } from '../smpp/message-id.js';

const STATE_ALIASES: Record<string, string> = {
  DELIVRD: 'DELIVRD',
  DELIVERED: 'DELIVRD',
  UNDELIV: 'UNDELIV',
  UNDELIVERABLE: 'UNDELIV',
  UNDELIVERED: 'UNDELIV',
  EXPIRED: 'EXPIRED',
  REJECTD: 'REJECTD',
  REJECTED: 'REJECTD',
  DELETED: 'DELETED',
  UNKNOWN: 'UNKNOWN',
  ACCEPTD: 'ACCEPTD',
  ACCEPTED: 'ACCEPTD',
  ENROUTE: 'ENROUTE',
  // SMPP 3.4 message_state values (TLV 0x0427), in case a state arrives as a number.
  '1': 'ENROUTE',
  '2': 'DELIVRD',
  '3': 'EXPIRED',
  '4': 'DELETED',
  '5': 'UNDELIV',
  '6': 'ACCEPTD',
  '7': 'UNKNOWN',
  '8': 'REJECTD',
};

/** The SMPP 3.4 short state name, or the input upper-cased when it is something else. */
export function normalizeReceiptState(state: string | null | undefined): string | null {
  if (state === null || state === undefined) return null;
  const s = state.trim().toUpperCase();
  if (!s) return null;
  return STATE_ALIASES[s] ?? s;
}

/** What receipt matching needs from a receipt: its id in every form, its state normalised. */
export function matchFields(rawId: string, state: string | null, error: string | null): { candidates: string[]; state: string | null; error: string | null } {
  return { candidates: receiptIdCandidates(rawId), state: normalizeReceiptState(state), error };
}

/** sms_inbox.encoding for an SMPP data_coding value. */
export function encodingName(dataCoding: number): string {
  switch (dataCoding) {
    case 0x00:
      return 'gsm7';
    case 0x01:
      return 'ascii';
    case 0x03:
      return 'latin1';
    case 0x06:
      return 'iso-8859-5';
    case 0x08:
      return 'ucs2';
    default:
      return `dcs-0x${dataCoding.toString(16).padStart(2, '0')}`;
  }
}
