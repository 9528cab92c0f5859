/**
 * submit_sm's validity_period, from the message's expires_at: the SMSC stops trying to deliver
 * when the app stopped caring.
 *
 * Format: SMPP 3.4 section 7.1.1 absolute time `YYMMDDhhmmsstnnp` (16 characters; the PDU adds the
 * NUL), always in UTC: `nn` = 00 quarter-hours from UTC, `p` = '+'. Tenths are truncated, never
 * rounded, so 23:59:59.99 stays in its day (rounding up would roll the minute, day or year over).
 *
 * What is sent when expires_at is already past or only seconds away (the claim lets a row through
 * until expires_at, and a part may then wait in the window, the rate limiter or a throttling
 * pause): now + MIN_VALIDITY_MS instead. Omitting the field would let the carrier keep trying for
 * its own default (often days); a time already past, or a few seconds ahead of a clock that
 * differs from ours, is refused with ESME_RINVEXPIRY, which would wrongly turn the field off for
 * the session. So the carrier may keep trying up to MIN_VALIDITY_MS after expires_at, no longer.
 * An expires_at beyond 2099 cannot be written in two-digit years: the field is left out (the
 * SMSC's default validity applies).
 *
 * A refusal of the field (VALIDITY_REFUSALS) is handled by the session: the part goes again
 * without it, and ValidityState remembers that for the rest of the bind (see below).
 */
import { STATUS } from './command-status.js';

/** The shortest validity_period sent: a past or too-near expires_at becomes now + this. */
export const MIN_VALIDITY_MS = 30_000;

const two = (n: number) => String(n).padStart(2, '0');

/** `date` as an SMPP absolute time in UTC (`YYMMDDhhmmsst000+`); years 2000..2099 only. */
export function formatAbsoluteTime(date: Date): string {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new RangeError('validity_period: not a valid date');
  const year = date.getUTCFullYear();
  if (year < 2000 || year > 2099) throw new RangeError(`validity_period: year ${year} cannot be written as SMPP YY (2000..2099 only)`);
  const tenths = Math.floor(date.getUTCMilliseconds() / 100);
  return `${two(year % 100)}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}${tenths}00+`;
}

/**
 * The validity_period to send for a message that expires at `expiresAt`, at time `now`: '' (the
 * field left empty: the SMSC default) when there is no expiry or it is past 2099; the absolute
 * time of max(expiresAt, now + MIN_VALIDITY_MS) otherwise.
 */
export function validityPeriodFor(expiresAt: Date | null | undefined, now: number = Date.now()): string {
  if (!expiresAt || !Number.isFinite(expiresAt.getTime())) return '';
  const at = Math.max(expiresAt.getTime(), now + MIN_VALIDITY_MS);
  const when = new Date(at);
  if (when.getUTCFullYear() > 2099) return '';
  return formatAbsoluteTime(when);
}

/**
 * command_status values that, in answer to a submit_sm carrying a validity_period, mean "not this
 * field": ESME_RINVEXPIRY (0x62, the code SMPP 3.4 gives for it), and ESME_RINVOPTPARAMVAL (0xC4) /
 * ESME_RINVPARLEN (0xC2), which some SMSCs answer for a field they do not take. Not
 * ESME_RINVSCHED (0x61): that is schedule_delivery_time, which this ESME never sets. A refusal of
 * the field is confirmed only when the same part without it is accepted; a part refused again
 * without it fails with that status as any permanent error does.
 */
export const VALIDITY_REFUSALS: ReadonlySet<number> = new Set([STATUS.ESME_RINVEXPIRY, STATUS.ESME_RINVOPTPARAMVAL, STATUS.ESME_RINVPARLEN]);

export function isValidityRefusal(status: number): boolean {
  return VALIDITY_REFUSALS.has(status);
}

/**
 * Whether this bind sends validity_period. `enabled` is SMPP_VALIDITY_PERIOD. After the SMSC
 * refused the field (and took the same part without it), `refused` holds until the next bind:
 * every later submit_sm of this bind leaves it out, and a new bind tries it again, so an SMSC (or
 * a failover node behind the same address) that takes it gets it again without a restart. The
 * cost is one refused part per bind, and one warning.
 */
export class ValidityState {
  private refusedStatus: number | null = null;

  constructor(readonly enabled: boolean) {}

  /** The validity_period for a message now: '' when off, refused on this bind, or no expiry. */
  periodFor(expiresAt: Date | null | undefined, now?: number): string {
    return this.enabled && this.refusedStatus === null ? validityPeriodFor(expiresAt, now) : '';
  }

  /** The SMSC took a part without the field that it had refused with it; true the first time this bind. */
  markRefused(status: number): boolean {
    if (this.refusedStatus !== null) return false;
    this.refusedStatus = status;
    return true;
  }

  /** True while this bind leaves the field out because the SMSC refused it. */
  get refused(): boolean {
    return this.refusedStatus !== null;
  }

  /** A new bind: try the field again. */
  reset(): void {
    this.refusedStatus = null;
  }
}
