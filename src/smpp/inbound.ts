/** Turns a deliver_sm into what the worker stores: a delivery receipt or one part of an MO SMS. */
import { decodePayload } from './mo.js';
import { isReceipt, parseReceipt, type Receipt } from './receipt.js';
import { TLV, tlvInt, userData, type SmFields } from './sm-body.js';
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

export type InboundEvent = { kind: 'receipt'; receipt: Receipt } | { kind: 'mo'; part: MoPart };

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
    if (ref !== null && total !== null && seq !== null && total >= 1 && seq >= 1 && seq <= total) concat = { ref, total, seq };
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
export function decodeDeliverSm(fields: SmFields): InboundEvent {
  if (isReceipt(fields)) return { kind: 'receipt', receipt: parseReceipt(fields) };
  return { kind: 'mo', part: decodeMoPart(fields) };
}
