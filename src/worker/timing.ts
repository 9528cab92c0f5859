/**
 * Every delay, interval and timeout of the worker's own parts (the pump, the store, the lease
 * keeper, the wake-up listener, the reporter), in one place, with the production defaults. The
 * worker uses DEFAULT_TIMING; a test passes a few fields (`startWorker(config, logger, { timing })`,
 * or each part's options) to run them in milliseconds. The SMPP session's (reconnect,
 * enquire_link, response and throttle timeouts) are its options (src/smpp/session-options.ts),
 * set from SMPP_* variables; the leases' length is SMS_LEASE_S.
 */
import type { BackoffPolicy } from '../backoff.js';

export interface WorkerTiming {
  /**
   * A receipt stored unmatched is looked at again behind this worker's next outcome flush, then
   * after each of these delays while still unmatched (its submit result may be in another
   * worker's transaction). After the last, the reconcile task (every minute) matches it.
   */
  rematchDelaysMs: readonly number[];
  /** Retries of a failed group-commit flush (the database may be restarting). */
  flushRetry: BackoffPolicy;
  /** Reconnects of the wake-up LISTEN connection. */
  listenRetry: BackoffPolicy;
  /**
   * The pump's flow detection: FLOW_ROWS claimed within FLOW_WINDOW_MS (about 300 a second) and
   * it stays disarmed between claims, looking again every flowPollMs.
   */
  flowWindowMs: number;
  flowRows: number;
  flowPollMs: number;
  /** A re-check this long after re-arming catches rows whose app transaction spanned the re-arm. */
  rearmRecheckMs: number;
  /** The pump's pause after a database error, before it claims again. */
  dbErrorPauseMs: number;
  /**
   * A row is due by Postgres's clock, yet two claims in a row did not get it (another worker
   * holds it locked): the pump looks again this long after.
   */
  lockedDueRecheckMs: number;
  /** An idle pump renews the wake-up lease this often (a third of the lease, by default). */
  wakeupRenewMs: number;
  /** The lease keeper renews this worker's leases every leaseRenewFraction of SMS_LEASE_S (at least leaseMinIntervalMs)... */
  leaseRenewFraction: number;
  /** ...and takes back expired leases every leaseReclaimFraction of it. */
  leaseReclaimFraction: number;
  leaseMinIntervalMs: number;
  /** sms_worker_state's heartbeat. */
  heartbeatMs: number;
  /** How often Graphile Worker looks for jobs besides its LISTEN. */
  jobPollMs: number;
  /** /metrics reads the queue gauges from Postgres at most once per this long. */
  metricsCacheMs: number;
}

export const DEFAULT_TIMING: WorkerTiming = Object.freeze({
  rematchDelaysMs: Object.freeze([1000, 5000]),
  flushRetry: Object.freeze({ baseMs: 50, maxMs: 5000, jitter: [1, 1] as const }),
  listenRetry: Object.freeze({ baseMs: 100, maxMs: 5000, jitter: [1, 1] as const }),
  flowWindowMs: 100,
  flowRows: 30,
  flowPollMs: 5,
  rearmRecheckMs: 1000,
  dbErrorPauseMs: 1000,
  lockedDueRecheckMs: 1000,
  wakeupRenewMs: 20_000,
  leaseRenewFraction: 1 / 3,
  leaseReclaimFraction: 1 / 2,
  leaseMinIntervalMs: 500,
  heartbeatMs: 10_000,
  jobPollMs: 5000,
  metricsCacheMs: 5000,
});

/** DEFAULT_TIMING with `overrides` on top. */
export function workerTiming(overrides: Partial<WorkerTiming> = {}): WorkerTiming {
  return { ...DEFAULT_TIMING, ...overrides };
}
