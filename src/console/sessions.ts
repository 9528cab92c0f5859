/**
 * Signed-in sessions, in this process's memory only: a random id (the HttpOnly cookie), the
 * login, what it may do, a CSRF token, and a small connection pool logged in as that login (its
 * password is kept here, and only here, for the pool's reconnects and the live feed's LISTEN
 * connection, until the session ends). A session ends when it has been idle for `idleMs`, at
 * `maxAgeMs` after sign-in, at sign-out, or when the console stops.
 */
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { Capabilities } from '../db/console/capabilities.js';
import { createDb } from '../db/pool.js';
import type { Database } from '../db/schema.js';
import { token } from './sign-in.js';

export interface Session {
  id: string;
  csrf: string;
  login: string;
  capabilities: Capabilities;
  config: pg.PoolConfig;
  pool: pg.Pool;
  db: Kysely<Database>;
  createdAt: number;
  lastSeen: number;
  /** Called when the session ends (the live feed closes its connection). */
  onEnd: (() => Promise<void>)[];
}

export interface SessionLimits {
  idleMs: number;
  maxAgeMs: number;
  /** Sessions at once; the oldest idle one goes to make room. */
  max: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limits: SessionLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), Math.min(60_000, limits.idleMs)).unref();
  }

  async create(login: string, capabilities: Capabilities, config: pg.PoolConfig): Promise<Session> {
    await this.sweep();
    if (this.sessions.size >= this.limits.max) {
      const oldest = [...this.sessions.values()].sort((a, b) => a.lastSeen - b.lastSeen)[0];
      if (oldest) await this.end(oldest.id);
    }
    const pool = new pg.Pool({ ...config, max: 3, idleTimeoutMillis: 30_000 });
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const t = this.now();
    const session: Session = { id: token(), csrf: token(), login, capabilities, config, pool, db: createDb(pool), createdAt: t, lastSeen: t, onEnd: [] };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (and marks it used), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    const t = this.now();
    if (t - s.lastSeen > this.limits.idleMs || t - s.createdAt > this.limits.maxAgeMs) {
      void this.end(id);
      return undefined;
    }
    s.lastSeen = t;
    return s;
  }

  async end(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    await Promise.all(s.onEnd.map((f) => f().catch(() => {})));
    await s.pool.end().catch(() => {});
  }

  get size(): number {
    return this.sessions.size;
  }

  private async sweep(): Promise<void> {
    const t = this.now();
    for (const s of [...this.sessions.values()]) {
      if (t - s.lastSeen > this.limits.idleMs || t - s.createdAt > this.limits.maxAgeMs) await this.end(s.id);
    }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id)));
  }
}
