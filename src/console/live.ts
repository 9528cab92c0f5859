/**
 * Live updates for one signed-in session: a connection logged in as the session's login LISTENs
 * on the channels the SQL API announces on (`sms_status`: a message reached sent or a final
 * status; `sms_inbox`: an incoming SMS was stored) and hands each notification to the session's
 * open pages (Server-Sent Events, /events). The page then asks the console for the rows that
 * changed, through the login's own grants, so a notification never shows more than the login may
 * see. A `tick` every `tickMs` lets a page look for messages still queued (sms_send announces
 * nothing, to keep enqueues cheap). The connection is opened for the first open page and closed
 * after the last one; a lost connection is reopened while pages wait, and pages are told
 * (`lost`, then `resync`) so they reload what they show.
 */
import pg from 'pg';
import type { Logger } from '../logger.js';

export type LiveEvent =
  | { type: 'status'; id: string; status: string }
  | { type: 'inbox'; id: string }
  | { type: 'tick' }
  | { type: 'lost' }
  | { type: 'resync' };

export const LIVE_CHANNELS = ['sms_status', 'sms_inbox'] as const;

export class LiveFeed {
  private readonly subscribers = new Set<(e: LiveEvent) => void>();
  private client: pg.Client | undefined;
  private opening: Promise<void> | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private wasLost = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly log: Logger,
    private readonly tickMs: number,
    private readonly reconnectMs = 2000,
  ) {}

  /** Adds a page; returns the function that removes it. */
  subscribe(fn: (e: LiveEvent) => void): () => void {
    this.subscribers.add(fn);
    if (this.subscribers.size === 1) this.open();
    return () => {
      this.subscribers.delete(fn);
      if (this.subscribers.size === 0) void this.disconnect();
    };
  }

  /** Resolves once the LISTEN is in place (or failed); for pages and tests that must not miss the first event. */
  ready(): Promise<void> {
    return this.opening ?? Promise.resolve();
  }

  get listening(): boolean {
    return this.client !== undefined;
  }

  private emit(e: LiveEvent): void {
    for (const fn of [...this.subscribers]) fn(e);
  }

  private open(): void {
    if (this.closed || this.client || this.opening) return;
    this.opening = (async () => {
      const client = new pg.Client({ ...this.config, application_name: 'sms-outbox console (live)' });
      client.on('error', () => {});
      try {
        await client.connect();
        for (const channel of LIVE_CHANNELS) await client.query(`listen ${channel}`);
      } catch (err) {
        await client.end().catch(() => {});
        this.log.warn({ err: (err as Error).message }, 'live updates: could not LISTEN; trying again');
        this.lost();
        return;
      } finally {
        this.opening = undefined;
      }
      if (this.closed || this.subscribers.size === 0) {
        await client.end().catch(() => {});
        return;
      }
      this.client = client;
      client.on('notification', (n) => this.onNotification(n));
      client.on('end', () => {
        if (this.client === client) {
          this.client = undefined;
          this.lost();
        }
      });
      this.ticker = setInterval(() => this.emit({ type: 'tick' }), this.tickMs);
      this.ticker.unref();
      if (this.wasLost) {
        this.wasLost = false;
        this.emit({ type: 'resync' });
      }
    })();
  }

  private onNotification(n: pg.Notification): void {
    let payload: { id?: unknown; status?: unknown };
    try {
      payload = JSON.parse(n.payload ?? '{}') as typeof payload;
    } catch {
      return;
    }
    if (typeof payload.id !== 'string' || !/^[0-9a-f-]{36}$/i.test(payload.id)) return;
    if (n.channel === 'sms_status' && typeof payload.status === 'string') this.emit({ type: 'status', id: payload.id, status: payload.status });
    else if (n.channel === 'sms_inbox') this.emit({ type: 'inbox', id: payload.id });
  }

  private lost(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.closed || this.subscribers.size === 0) return;
    if (!this.wasLost) this.emit({ type: 'lost' });
    this.wasLost = true;
    this.retry = setTimeout(() => this.open(), this.reconnectMs);
    this.retry.unref();
  }

  private async disconnect(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    if (this.retry) clearTimeout(this.retry);
    this.ticker = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    await this.opening;
    await this.disconnect();
  }
}
