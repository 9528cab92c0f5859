/**
 * Delivery receipts. SMSCs carry them as deliver_sm with an esm_class message type (0x04 for a
 * delivery receipt), the id in TLV receipted_message_id (0x001E) and/or in the text
 * `id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:EEE text:...`,
 * the state in TLV message_state (0x0427) and/or `stat:`, the error in `err:` and/or TLV
 * network_error_code (0x0423). We read whatever is there, prefer the TLVs (typed, unambiguous), and
 * keep the other id too, since some SMSCs put a hex id in one and a decimal id in the other.
 */
import { DATA_CODING } from './data-coding.js';
import { decodePayload } from './mo.js';
import { normalizeReceiptState, stateFromTlv } from './receipt-state.js';
import { TLV, tlvInt, tlvString, userData, type SmFields } from './sm-body.js';

export type { ReceiptState } from './receipt-state.js';

export interface Receipt {
  /** The raw SMSC id: TLV receipted_message_id when present, else the text's `id:`. */
  messageId: string;
  /** Other raw ids the same receipt carried (the text id when it differs from the TLV id). */
  altMessageIds: string[];
  /** Normalized state (ReceiptState when recognized, else the SMSC's word upper-cased), null if absent. */
  state: string | null;
  /** The `err:` value as sent, else the network_error_code's code in decimal; null if neither. */
  error: string | null;
  /** TLV network_error_code: network type (1 ANSI-136, 2 IS-95, 3 GSM, ...) and the error code. */
  networkError: { networkType: number; code: number } | null;
  /** `submit date:` / `done date:` read as UTC (SMSCs do not say their zone). */
  submitDate: Date | null;
  doneDate: Date | null;
  /** The receipt's decoded text, as received. */
  text: string;
  /** The receipt's source (the handset the SMS went to) and destination (our sender). */
  source: string;
  destination: string;
  /** esm_class message type bits: 0x04 SMSC delivery receipt, 0x20 intermediate notification, ... */
  esmType: number;
}

export interface ReceiptTextFields {
  id: string | null;
  sub: string | null;
  dlvrd: string | null;
  submitDate: Date | null;
  doneDate: Date | null;
  stat: string | null;
  err: string | null;
  text: string | null;
}

const FIELD = (name: string, value = '\\S+') => new RegExp(`(?:^|[\\s,;])${name}\\s*:\\s*(${value})`, 'i');
const RE_ID = FIELD('id');
const RE_SUB = FIELD('sub', '\\d+');
const RE_DLVRD = FIELD('dlvrd', '\\d+');
const RE_SUBMIT = FIELD('submit[ _]?date', '\\d{10,14}');
const RE_DONE = FIELD('done[ _]?date', '\\d{10,14}');
const RE_STAT = FIELD('stat', '[A-Za-z_]+');
const RE_ERR = FIELD('err', '[0-9A-Za-z]+');
const RE_TEXT = /(?:^|\s)text\s*:(.*)$/is;

/** YYMMDDhhmm[ss] as UTC; null when the digits are not a valid date. */
export function parseReceiptDate(digits: string): Date | null {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?/.exec(digits);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '00'].map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  const date = new Date(Date.UTC(2000 + y, mo - 1, d, h, mi, s));
  return date.getUTCDate() === d ? date : null;
}

/** Reads the text form; each field is null when absent. Order, case and separators are free. */
export function parseReceiptText(text: string): ReceiptTextFields {
  const get = (re: RegExp) => re.exec(text)?.[1] ?? null;
  const submit = get(RE_SUBMIT);
  const done = get(RE_DONE);
  return {
    id: get(RE_ID),
    sub: get(RE_SUB),
    dlvrd: get(RE_DLVRD),
    submitDate: submit ? parseReceiptDate(submit) : null,
    doneDate: done ? parseReceiptDate(done) : null,
    stat: get(RE_STAT),
    err: get(RE_ERR),
    text: RE_TEXT.exec(text)?.[1]?.trim() ?? null,
  };
}

/** esm_class message-type bits that mark an SMSC/SME notification rather than a user message. */
export const ESM_TYPE_MASK = 0x3c;

/** True when a deliver_sm is a receipt: an esm_class notification type, or both receipt TLVs. */
export function isReceipt(fields: SmFields): boolean {
  if ((fields.esmClass & ESM_TYPE_MASK) !== 0) return true;
  return fields.tlvs.has(TLV.receipted_message_id) && fields.tlvs.has(TLV.message_state);
}

export class ReceiptFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReceiptFormatError';
  }
}

/** Builds a Receipt from a deliver_sm; throws ReceiptFormatError when it carries no message id. */
export function parseReceipt(fields: SmFields): Receipt {
  const data = userData(fields);
  const text = fields.dataCoding === DATA_CODING.ucs2 ? decodePayload(data, DATA_CODING.ucs2) : data.toString('latin1');
  const parsed = parseReceiptText(text);
  const tlvId = tlvString(fields.tlvs.get(TLV.receipted_message_id))?.trim() || null;
  const messageId = tlvId ?? parsed.id;
  if (!messageId) throw new ReceiptFormatError('receipt carries no message id (neither TLV receipted_message_id nor "id:" in the text)');
  const altMessageIds = tlvId && parsed.id && parsed.id !== tlvId ? [parsed.id] : [];
  const tlvState = tlvInt(fields.tlvs.get(TLV.message_state));
  const state = (tlvState !== null ? stateFromTlv(tlvState) : null) ?? normalizeReceiptState(parsed.stat);
  const net = fields.tlvs.get(TLV.network_error_code);
  const networkError = net && net.length >= 3 ? { networkType: net[0] as number, code: net.readUInt16BE(1) } : null;
  return {
    messageId,
    altMessageIds,
    state,
    error: parsed.err ?? (networkError ? String(networkError.code) : null),
    networkError,
    submitDate: parsed.submitDate,
    doneDate: parsed.doneDate,
    text,
    source: fields.source,
    destination: fields.destination,
    esmType: fields.esmClass & ESM_TYPE_MASK,
  };
}

/** Builds the text form an SMSC sends (used by the simulator; follows SMPP 3.4 Appendix B). */
export function formatReceiptText(r: {
  id: string;
  stat: string;
  err?: string;
  submitDate?: Date;
  doneDate?: Date;
  text?: string;
  sub?: number;
  dlvrd?: number;
}): string {
  const d = (date: Date) =>
    [date.getUTCFullYear() % 100, date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes()]
      .map((n) => String(n).padStart(2, '0'))
      .join('');
  const now = new Date();
  const sub = String(r.sub ?? 1).padStart(3, '0');
  const dlvrd = String(r.dlvrd ?? (r.stat === 'DELIVRD' ? 1 : 0)).padStart(3, '0');
  return (
    `id:${r.id} sub:${sub} dlvrd:${dlvrd} submit date:${d(r.submitDate ?? now)} done date:${d(r.doneDate ?? now)} ` +
    `stat:${r.stat} err:${r.err ?? '000'} text:${(r.text ?? '').slice(0, 20)}`
  );
}
