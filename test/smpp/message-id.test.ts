import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { normalizeMessageId, receiptIdCandidates } from '../../src/smpp/message-id.js';

describe('message ids', () => {
  it('normalizes case, whitespace, NULs and leading zeros', () => {
    assert.equal(normalizeMessageId('  00001A2B\0'), '1a2b');
    assert.equal(normalizeMessageId('0000'), '0');
    assert.equal(normalizeMessageId('0'), '0');
    assert.equal(normalizeMessageId(''), '');
    assert.equal(normalizeMessageId('abc-DEF-0001'), 'abc-def-0001');
  });
  it('offers the other base when the digits allow it', () => {
    assert.deepEqual(receiptIdCandidates('255'), ['255', 'ff', '597']);
    assert.deepEqual(receiptIdCandidates('007g'), ['7g']);
    assert.deepEqual(receiptIdCandidates('00FF'), ['ff', '255']);
    assert.deepEqual(receiptIdCandidates('1A2B'), ['1a2b', '6699']);
    assert.deepEqual(receiptIdCandidates('c0a8-17'), ['c0a8-17']);
    assert.deepEqual(receiptIdCandidates('0'), ['0']);
  });
  it('handles ids beyond 2^53 exactly (BigInt)', () => {
    assert.deepEqual(receiptIdCandidates('18446744073709551615'), ['18446744073709551615', 'ffffffffffffffff', '114598615266301018707477']);
  });
  it('a submit id matches its receipt whichever base and padding each side uses', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.boolean(), fc.boolean(), fc.nat(6), (n, submitHex, receiptHex, pad) => {
        const show = (hex: boolean) => (hex ? n.toString(16).toUpperCase() : n.toString(10));
        const stored = normalizeMessageId(show(submitHex));
        const receipt = '0'.repeat(pad) + show(receiptHex);
        assert.ok(receiptIdCandidates(receipt).includes(stored), `${receipt} should match ${stored}`);
      }),
    );
  });
});
