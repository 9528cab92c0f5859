/**
 * Back-off before a message's next attempt after a transient error or an unknown outcome:
 * exponential from `baseMs`, capped at `maxMs`, with ±20% jitter so a burst of failures does not
 * come back as a burst. (Throttling is absorbed by the session itself and never gets here unless
 * it lasts past the session's give-up time.)
 */
export const DEFAULT_RETRY_BASE_MS = 2_000;
export const DEFAULT_RETRY_MAX_MS = 300_000;

export function retryDelayMs(attempt: number, baseMs = DEFAULT_RETRY_BASE_MS, maxMs = DEFAULT_RETRY_MAX_MS, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exp * (0.8 + 0.4 * random()));
}
