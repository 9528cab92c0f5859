/**
 * Every SMPP command_status in one table, each classified for a submit_sm result:
 *
 * - `ok`: ESME_ROK.
 * - `transient`: the message itself is fine, the SMSC or the session is not (throttling, queue
 *   full, system error, bind-state and credential problems, application "temporary" errors).
 *   Retrying costs nothing: a rejected submit was neither accepted nor billed.
 * - `permanent`: the message as built cannot succeed (bad address, length, coding, flags...).
 *   Retrying sends the same PDU to the same refusal, so the message fails.
 *
 * Codes not in the table (the 0x0400–0x04FF vendor range and everything reserved) are `transient`:
 * a retry of a refused submit is harmless and the worker bounds attempts, whereas calling an
 * unknown code permanent could fail an OTP that a retry would have delivered. Name them with
 * `ESME_VENDOR_0xNNNN` / `ESME_UNKNOWN_0xNNNN` so logs show the raw code.
 */

export type StatusKind = 'ok' | 'transient' | 'permanent';

export interface StatusInfo {
  code: number;
  name: string;
  description: string;
  kind: StatusKind;
}

type Row = readonly [code: number, name: string, description: string, kind: StatusKind];

const T = 'transient';
const P = 'permanent';

// SMPP 3.4 section 5.1.3, plus the SMPP 5.0 additions the smpp package also knows.
const ROWS = [
  [0x0000, 'ESME_ROK', 'No error', 'ok'],
  [0x0001, 'ESME_RINVMSGLEN', 'Message length is invalid', P],
  [0x0002, 'ESME_RINVCMDLEN', 'Command length is invalid', P],
  [0x0003, 'ESME_RINVCMDID', 'Invalid command ID', T],
  [0x0004, 'ESME_RINVBNDSTS', 'Incorrect bind status for given command', T],
  [0x0005, 'ESME_RALYBND', 'ESME already in bound state', T],
  [0x0006, 'ESME_RINVPRTFLG', 'Invalid priority flag', P],
  [0x0007, 'ESME_RINVREGDLVFLG', 'Invalid registered delivery flag', P],
  [0x0008, 'ESME_RSYSERR', 'System error', T],
  [0x000a, 'ESME_RINVSRCADR', 'Invalid source address', P],
  [0x000b, 'ESME_RINVDSTADR', 'Invalid destination address', P],
  [0x000c, 'ESME_RINVMSGID', 'Message ID is invalid', P],
  [0x000d, 'ESME_RBINDFAIL', 'Bind failed', T],
  [0x000e, 'ESME_RINVPASWD', 'Invalid password', T],
  [0x000f, 'ESME_RINVSYSID', 'Invalid system ID', T],
  [0x0011, 'ESME_RCANCELFAIL', 'Cancel SM failed', P],
  [0x0013, 'ESME_RREPLACEFAIL', 'Replace SM failed', P],
  [0x0014, 'ESME_RMSGQFUL', 'Message queue full', T],
  [0x0015, 'ESME_RINVSERTYP', 'Invalid service type', P],
  [0x0033, 'ESME_RINVNUMDESTS', 'Invalid number of destinations', P],
  [0x0034, 'ESME_RINVDLNAME', 'Invalid distribution list name', P],
  [0x0040, 'ESME_RINVDESTFLAG', 'Destination flag is invalid (submit_multi)', P],
  [0x0042, 'ESME_RINVSUBREP', "Invalid 'submit with replace' request", P],
  [0x0043, 'ESME_RINVESMCLASS', 'Invalid esm_class field data', P],
  [0x0044, 'ESME_RCNTSUBDL', 'Cannot submit to distribution list', P],
  [0x0045, 'ESME_RSUBMITFAIL', 'submit_sm or submit_multi failed', T],
  [0x0048, 'ESME_RINVSRCTON', 'Invalid source address TON', P],
  [0x0049, 'ESME_RINVSRCNPI', 'Invalid source address NPI', P],
  [0x0050, 'ESME_RINVDSTTON', 'Invalid destination address TON', P],
  [0x0051, 'ESME_RINVDSTNPI', 'Invalid destination address NPI', P],
  [0x0053, 'ESME_RINVSYSTYP', 'Invalid system_type field', T],
  [0x0054, 'ESME_RINVREPFLAG', 'Invalid replace_if_present flag', P],
  [0x0055, 'ESME_RINVNUMMSGS', 'Invalid number of messages', P],
  [0x0058, 'ESME_RTHROTTLED', 'Throttling error (ESME has exceeded allowed message limits)', T],
  [0x0061, 'ESME_RINVSCHED', 'Invalid scheduled delivery time', P],
  [0x0062, 'ESME_RINVEXPIRY', 'Invalid message validity period (expiry time)', P],
  [0x0063, 'ESME_RINVDFTMSGID', 'Predefined message invalid or not found', P],
  [0x0064, 'ESME_RX_T_APPN', 'ESME receiver temporary app error code', T],
  [0x0065, 'ESME_RX_P_APPN', 'ESME receiver permanent app error code', P],
  [0x0066, 'ESME_RX_R_APPN', 'ESME receiver reject message error code', P],
  [0x0067, 'ESME_RQUERYFAIL', 'query_sm request failed', P],
  [0x00c0, 'ESME_RINVOPTPARSTREAM', 'Error in the optional part of the PDU body', P],
  [0x00c1, 'ESME_ROPTPARNOTALLWD', 'Optional parameter not allowed', P],
  [0x00c2, 'ESME_RINVPARLEN', 'Invalid parameter length', P],
  [0x00c3, 'ESME_RMISSINGOPTPARAM', 'Expected optional parameter missing', P],
  [0x00c4, 'ESME_RINVOPTPARAMVAL', 'Invalid optional parameter value', P],
  [0x00fe, 'ESME_RDELIVERYFAILURE', 'Delivery failure (data_sm_resp)', T],
  [0x00ff, 'ESME_RUNKNOWNERR', 'Unknown error', T],
  [0x0100, 'ESME_RSERTYPUNAUTH', 'ESME not authorised to use specified service_type', P],
  [0x0101, 'ESME_RPROHIBITED', 'ESME prohibited from using specified operation', P],
  [0x0102, 'ESME_RSERTYPUNAVAIL', 'Specified service_type is unavailable', T],
  [0x0103, 'ESME_RSERTYPDENIED', 'Specified service_type is denied', P],
  [0x0104, 'ESME_RINVDCS', 'Invalid data coding scheme', P],
  [0x0105, 'ESME_RINVSRCADDRSUBUNIT', 'Source address subunit is invalid', P],
  [0x0106, 'ESME_RINVDSTADDRSUBUNIT', 'Destination address subunit is invalid', P],
  [0x0107, 'ESME_RINVBCASTFREQINT', 'Broadcast frequency interval is invalid', P],
  [0x0108, 'ESME_RINVBCASTALIAS_NAME', 'Broadcast alias name is invalid', P],
  [0x0109, 'ESME_RINVBCASTAREAFMT', 'Broadcast area format is invalid', P],
  [0x010a, 'ESME_RINVNUMBCAST_AREAS', 'Number of broadcast areas is invalid', P],
  [0x010b, 'ESME_RINVBCASTCNTTYPE', 'Broadcast content type is invalid', P],
  [0x010c, 'ESME_RINVBCASTMSGCLASS', 'Broadcast message class is invalid', P],
  [0x010d, 'ESME_RBCASTFAIL', 'broadcast_sm operation failed', T],
  [0x010e, 'ESME_RBCASTQUERYFAIL', 'query_broadcast_sm operation failed', T],
  [0x010f, 'ESME_RBCASTCANCELFAIL', 'cancel_broadcast_sm operation failed', T],
  [0x0110, 'ESME_RINVBCAST_REP', 'Number of repeated broadcasts is invalid', P],
  [0x0111, 'ESME_RINVBCASTSRVGRP', 'Broadcast service group is invalid', P],
  [0x0112, 'ESME_RINVBCASTCHANIND', 'Broadcast channel indicator is invalid', P],
] as const satisfies readonly Row[];

