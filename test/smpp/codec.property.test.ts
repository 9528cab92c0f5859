import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GSM7_BASIC, GSM7_EXTENSION, decodeGsm7 } from '../../src/smpp/gsm7.js';
import { reassemble } from '../../src/smpp/mo.js';
import { encodeMessage, PART_LIMITS } from '../../src/smpp/split.js';
import { decodeUcs2 } from '../../src/smpp/ucs2.js';

const gsmChars = [...GSM7_BASIC.replace('\x1b', ''), ...GSM7_EXTENSION.keys()];
const gsmChar = fc.constantFrom(...gsmChars);
const extChar = fc.constantFrom(...GSM7_EXTENSION.keys());
const cyrillic = fc.integer({ min: 0x0410, max: 0x044f }).map((c) => String.fromCharCode(c));
const emoji = fc.integer({ min: 0x1f600, max: 0x1f64f }).map((c) => String.fromCodePoint(c));

/** GSM-heavy, extension-heavy, and mixed bodies, long enough to need many parts. */
const bodies = fc.oneof(
  fc.array(fc.oneof(gsmChar, extChar), { maxLength: 700 }).map((a) => a.join('')),
  fc.array(fc.oneof(cyrillic, emoji, gsmChar), { maxLength: 400 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
);

function isLowSurrogate(c: number) {
  return c >= 0xdc00 && c <= 0xdfff;
}

describe('split and reassemble (property)', () => {
  it('parts join back to the body and each part fits its limit', () => {
    fc.assert(
      fc.property(bodies, (body) => {
        const m = encodeMessage(body);
        assert.equal(m.partTexts.join(''), body);
        const { single, multi } = PART_LIMITS[m.encoding];
        const limit = m.parts.length === 1 ? single : multi;
        for (let i = 0; i < m.parts.length; i++) {
          const payload = m.parts[i] as Buffer;
          const units = m.encoding === 'gsm7' ? payload.length : payload.length / 2;
          assert.ok(units <= limit, `part ${i + 1} has ${units} units, limit ${limit}`);
          if (m.encoding === 'gsm7') {
            assert.notEqual(payload[payload.length - 1], 0x1b, 'a part ends inside an escape pair');
            assert.equal(decodeGsm7(payload), m.partTexts[i]);
          } else {
            const text = m.partTexts[i] as string;
            if (i + 1 < m.parts.length) {
              const next = (m.partTexts[i + 1] as string).charCodeAt(0);
              const last = text.charCodeAt(text.length - 1);
              assert.ok(!(last >= 0xd800 && last <= 0xdbff && isLowSurrogate(next)), 'a surrogate pair was split');
            }
            assert.equal(decodeUcs2(payload), text);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reassembles any body losslessly from its parts, in any order and with duplicates', () => {
    fc.assert(
      fc.property(bodies, fc.integer(), (body, seed) => {
        const m = encodeMessage(body);
        const parts = m.parts.map((payload, i) => ({ seq: i + 1, payload }));
        // Shuffle deterministically from the seed and duplicate one part.
        const shuffled = [...parts].sort((a, b) => ((a.seq * 7919 + seed) % 97) - ((b.seq * 7919 + seed) % 97));
        if (parts.length > 1) shuffled.push(parts[Math.abs(seed) % parts.length] as { seq: number; payload: Buffer });
        const out = reassemble(shuffled, m.parts.length, m.dataCoding);
        assert.deepEqual(out.missing, []);
        assert.equal(out.text, body);
      }),
      { numRuns: 300 },
    );
  });

  it('fills parts greedily: a part ends only when the next character does not fit', () => {
    fc.assert(
      fc.property(bodies, (body) => {
        const m = encodeMessage(body);
        if (m.parts.length < 2) return;
        const { multi } = PART_LIMITS[m.encoding];
        for (let i = 0; i + 1 < m.parts.length; i++) {
          const used = m.encoding === 'gsm7' ? (m.parts[i] as Buffer).length : (m.parts[i] as Buffer).length / 2;
          const nextText = m.partTexts[i + 1] as string;
          const next = encodeMessage(nextText.slice(0, isHigh(nextText.charCodeAt(0)) ? 2 : 1));
          const nextUnits = m.encoding === 'gsm7' ? (next.parts[0] as Buffer).length : (next.parts[0] as Buffer).length / 2;
          assert.ok(used + nextUnits > multi, `part ${i + 1} stopped at ${used} though ${nextUnits} more would fit`);
        }
      }),
      { numRuns: 300 },
    );
  });
});

function isHigh(c: number) {
  return c >= 0xd800 && c <= 0xdbff;
}
