/**
 * Reads the bodies of submit_sm and deliver_sm (identical layouts, SMPP 3.4 4.4.1 / 4.6.1) as raw
 * fields: short_message stays bytes and optional parameters stay raw TLVs. Every length is checked
 * against the PDU, so a malformed PDU throws PduFormatError instead of reading past its end.
 */
import { HEADER_LENGTH, PduFormatError, readCString } from './pdu.js';

export const TLV = {
  receipted_message_id: 0x001e,
  sar_msg_ref_num: 0x020c,
  sar_total_segments: 0x020e,
  sar_segment_seqnum: 0x020f,
  network_error_code: 0x0423,
  message_payload: 0x0424,
  message_state: 0x0427,
} as const;

export interface SmFields {
  serviceType: string;
  sourceTon: number;
  sourceNpi: number;
  source: string;
  destTon: number;
  destNpi: number;
  destination: string;
  esmClass: number;
  protocolId: number;
  priorityFlag: number;
  scheduleDeliveryTime: string;
  validityPeriod: string;
  registeredDelivery: number;
  replaceIfPresent: number;
  dataCoding: number;
  smDefaultMsgId: number;
  shortMessage: Buffer;
  /** Optional parameters by tag, raw values (the first occurrence of a tag wins). */
  tlvs: Map<number, Buffer>;
}

function u8(buf: Buffer, offset: number, field: string): number {
  if (offset >= buf.length) throw new PduFormatError(`${field}: the PDU ends before it`);
  return buf[offset] as number;
}

/** Parses a submit_sm or deliver_sm PDU (header included; `pdu.length` is the command_length). */
export function parseSmBody(pdu: Buffer): SmFields {
  let o = HEADER_LENGTH;
  let serviceType: string, source: string, destination: string, scheduleDeliveryTime: string, validityPeriod: string;
  [serviceType, o] = readCString(pdu, o, 5, 'service_type');
  const sourceTon = u8(pdu, o++, 'source_addr_ton');
  const sourceNpi = u8(pdu, o++, 'source_addr_npi');
  [source, o] = readCString(pdu, o, 64, 'source_addr');
  const destTon = u8(pdu, o++, 'dest_addr_ton');
  const destNpi = u8(pdu, o++, 'dest_addr_npi');
  [destination, o] = readCString(pdu, o, 64, 'destination_addr');
  const esmClass = u8(pdu, o++, 'esm_class');
  const protocolId = u8(pdu, o++, 'protocol_id');
  const priorityFlag = u8(pdu, o++, 'priority_flag');
  [scheduleDeliveryTime, o] = readCString(pdu, o, 16, 'schedule_delivery_time');
  [validityPeriod, o] = readCString(pdu, o, 16, 'validity_period');
  const registeredDelivery = u8(pdu, o++, 'registered_delivery');
  const replaceIfPresent = u8(pdu, o++, 'replace_if_present_flag');
  const dataCoding = u8(pdu, o++, 'data_coding');
  const smDefaultMsgId = u8(pdu, o++, 'sm_default_msg_id');
  const smLength = u8(pdu, o++, 'sm_length');
  if (o + smLength > pdu.length) throw new PduFormatError(`short_message: sm_length ${smLength} runs past the end of the PDU`);
  const shortMessage = pdu.subarray(o, o + smLength);
  o += smLength;
  return { serviceType, sourceTon, sourceNpi, source, destTon, destNpi, destination, esmClass, protocolId, priorityFlag,
    scheduleDeliveryTime, validityPeriod, registeredDelivery, replaceIfPresent, dataCoding, smDefaultMsgId, shortMessage,
    tlvs: readTlvs(pdu, o) };
}

/**
 * Parses a data_sm (SMPP 3.4 4.7.1), which some SMSCs use for receipts and MO: no short_message,
 * the text (if any) in TLV message_payload. Returned in the submit/deliver shape.
 */
export function parseDataSmBody(pdu: Buffer): SmFields {
  let o = HEADER_LENGTH;
  let serviceType: string, source: string, destination: string;
  [serviceType, o] = readCString(pdu, o, 5, 'service_type');
  const sourceTon = u8(pdu, o++, 'source_addr_ton');
  const sourceNpi = u8(pdu, o++, 'source_addr_npi');
  [source, o] = readCString(pdu, o, 64, 'source_addr');
  const destTon = u8(pdu, o++, 'dest_addr_ton');
  const destNpi = u8(pdu, o++, 'dest_addr_npi');
  [destination, o] = readCString(pdu, o, 64, 'destination_addr');
  const esmClass = u8(pdu, o++, 'esm_class');
  const registeredDelivery = u8(pdu, o++, 'registered_delivery');
  const dataCoding = u8(pdu, o++, 'data_coding');
  return { serviceType, sourceTon, sourceNpi, source, destTon, destNpi, destination, esmClass, protocolId: 0, priorityFlag: 0,
    scheduleDeliveryTime: '', validityPeriod: '', registeredDelivery, replaceIfPresent: 0, dataCoding, smDefaultMsgId: 0,
    shortMessage: Buffer.alloc(0), tlvs: readTlvs(pdu, o) };
}

function readTlvs(pdu: Buffer, start: number): Map<number, Buffer> {
  let o = start;
  const tlvs = new Map<number, Buffer>();
  while (o < pdu.length) {
    if (o + 4 > pdu.length) throw new PduFormatError(`optional parameters: ${pdu.length - o} stray octets at the end`);
    const tag = pdu.readUInt16BE(o);
    const len = pdu.readUInt16BE(o + 2);
    o += 4;
    if (o + len > pdu.length) throw new PduFormatError(`TLV 0x${tag.toString(16).padStart(4, '0')}: length ${len} runs past the end of the PDU`);
    if (!tlvs.has(tag)) tlvs.set(tag, pdu.subarray(o, o + len));
    o += len;
  }
  return tlvs;
}

/** A C-Octet string TLV, tolerant of a missing NUL (the TLV length bounds it). */
export function tlvString(value: Buffer | undefined): string | null {
  if (!value) return null;
  const nul = value.indexOf(0);
  return value.toString('latin1', 0, nul < 0 ? value.length : nul);
}

export function tlvInt(value: Buffer | undefined): number | null {
  if (!value || value.length === 0 || value.length > 4) return null;
  return value.readUIntBE(0, value.length);
}

/** The message text's bytes: short_message, or message_payload when short_message is empty. */
export function userData(fields: SmFields): Buffer {
  if (fields.shortMessage.length === 0) {
    const payload = fields.tlvs.get(TLV.message_payload);
    if (payload) return payload;
  }
  return fields.shortMessage;
}
