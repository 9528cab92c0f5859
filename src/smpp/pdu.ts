/** SMPP 3.4 PDU header, command ids and the few byte-level helpers the engine needs. */

export const HEADER_LENGTH = 16;
/** Longest PDU we accept; a longer command_length means the stream is not SMPP (or is corrupt). */
export const MAX_PDU_LENGTH = 65536;

export const CMD = {
  generic_nack: 0x80000000,
  bind_receiver: 0x00000001,
  bind_receiver_resp: 0x80000001,
  bind_transmitter: 0x00000002,
  bind_transmitter_resp: 0x80000002,
  query_sm: 0x00000003,
  submit_sm: 0x00000004,
  submit_sm_resp: 0x80000004,
  deliver_sm: 0x00000005,
  deliver_sm_resp: 0x80000005,
  unbind: 0x00000006,
  unbind_resp: 0x80000006,
  replace_sm: 0x00000007,
  cancel_sm: 0x00000008,
  bind_transceiver: 0x00000009,
  bind_transceiver_resp: 0x80000009,
  outbind: 0x0000000b,
  enquire_link: 0x00000015,
  enquire_link_resp: 0x80000015,
  submit_multi: 0x00000021,
  alert_notification: 0x00000102,
  data_sm: 0x00000103,
  data_sm_resp: 0x80000103,
} as const;

export interface PduHeader {
  length: number;
  commandId: number;
  status: number;
  sequence: number;
}

export function readHeader(buf: Buffer): PduHeader {
  return {
    length: buf.readUInt32BE(0),
    commandId: buf.readUInt32BE(4),
    status: buf.readUInt32BE(8),
    sequence: buf.readUInt32BE(12),
  };
}

/**
 * How a PDU is named in logs: its header fields, never its body (bodies carry message text, and
 * one-time codes are message text). `command` is the SMPP name when `name` knows it.
 */
export function describeHeader(header: PduHeader, name?: (commandId: number) => string | undefined): Record<string, unknown> {
  return {
    command: name?.(header.commandId) ?? `0x${header.commandId.toString(16).padStart(8, '0')}`,
    commandStatus: header.status,
    sequence: header.sequence,
    commandLength: header.length,
  };
}

/** A header-only PDU (enquire_link, unbind, their responses, generic_nack, error responses). */
export function headerOnly(commandId: number, status: number, sequence: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH);
  buf.writeUInt32BE(HEADER_LENGTH, 0);
  buf.writeUInt32BE(commandId >>> 0, 4);
  buf.writeUInt32BE(status >>> 0, 8);
  buf.writeUInt32BE(sequence >>> 0, 12);
  return buf;
}

/** A PDU whose body is one C-Octet string (submit_sm_resp, deliver_sm_resp, bind_*_resp). */
export function withCString(commandId: number, status: number, sequence: number, value: string): Buffer {
  const len = Buffer.byteLength(value, 'latin1');
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + len + 1);
  buf.writeUInt32BE(HEADER_LENGTH + len + 1, 0);
  buf.writeUInt32BE(commandId >>> 0, 4);
  buf.writeUInt32BE(status >>> 0, 8);
  buf.writeUInt32BE(sequence >>> 0, 12);
  buf.write(value, HEADER_LENGTH, 'latin1');
  buf[HEADER_LENGTH + len] = 0;
  return buf;
}

export class PduFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PduFormatError';
  }
}

/** Reads a C-Octet string at `offset`, at most `max` octets before the NUL; returns it and the next offset. */
export function readCString(buf: Buffer, offset: number, max: number, field: string): [string, number] {
  const end = buf.indexOf(0, offset);
  if (end < 0) throw new PduFormatError(`${field}: no NUL terminator before the end of the PDU`);
  if (end - offset > max) throw new PduFormatError(`${field}: longer than ${max} octets`);
  return [buf.toString('latin1', offset, end), end + 1];
}
