/**
 * LISTEN on the channels that wake the pump: `sms_outbox_wakeup` (apps' commits while the flag is
 * armed). A dedicated connection, re-established with back-off when Postgres restarts; after each
 * (re)connect the pump is kicked, since notifications sent while disconnected are lost.
 */
import pg from 'pg';
import type { Logger } from '../logger.js';
import { sleep } from './signal.js';

export const WAKEUP_CHANNEL = 'sms_outbox_wakeup';

export class WakeupListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly logger: Logger,
    private readonly onWake: () => void,
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => {});
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const client = new pg.Client({ connectionString: this.connectionString, application_name: 'sms-outbox wakeup', keepAlive: true });
      this.client = client;
      try {
        const ended = new Promise<void>((resolve) => {
          client.on('error', (err) => {
            if (!this.stopped) this.logger.warn({ err }, 'wake-up connection lost');
            resolve();
          });
          client.on('end', () => resolve());
        });
        await client.connect();
        client.on('notification', () => this.onWake());
        await client.query(`listen ${WAKEUP_CHANNEL}`);
        if (failures) this.logger.info('wake-up connection re-established');
        failures = 0;
        this.onWake();
        await ended;
      } catch (err) {
        if (!this.stopped && failures++ % 10 === 0) this.logger.warn({ err }, 'cannot LISTEN for wake-ups; retrying');
      }
      await client.end().catch(() => {});
      if (!this.stopped) await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
    }
  }
}
