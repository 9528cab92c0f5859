/**
 * The account-wide submit rate (SMPP_TPS) shared by every worker on the database: each worker
 * reserves small blocks of tokens from one bucket in Postgres (sms_rate_reserve) and spends them
 * locally, so the combined rate of all workers holds to the limit while costing one round trip
 * per block (a fiftieth of a second's worth), not per PDU. The bucket holds at most one token,
 * so no second window ever holds more than the limit plus one, however long the account idled
 * (carriers count submits per second and throttle what goes over).
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Logger } from '../logger.js';
import type { Database } from '../db/schema.js';
import type { RateLimiter } from '../smpp/session.js';
import { sleep } from './signal.js';

export class PostgresRateLimiter implements RateLimiter {
  private tokens = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly block: number;
  private lastError = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly tps: number,
    private readonly logger: Logger,
    private readonly onWait: (seconds: number) => void = () => {},
  ) {
    this.block = Math.max(1, Math.ceil(tps / 50));
  }

  /** Resolves when `pdus` submit_sm may be sent. Callers are served in order. */
  acquire(pdus: number, signal?: AbortSignal): Promise<void> {
    const turn = this.chain.then(() => this.take(pdus, signal));
    this.chain = turn.catch(() => {});
    return turn;
  }

  private async take(pdus: number, signal?: AbortSignal): Promise<void> {
    while (this.tokens < pdus) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const want = Math.max(this.block, pdus - this.tokens);
      let waitSeconds: number;
      try {
        const { rows } = await sql<{ wait: number }>`select public.sms_rate_reserve(${want}::int, ${this.tps}::float8, 1::float8) as wait`.execute(this.db);
        waitSeconds = Number(rows[0]?.wait ?? 0);
      } catch (err) {
        // Without the shared bucket we cannot know the account's rate: hold submits until it is back.
        if (Date.now() - this.lastError > 10_000) {
          this.lastError = Date.now();
          this.logger.error({ err }, 'cannot reserve submit rate in Postgres; submits wait until it is reachable');
        }
        await sleep(500);
        continue;
      }
      if (waitSeconds > 0) {
        this.onWait(waitSeconds);
        await sleep(waitSeconds * 1000);
      }
      this.tokens += want;
    }
    this.tokens -= pdus;
  }
}