export type StatusName = (typeof ROWS)[number][1];

const TABLE = new Map<number, StatusInfo>(ROWS.map(([code, name, description, kind]): [number, StatusInfo] => [code, { code, name, description, kind }]));
const BY_NAME = new Map<string, number>(ROWS.map(([code, name]): [string, number] => [name, code]));

/** Named codes, for building PDUs and tests: STATUS.ESME_RTHROTTLED === 0x58. */
export const STATUS = Object.freeze(Object.fromEntries(ROWS.map(([code, name]) => [name, code]))) as Readonly<Record<StatusName, number>>;

export function hex4(code: number): string {
  return `0x${(code >>> 0).toString(16).padStart(4, '0')}`;
}

/** The name, description and kind of any command_status; unknown codes are transient (see above). */
export function classifyStatus(code: number): StatusInfo {
  const known = TABLE.get(code);
  if (known) return known;
  const vendor = code >= 0x0400 && code <= 0x04ff;
  return {
    code,
    name: vendor ? `ESME_VENDOR_${hex4(code)}` : `ESME_UNKNOWN_${hex4(code)}`,
    description: vendor ? `SMSC vendor-specific error ${hex4(code)}` : `Reserved or unknown error ${hex4(code)}`,
    kind: 'transient',
  };
}

export function statusCode(name: string): number | undefined {
  return BY_NAME.get(name);
}

/** Throttling: the session slows down and resubmits the same part instead of failing it. */
export function isThrottle(code: number): boolean {
  return code === 0x58 || code === 0x14;
}

/** A bind refused for these means the credentials (or the account) are wrong: retry slowly. */
export function isCredentialError(code: number): boolean {
  return code === 0x0d || code === 0x0e || code === 0x0f;
}
