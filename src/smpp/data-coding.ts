/**
 * data_coding: the SMPP 3.4 values this package reads and writes, the alphabet of any value
 * (TS 23.038 coding groups above 0x0F), and the name sms_inbox.encoding stores for a value.
 */

/** The data_coding values with a name of their own. */
export const DATA_CODING = { gsm7: 0x00, ascii: 0x01, latin1: 0x03, iso8859_5: 0x06, ucs2: 0x08 } as const;

export type Alphabet = keyof typeof DATA_CODING;

/** sms_inbox.encoding for each named value. */
const STORED_NAME: Record<Alphabet, string> = { gsm7: 'gsm7', ascii: 'ascii', latin1: 'latin1', iso8859_5: 'iso-8859-5', ucs2: 'ucs2' };

/**
 * The alphabet of a data_coding value. 0x00–0x0F are SMPP's own values; 0x10 and up follow the
 * TS 23.038 coding groups (general data coding, message waiting, data coding/message class).
 */
export function alphabetOf(dataCoding: number): Alphabet {
  const dc = dataCoding & 0xff;
  if (dc < 0x10) {
    switch (dc) {
      case DATA_CODING.gsm7:
        return 'gsm7';
      case DATA_CODING.ascii:
        return 'ascii';
      case DATA_CODING.iso8859_5:
        return 'iso8859_5';
      case DATA_CODING.ucs2:
        return 'ucs2';
      // 0x02 and 0x04 (8-bit binary), 0x03 (Latin-1) and the rest: Latin-1 maps every octet 1:1,
      // so nothing is lost and the payload bytes stay available beside the text.
      default:
        return 'latin1';
    }
  }
  const group = dc >> 4;
  if (group <= 0x7) {
    // 00xx general data coding and 01xx (the same, marked for automatic deletion): bits 3-2 give
    // the alphabet (compressed text, bit 5, is not decodable and falls to Latin-1).
    const alpha = (dc >> 2) & 0x3;
    return alpha === 0 ? 'gsm7' : alpha === 2 ? 'ucs2' : 'latin1';
  }
  if (group === 0xc || group === 0xd) return 'gsm7';
  if (group === 0xe) return 'ucs2';
  if (group === 0xf) return dc & 0x04 ? 'latin1' : 'gsm7';
  return 'latin1';
}

/** sms_inbox.encoding for a data_coding value: its name when it has one, else `dcs-0xNN`. */
export function encodingName(dataCoding: number): string {
  for (const [alphabet, value] of Object.entries(DATA_CODING) as [Alphabet, number][]) {
    if (value === dataCoding) return STORED_NAME[alphabet];
  }
  return `dcs-0x${dataCoding.toString(16).padStart(2, '0')}`;
}
