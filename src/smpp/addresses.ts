/**
 * Source and destination addresses as Exolve (and most SMSCs) expect them:
 * - numeric sender (digits, optional leading +): TON 1 (international) / NPI 1 (E.164), digits only;
 * - alphanumeric sender (1–11 printable ASCII characters, not all digits): TON 5 / NPI 0;
 * - destination: TON 1 / NPI 1, digits only, no +.
 * A value that cannot be sent is reported, not guessed at: the caller rejects the message.
 */

export const TON = { unknown: 0, international: 1, national: 2, networkSpecific: 3, subscriber: 4, alphanumeric: 5, abbreviated: 6 } as const;
export const NPI = { unknown: 0, isdn: 1 } as const;

export interface SmppAddress {
  ton: number;
  npi: number;
  addr: string;
}

export class AddressError extends Error {
  constructor(
    readonly field: 'source' | 'destination',
    message: string,
  ) {
    super(message);
    this.name = 'AddressError';
  }
}

/** SMPP 3.4 limits destination_addr/source_addr to 21 octets with the NUL; E.164 to 15 digits. */
const NUMERIC = /^\+?([0-9]{1,20})$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

export function sourceAddress(source: string): SmppAddress {
  const s = source.trim();
  const numeric = NUMERIC.exec(s);
  if (numeric) return { ton: TON.international, npi: NPI.isdn, addr: numeric[1] as string };
  if (s.length === 0) throw new AddressError('source', 'sender is empty');
  if (s.length > 11) throw new AddressError('source', `alphanumeric sender "${s}" is longer than 11 characters`);
  if (!PRINTABLE_ASCII.test(s)) {
    throw new AddressError('source', `alphanumeric sender "${s}" has characters outside printable ASCII, which source_addr cannot carry`);
  }
  return { ton: TON.alphanumeric, npi: NPI.unknown, addr: s };
}

export function destinationAddress(destination: string): SmppAddress {
  const numeric = NUMERIC.exec(destination.trim());
  if (!numeric) throw new AddressError('destination', `recipient "${destination}" is not a number of 1 to 20 digits`);
  return { ton: TON.international, npi: NPI.isdn, addr: numeric[1] as string };
}
