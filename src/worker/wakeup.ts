/**
 * LISTEN on the channel that wakes the pump, `sms_outbox_wakeup`: apps' commits while the wake-up
 * is armed (empty payload), and rows other workers (or this one) put back in the queue, due now or
 * after a back-off (`{"due_in_ms": N}`, see sms_private.wake_workers). A dedicated connection,
 * re-established with back-off when Postgres restarts; after each (re)connect the pump is kicked,
 * since notifications sent while disconnected are lost.
 */
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { parseWakeupPayload, WAKEUP_CHANNEL } from '../db/outbox.js';
import { backoffMs, type BackoffPolicy } from '../backoff.js';
import { DEFAULT_TIMING } from './timing.js';

export class WakeupListener {
  private client: pg.Client | undefined;
  private readonly stopped = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly logger: Logger,
    /** A row is due in `dueInMs` milliseconds (0: now, or may be: look). */
    private readonly onWake: (dueInMs: number) => void,
    private readonly applicationName = 'sms-outbox wakeup',
    /** Reconnects of the LISTEN connection (timing.listenRetry: 100 ms doubling to 5 s). */
    private readonly retry: BackoffPolicy = DEFAULT_TIMING.listenRetry,
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  /** Closes the connection, or ends a reconnect wait or a connection attempt at once. */
  async stop(): Promise<void> {
    this.stopped.abort();
    await this.client?.end().catch(() => {});
    await this.running;
  }

  private get isStopped(): boolean {
    return this.stopped.signal.aborted;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.isStopped) {
      const client = new pg.Client({
        connectionString: this.connectionString,
        application_name: this.applicationName,
        keepAlive: true,
        connectionTimeoutMillis: 10_000,
      });
      this.client = client;
      try {
        const ended = new Promise<void>((resolve) => {
          client.on('error', (err) => {
            if (!this.isStopped) this.logger.warn({ err }, 'wake-up connection lost');
            resolve();
          });
          client.on('end', () => resolve());
        });
        await client.connect();
        client.on('notification', (n) => this.onWake(parseWakeupPayload(n.payload)));
        await client.query(`listen ${WAKEUP_CHANNEL}`);
        if (failures) this.logger.info('wake-up connection re-established');
        failures = 0;
        this.onWake(0);
        await ended;
      } catch (err) {
        if (!this.isStopped && failures++ % 10 === 0) this.logger.warn({ err }, 'cannot LISTEN for wake-ups; retrying');
      }
      await client.end().catch(() => {});
      if (!this.isStopped) {
        await delay(backoffMs(failures, this.retry), undefined, { signal: this.stopped.signal }).catch(() => {});
      }
    }
  }
}
