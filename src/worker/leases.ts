/**
 * Leases: a claimed row is held by its worker until its lease runs out (a row of the unlogged
 * table sms_private.outbox_lease, migration 0034: `lease_until`). This worker renews the rows it
 * holds every third of the lease, and (like every worker) takes back rows whose holder stopped
 * renewing — killed with SIGKILL, frozen, or cut off from Postgres — so they are retried within
 * seconds instead of waiting for a manual fix.
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../logger.js';
import type { Database } from '../db/schema.js';
import { reclaimExpiredLeases, renewLeases } from '../db/outbox.js';
import { workerTiming, type WorkerTiming } from './timing.js';

export class LeaseKeeper {
  private renewTimer: NodeJS.Timeout | undefined;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: { workerId: string; leaseSeconds: number; timing?: Partial<WorkerTiming> },
    /** Rows taken back: `requeued` go back to the queue, `failed` had used up their attempts. */
    private readonly onReclaimed: (requeued: number, failed: number) => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const leaseMs = this.options.leaseSeconds * 1000;
    const t = workerTiming(this.options.timing);
    this.renewTimer = setInterval(() => void this.renew(), Math.max(t.leaseMinIntervalMs, leaseMs * t.leaseRenewFraction));
    this.reclaimTimer = setInterval(() => void this.reclaim(), Math.max(t.leaseMinIntervalMs, leaseMs * t.leaseReclaimFraction));
    this.renewTimer.unref();
    this.reclaimTimer.unref();
    void this.reclaim();
  }

  stop(): void {
    this.running = false;
    clearInterval(this.renewTimer);
    clearInterval(this.reclaimTimer);
  }

  async renew(): Promise<void> {
    try {
      await renewLeases(this.db, this.options.workerId, this.options.leaseSeconds);
    } catch (err) {
      this.logger.warn({ err }, 'renewing leases failed; rows this worker holds may be taken over if Postgres stays unreachable');
    }
  }

  async reclaim(): Promise<void> {
    try {
      const { requeued, failed } = await reclaimExpiredLeases(this.db);
      if (requeued || failed) {
        this.logger.warn({ requeued, failed }, 'took back messages whose worker stopped renewing its lease');
        this.onReclaimed(requeued, failed);
      }
    } catch (err) {
      this.logger.debug({ err }, 'reclaiming expired leases failed; will try again');
    }
  }
}
