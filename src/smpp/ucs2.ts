/**
 * UCS-2 as SMSCs use it with data_coding 0x08: big-endian 16-bit units. Characters outside the BMP
 * travel as UTF-16 surrogate pairs (what every handset does in practice), so this is UTF-16BE.
 */

export function encodeUcs2(text: string): Buffer {
  const out = Buffer.from(text, 'utf16le');
  return out.swap16();
}

/**
 * Decodes big-endian UTF-16. An odd trailing byte (a broken part) is dropped rather than guessed;
 * unpaired surrogates are kept as they are so concatenating part texts never loses a unit.
 */
export function decodeUcs2(bytes: Uint8Array): string {
  const even = bytes.length & ~1;
  const copy = Buffer.from(bytes.buffer, bytes.byteOffset, even);
  return Buffer.from(copy).swap16().toString('utf16le');
}

/** True when the code unit is the first half of a surrogate pair. */
export function isHighSurrogate(codeUnit: number): boolean {
  return codeUnit >= 0xd800 && codeUnit <= 0xdbff;
}
