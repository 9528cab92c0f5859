/** Turns a deliver_sm into what the worker stores: a delivery receipt or one part of an MO SMS. */
import { decodePayload } from './mo.js';
import { CMD } from './pdu.js';
import { isReceipt, parseReceipt, type Receipt } from './receipt.js';
import { parseDataSmBody, parseSmBody, TLV, tlvInt, userData, type SmFields } from './sm-body.js';
import { ESM_CLASS_UDHI, parseUdh, type ConcatInfo } from './udh.js';

export interface MoPart {
  source: string;
  destination: string;
  sourceTon: number;
  sourceNpi: number;
  dataCoding: number;
  /** User data without the UDH. */
  payload: Buffer;
  /** From the UDH (8- or 16-bit reference) or the SAR TLVs; null for a single-part SMS. */
  concat: ConcatInfo | null;
  /** This part's payload decoded alone (a multi-part text is rebuilt with mo.reassemble). */
  text: string;
}

/** What a deliver_sm carries. */
export type InboundContent = { kind: 'receipt'; receipt: Receipt } | { kind: 'mo'; part: MoPart };

/** What the session hands the worker: the content and the PDU it came in (kept if it must be parked). */
export type InboundEvent = InboundContent & {
  /** The whole deliver_sm or data_sm as received, header included (a copy, not a view of the socket's buffer). */
  pdu: Buffer;
};

export function decodeMoPart(fields: SmFields): MoPart {
  let data = userData(fields);
  let concat: ConcatInfo | null = null;
  if (fields.esmClass & ESM_CLASS_UDHI) {
    const udh = parseUdh(data);
    if (udh) {
      concat = udh.concat;
      data = data.subarray(udh.length);
    }
  }
  if (!concat) {
    const ref = tlvInt(fields.tlvs.get(TLV.sar_msg_ref_num));
    const total = tlvInt(fields.tlvs.get(TLV.sar_total_segments));
    const seq = tlvInt(fields.tlvs.get(TLV.sar_segment_seqnum));
    // sar_msg_ref_num is 2 octets, the other two 1 octet (SMPP 3.4 5.3.2.22-24): anything larger
    // is not a concatenation we can reassemble, so the part stands alone, as with a bad UDH.
    if (ref !== null && total !== null && seq !== null && ref <= 0xffff && total >= 1 && total <= 255 && seq >= 1 && seq <= total) {
      concat = { ref, total, seq };
    }
  }
  if (concat && concat.total === 1) concat = null;
  return {
    source: fields.source,
    destination: fields.destination,
    sourceTon: fields.sourceTon,
    sourceNpi: fields.sourceNpi,
    dataCoding: fields.dataCoding,
    payload: data,
    concat,
    text: decodePayload(data, fields.dataCoding),
  };
}

/** Throws (ReceiptFormatError) only for a receipt without any message id. */
export function decodeDeliverSm(fields: SmFields): InboundContent {
  if (isReceipt(fields)) return { kind: 'receipt', receipt: parseReceipt(fields) };
  return { kind: 'mo', part: decodeMoPart(fields) };
}

/**
 * Decodes a whole deliver_sm or data_sm PDU (as the session receives it, or as it was parked).
 * Throws PduFormatError for a body that does not parse, ReceiptFormatError for a receipt
 * without a message id.
 */
export function decodeInboundPdu(pdu: Buffer): InboundEvent {
  // Decoded from a copy: the payloads are views of the PDU, and a view of the socket's read buffer
  // would keep that whole buffer in memory for as long as the event is held.
  const copy = Buffer.from(pdu);
  const commandId = copy.readUInt32BE(4);
  const content = decodeDeliverSm(commandId === CMD.data_sm ? parseDataSmBody(copy) : parseSmBody(copy));
  return { ...content, pdu: copy };
}
