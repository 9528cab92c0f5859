/** The 8-bit character sets SMPP names in data_coding and Exolve supports (Latin-1, ISO-8859-5). */

export function decodeLatin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** ISO-8859-5 (Cyrillic): 0x00–0xA0 as Latin-1, then Ё..Џ, а..я, ё..џ with №, § and SHY. */
export function decodeIso8859_5(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    let cp: number;
    if (b < 0xa1) cp = b;
    else if (b === 0xad) cp = 0x00ad;
    else if (b === 0xf0) cp = 0x2116;
    else if (b === 0xfd) cp = 0x00a7;
    else cp = b + (0x0401 - 0xa1);
    out += String.fromCharCode(cp);
  }
  return out;
}

export function encodeIso8859_5(text: string): Buffer {
  const out = Buffer.alloc(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let b: number;
    if (c < 0xa1) b = c;
    else if (c === 0x00ad) b = 0xad;
    else if (c === 0x2116) b = 0xf0;
    else if (c === 0x00a7) b = 0xfd;
    else if (c >= 0x0401 && c <= 0x045f && c !== 0x040d && c !== 0x045d) b = c - (0x0401 - 0xa1);
    else throw new RangeError(`character U+${c.toString(16).padStart(4, '0')} is not in ISO-8859-5`);
    out[i] = b;
  }
  return out;
}
