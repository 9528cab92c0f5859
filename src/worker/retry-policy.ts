/**
 * Back-off before a message's next attempt after a transient error or an unknown outcome:
 * exponential from `baseMs`, capped at `maxMs`, with ±20% jitter so a burst of failures does not
 * come back as a burst (src/backoff.ts). (Throttling is absorbed by the session itself and never
 * gets here unless it lasts past the session's give-up time.)
 */
import { backoffMs } from '../backoff.js';

export const DEFAULT_RETRY_BASE_MS = 2_000;
export const DEFAULT_RETRY_MAX_MS = 300_000;

export function retryDelayMs(attempt: number, baseMs = DEFAULT_RETRY_BASE_MS, maxMs = DEFAULT_RETRY_MAX_MS, random = Math.random): number {
  return backoffMs(attempt - 1, { baseMs, maxMs, jitter: [0.8, 1.2] }, random);
}
