/**
 * Typed access to the parts of the `smpp` package (0.5.x, CommonJS, no type declarations) that
 * this engine uses: its PDU class and command/TLV tables, which encode every PDU we send and
 * decode the responses we receive.
 *
 * What we deliberately do not use, and why (see node_modules/smpp/lib/smpp.js and defs.js):
 * - `smpp.Session` for transport: a PDU that fails to parse leaves its reader flagged busy forever
 *   (the `_busy` flag is not reset on the error path), so one garbage PDU silently stops all
 *   reading; `send()` ignores the socket's write back-pressure; callbacks have no timeouts.
 *   Our PduConnection (connection.ts) frames PDUs itself and survives garbage.
 * - The `short_message` filter for submit_sm/deliver_sm: it encodes and decodes text itself
 *   (lossy, with a UDH path that tests `encoding === 0 || 1`, always true). We hand it Buffers and
 *   read those two PDUs' bodies ourselves (sm-body.ts).
 * - Its C-string TLV reader (receipted_message_id), which ignores the TLV length and runs into the
 *   next TLV when an SMSC omits the NUL terminator.
 */
import { createRequire } from 'node:module';

export interface LibPdu {
  command: string;
  command_id: number;
  command_length: number;
  command_status: number;
  sequence_number: number;
  isResponse(): boolean;
  toBuffer(): Buffer;
  [field: string]: unknown;
}

interface LibPduConstructor {
  new (command: string, options?: Record<string, unknown>): LibPdu;
  new (buffer: Buffer): LibPdu;
  maxLength: number;
}

interface SmppModule {
  PDU: LibPduConstructor;
  commands: Record<string, { id: number; params?: Record<string, unknown> }>;
  commandsById: Record<number, { command: string }>;
  errors: Record<string, number>;
  connect(options: Record<string, unknown>, listener?: () => void): unknown;
  createServer(options: Record<string, unknown>, listener?: (session: unknown) => void): unknown;
}

const require = createRequire(import.meta.url);
export const smppLib = require('smpp') as SmppModule;
export const LibPDU = smppLib.PDU;

/** Encodes one PDU with the package. `fields` uses its parameter names (snake_case). */
export function encodePdu(command: string, sequenceNumber: number, fields: Record<string, unknown> = {}, commandStatus = 0): Buffer {
  const pdu = new LibPDU(command, { ...fields, sequence_number: sequenceNumber, command_status: commandStatus });
  return pdu.toBuffer();
}

/** Decodes one framed PDU with the package (throws on a body it cannot read). */
export function decodePdu(buffer: Buffer): LibPdu {
  return new LibPDU(buffer);
}

/** The package's name for a command id, or undefined. */
export function commandName(commandId: number): string | undefined {
  return smppLib.commandsById[commandId]?.command;
}
