import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decodeGsm7, encodeGsm7, GSM7_BASIC, gsm7Length, isGsm7 } from '../../src/smpp/gsm7.js';
import { countSegments, encodeMessage } from '../../src/smpp/split.js';
import { decodeUcs2, encodeUcs2 } from '../../src/smpp/ucs2.js';
import { concatUdh, parseUdh } from '../../src/smpp/udh.js';

interface Counted {
  encoding: 'gsm7' | 'ucs2';
  units: number;
  segments: number;
  parts: string[];
}
interface VectorCase extends Counted {
  name: string;
  body: string;
  smart?: Counted & { body: string; replaced: number };
}
const vectors = JSON.parse(readFileSync(new URL('../vectors/segments.json', import.meta.url), 'utf8')) as {
  limits: { gsm7: { single: number; multi: number }; ucs2: { single: number; multi: number } };
  cases: VectorCase[];
};

describe('shared segment vectors (test/vectors/segments.json)', () => {
  it('has cases to check', () => assert.ok(vectors.cases.length > 40));
  for (const c of vectors.cases) {
    it(c.name, () => {
      const m = encodeMessage(c.body);
      assert.equal(m.encoding, c.encoding);
      assert.equal(m.dataCoding, c.encoding === 'gsm7' ? 0x00 : 0x08);
      assert.equal(m.units, c.units);
      assert.equal(m.parts.length, c.segments);
      assert.deepEqual(m.partTexts, c.parts);
      assert.equal(countSegments(c.body), c.segments);
      assert.equal(m.text, c.body, 'without smart encoding the text is sent as given');
      assert.equal(m.replaced, 0);
      // With smart encoding (what sms_send stores while sms_settings.smart_encoding is on).
      const want = c.smart ?? { ...c, replaced: 0 };
      const s = encodeMessage(c.body, { smartEncoding: true });
      assert.deepEqual(
        { text: s.text, replaced: s.replaced, encoding: s.encoding, units: s.units, parts: s.partTexts },
        { text: want.body, replaced: want.replaced, encoding: want.encoding, units: want.units, parts: want.parts },
        'smart encoding',
      );
      assert.equal(s.dataCoding, want.encoding === 'gsm7' ? 0x00 : 0x08);
      assert.equal(countSegments(c.body, { smartEncoding: true }), want.segments);
      // Applying it again changes nothing: the worker may send a stored, replaced body either way.
      assert.deepEqual(encodeMessage(s.text, { smartEncoding: true }).partTexts, s.partTexts);
      // Each payload is exactly its part's text encoded, and fits the part limit.
      const limit = c.segments === 1 ? vectors.limits[c.encoding].single : vectors.limits[c.encoding].multi;
      m.parts.forEach((payload, i) => {
        const text = c.parts[i] as string;
        if (c.encoding === 'gsm7') {
          assert.deepEqual(payload, encodeGsm7(text));
          assert.ok(payload.length <= limit, `part ${i + 1}: ${payload.length} septets > ${limit}`);
          assert.equal(decodeGsm7(payload), text);
        } else {
          assert.deepEqual(payload, encodeUcs2(text));
          assert.ok(payload.length / 2 <= limit, `part ${i + 1}: ${payload.length / 2} units > ${limit}`);
          assert.equal(decodeUcs2(payload), text);
        }
      });
    });
  }
});

describe('GSM 03.38', () => {
  it('maps the basic table one septet per octet, unpacked', () => {
    const all = GSM7_BASIC.replace('\x1b', '');
    const enc = encodeGsm7(all);
    assert.equal(enc.length, 127);
    assert.ok(enc.every((b) => b < 0x80 && b !== 0x1b));
    assert.equal(encodeGsm7('@')[0], 0x00);
    assert.equal(encodeGsm7('A')[0], 0x41);
    assert.equal(encodeGsm7('è')[0], 0x04);
    assert.equal(encodeGsm7('_')[0], 0x11);
    assert.equal(decodeGsm7(enc), all);
  });
  it('sends extension characters as escape + code', () => {
    assert.deepEqual([...encodeGsm7('€')], [0x1b, 0x65]);
    assert.deepEqual([...encodeGsm7('{}[]~|^\\\f')], [0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x3c, 0x1b, 0x3e, 0x1b, 0x3d, 0x1b, 0x40, 0x1b, 0x14, 0x1b, 0x2f, 0x1b, 0x0a]);
    assert.equal(gsm7Length('a€'), 3);
  });
  it('rejects what GSM-7 cannot carry', () => {
    for (const s of ['Ж', '\t', '’', 'á', '😀', '\x1b', '`']) {
      assert.equal(isGsm7(s), false, JSON.stringify(s));
      assert.throws(() => encodeGsm7(s), RangeError);
    }
  });
  it('decodes unknown escapes as the basic character, a doubled escape as space, a trailing one as nothing', () => {
    assert.equal(decodeGsm7(Buffer.from([0x1b, 0x41])), 'A');
    assert.equal(decodeGsm7(Buffer.from([0x41, 0x1b, 0x1b, 0x42])), 'A B');
    assert.equal(decodeGsm7(Buffer.from([0x41, 0x1b])), 'A');
  });
});

describe('UCS-2', () => {
  it('is big-endian, with surrogate pairs for non-BMP characters', () => {
    assert.deepEqual([...encodeUcs2('Ж')], [0x04, 0x16]);
    assert.deepEqual([...encodeUcs2('😀')], [0xd8, 0x3d, 0xde, 0x00]);
    assert.equal(decodeUcs2(encodeUcs2('Код 😀')), 'Код 😀');
  });
  it('drops an odd trailing octet instead of guessing', () => {
    assert.equal(decodeUcs2(Buffer.from([0x04, 0x16, 0x04])), 'Ж');
  });
});

describe('UDH', () => {
  it('builds the 8-bit reference concatenation header', () => {
    assert.deepEqual([...concatUdh(0xab, 3, 2)], [0x05, 0x00, 0x03, 0xab, 0x03, 0x02]);
  });
  it('reads 8-bit and 16-bit references and skips other elements', () => {
    assert.deepEqual(parseUdh(Buffer.from([0x05, 0x00, 0x03, 0x12, 0x02, 0x01, 0x41])), { length: 6, concat: { ref: 0x12, total: 2, seq: 1 } });
    assert.deepEqual(parseUdh(Buffer.from([0x06, 0x08, 0x04, 0x12, 0x34, 0x03, 0x03])), { length: 7, concat: { ref: 0x1234, total: 3, seq: 3 } });
    // A port-addressing IE (0x05) before the concatenation IE.
    assert.deepEqual(parseUdh(Buffer.from([0x0b, 0x05, 0x04, 0x0b, 0x84, 0x23, 0xf0, 0x00, 0x03, 0x07, 0x02, 0x02])), {
      length: 12,
      concat: { ref: 7, total: 2, seq: 2 },
    });
  });
  it('ignores impossible concatenation values and headers longer than the data', () => {
    assert.deepEqual(parseUdh(Buffer.from([0x05, 0x00, 0x03, 0x01, 0x02, 0x03])), { length: 6, concat: null });
    assert.deepEqual(parseUdh(Buffer.from([0x05, 0x00, 0x03, 0x01, 0x00, 0x00])), { length: 6, concat: null });
    assert.equal(parseUdh(Buffer.from([0x09, 0x00, 0x03])), null);
    assert.equal(parseUdh(Buffer.alloc(0)), null);
  });
});
