/** validity_period: the SMPP absolute time format, and what is sent for past, near and far expiries. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATUS } from '../../src/smpp/command-status.js';
import { decodePdu, encodePdu } from '../../src/smpp/smpp-lib.js';
import { formatAbsoluteTime, isValidityRefusal, MIN_VALIDITY_MS, validityPeriodFor, ValidityState } from '../../src/smpp/validity.js';

const utc = (iso: string) => new Date(iso);

describe('formatAbsoluteTime', () => {
  it('writes YYMMDDhhmmsstnnp in UTC, 16 characters', () => {
    const vectors: [string, string][] = [
      ['2030-01-02T03:04:05.000Z', '300102030405000+'],
      ['2026-11-26T16:15:00.250Z', '261126161500200+'],
      ['2000-01-01T00:00:00.000Z', '000101000000000+'],
      ['2099-12-31T23:59:59.000Z', '991231235959000+'],
      ['2028-02-29T12:00:00.900Z', '280229120000900+'],
      // An offset in the input is only another way to write the same instant.
      ['2027-03-01T02:30:00.000+03:00', '270228233000000+'],
    ];
    for (const [iso, expected] of vectors) {
      const out = formatAbsoluteTime(utc(iso));
      assert.equal(out, expected, iso);
      assert.equal(out.length, 16);
    }
  });

  it('truncates tenths, so the last instant of a second, minute, day or year never rolls over', () => {
    assert.equal(formatAbsoluteTime(utc('2029-12-31T23:59:59.999Z')), '291231235959900+');
    assert.equal(formatAbsoluteTime(utc('2027-02-28T23:59:59.950Z')), '270228235959900+');
    assert.equal(formatAbsoluteTime(utc('2026-06-30T10:59:59.099Z')), '260630105959000+');
  });

  it('refuses what two-digit years or a real date cannot say', () => {
    assert.throws(() => formatAbsoluteTime(utc('2100-01-01T00:00:00Z')), /year 2100 cannot be written as SMPP YY/);
    assert.throws(() => formatAbsoluteTime(utc('1999-12-31T23:59:59Z')), /year 1999/);
    assert.throws(() => formatAbsoluteTime(new Date(Number.NaN)), /not a valid date/);
  });

  it('goes through the smpp package unchanged, 16 characters and the NUL', () => {
    const vp = formatAbsoluteTime(utc('2030-01-02T03:04:05Z'));
    const pdu = encodePdu('submit_sm', 1, { destination_addr: '79991234567', validity_period: vp, short_message: Buffer.from('x') });
    const at = pdu.indexOf(Buffer.from(`${vp}\0`, 'latin1'));
    assert.ok(at > 0, 'the field is on the wire as written');
    assert.equal(pdu[at + 16], 0);
    assert.equal((decodePdu(pdu).validity_period as Date).toISOString(), '2030-01-02T03:04:05.000Z');
  });
});

describe('validityPeriodFor', () => {
  const now = Date.parse('2026-11-26T16:15:00.000Z');

  it('is the expiry itself when it is far enough ahead', () => {
    assert.equal(validityPeriodFor(utc('2026-11-27T16:15:00Z'), now), '261127161500000+');
    assert.equal(validityPeriodFor(new Date(now + MIN_VALIDITY_MS), now), '261126161530000+');
  });

  it('is now + MIN_VALIDITY_MS when the expiry is past or only seconds away', () => {
    const floor = '261126161530000+';
    assert.equal(MIN_VALIDITY_MS, 30_000);
    assert.equal(validityPeriodFor(new Date(now + 5_000), now), floor, 'five seconds ahead');
    assert.equal(validityPeriodFor(new Date(now), now), floor, 'expiring now');
    assert.equal(validityPeriodFor(new Date(now - 3_600_000), now), floor, 'an hour past');
  });

  it('the floor rolls over the year like any other time', () => {
    assert.equal(validityPeriodFor(utc('2026-12-31T23:59:40Z'), Date.parse('2026-12-31T23:59:45.500Z')), '270101000015500+');
  });

  it('is empty (the SMSC default) without an expiry, or past 2099', () => {
    assert.equal(validityPeriodFor(null, now), '');
    assert.equal(validityPeriodFor(undefined, now), '');
    assert.equal(validityPeriodFor(new Date(Number.NaN), now), '');
    assert.equal(validityPeriodFor(utc('2100-01-01T00:00:00Z'), now), '');
    assert.equal(validityPeriodFor(utc('2099-12-31T23:59:59Z'), now), '991231235959000+');
  });
});

describe('refusals and the per-bind memory', () => {
  it('ESME_RINVEXPIRY and the optional-parameter refusals mean "not this field"; ESME_RINVSCHED does not', () => {
    assert.ok(isValidityRefusal(STATUS.ESME_RINVEXPIRY));
    assert.ok(isValidityRefusal(STATUS.ESME_RINVOPTPARAMVAL));
    assert.ok(isValidityRefusal(STATUS.ESME_RINVPARLEN));
    for (const other of [STATUS.ESME_ROK, STATUS.ESME_RINVSCHED, STATUS.ESME_RINVDSTADR, STATUS.ESME_RTHROTTLED, STATUS.ESME_RSYSERR]) {
      assert.ok(!isValidityRefusal(other), `0x${other.toString(16)}`);
    }
  });

  it('is off when disabled; once refused it stays off until reset (a new bind), and reports the first refusal only', () => {
    const at = new Date('2030-01-02T03:04:05Z');
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.equal(new ValidityState(false).periodFor(at, now), '');
    const v = new ValidityState(true);
    assert.equal(v.periodFor(at, now), '300102030405000+');
    assert.equal(v.markRefused(STATUS.ESME_RINVEXPIRY), true);
    assert.equal(v.markRefused(STATUS.ESME_RINVEXPIRY), false, 'one warning per bind');
    assert.ok(v.refused);
    assert.equal(v.periodFor(at, now), '');
    v.reset();
    assert.ok(!v.refused);
    assert.equal(v.periodFor(at, now), '300102030405000+');
  });
});
