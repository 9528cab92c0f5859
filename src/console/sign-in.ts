/**
 * Signing in: each user signs in with their own Postgres login and password, and the console
 * connects as that login, so Postgres's grants and row-level security decide what they see and
 * do; there is no user table of the console's own. Refused: a login Postgres does not accept, a
 * server that did not ask for the password at all (trust or peer authentication would let anyone
 * be anyone), a superuser, a role with BYPASSRLS, and a login with no sms_ right to show.
 *
 * Attempts are limited per login name and per client address (`SignInLimiter`).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { createDb } from '../db/pool.js';
import { readCapabilities, type Capabilities } from '../db/console/capabilities.js';

export type SignInResult =
  | { ok: true; login: string; capabilities: Capabilities; config: pg.PoolConfig }
  | { ok: false; status: 400 | 401 | 403 | 503; message: string; reason: string };

export interface SignInOptions {
  /** Accept a server that signs the login in without asking for its password (trust, peer). For a private demo only. */
  allowPasswordless?: boolean;
  /** statement_timeout of the console's queries, ms. */
  statementTimeoutMs: number;
}

/** A login name Postgres could have: 1 to 63 bytes, no NUL. */
function plausibleLogin(user: string): boolean {
  return user.length > 0 && Buffer.byteLength(user) <= 63 && !user.includes('\0');
}

/**
 * The connection settings of `databaseUrl` (host, port, database, TLS) with `user` as the login;
 * its own user and password are not used. The password is given only if the server asks for it.
 */
export function loginConfig(databaseUrl: string, user: string, password: string, statementTimeoutMs: number, onAsked: () => void = () => {}): pg.PoolConfig {
  const base = parseIntoClientConfig(databaseUrl);
  const { user: _u, password: _p, ...rest } = base;
  return {
    ...rest,
    user,
    password: () => {
      onAsked();
      return password;
    },
    application_name: 'sms-outbox console',
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    options: `-c statement_timeout=${Math.round(statementTimeoutMs)}`,
  } as pg.PoolConfig;
}

export async function signIn(databaseUrl: string, user: string, password: string, options: SignInOptions): Promise<SignInResult> {
  if (!plausibleLogin(user)) return { ok: false, status: 400, reason: 'bad_input', message: 'Enter your Postgres login name.' };
  if (!password || password.includes('\0')) return { ok: false, status: 400, reason: 'bad_input', message: 'Enter your password.' };
  let asked = false;
  const config = loginConfig(databaseUrl, user, password, options.statementTimeoutMs, () => (asked = true));
  const client = new pg.Client(config);
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    // One answer for every refused login, so names cannot be probed (28P01 wrong password, 28000 no such role or pg_hba refusal).
    if (code.startsWith('28')) return { ok: false, status: 401, reason: 'refused', message: 'Sign-in failed: the login name or the password is wrong.' };
    return { ok: false, status: 503, reason: 'unavailable', message: 'Sign-in failed: the database cannot be reached. Try again in a moment.' };
  }
  try {
    if (!asked && !options.allowPasswordless) {
      return {
        ok: false,
        status: 403,
        reason: 'passwordless',
        message:
          'Sign-in refused: the database let this login in without checking its password (trust or peer authentication in pg_hba.conf), so anyone could sign in as anyone. Ask the operator to require passwords (scram-sha-256) for the console\'s connections.',
      };
    }
    const pool = new pg.Pool({ ...config, max: 1 });
    let capabilities: Capabilities;
    try {
      capabilities = await readCapabilities(createDb(pool));
    } finally {
      await pool.end().catch(() => {});
    }
    if (capabilities.superuser || capabilities.bypassRls) {
      return {
        ok: false,
        status: 403,
        reason: 'too_powerful',
        message: `Sign-in refused: ${capabilities.login} is a ${capabilities.superuser ? 'superuser' : 'role with BYPASSRLS'}. The console acts only as roles that grants and row-level security can limit: sign in with a login granted sms_reader (to see) and sms_sender (to act on its own messages).`,
      };
    }
    if (!capabilities.readMessages && !capabilities.explain && !capabilities.readInbox) {
      return {
        ok: false,
        status: 403,
        reason: 'no_rights',
        message: `Sign-in refused: ${capabilities.login} holds none of the sms-outbox roles, so there is nothing to show. Ask for sms_reader (to see messages) or sms_sender (your own messages).`,
      };
    }
    return { ok: true, login: capabilities.login, capabilities, config: loginConfig(databaseUrl, user, password, options.statementTimeoutMs) };
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * At most `max` failed sign-ins per login name, and `maxPerAddress` per client address, within
 * `windowMs`; past that, sign-in is refused (even with the right password) until the window's
 * oldest failure ages out. A success clears the name's failures. The address's limit is higher:
 * behind a reverse proxy (or a shared NAT) many users come from one address, and one of them
 * guessing must not lock the others out for long.
 */
export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max = 5,
    private readonly windowMs = 15 * 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxPerAddress = max * 6,
  ) {}

  private limitOf(key: string): number {
    return key.startsWith('addr:') ? this.maxPerAddress : this.max;
  }

  /** Seconds to wait before trying again, or 0 when an attempt may be made now. */
  retryAfter(login: string, address: string): number {
    const t = this.now();
    let wait = 0;
    for (const key of [`login:${login.toLowerCase()}`, `addr:${address}`]) {
      const recent = (this.failures.get(key) ?? []).filter((at) => at > t - this.windowMs);
      if (recent.length) this.failures.set(key, recent);
      else this.failures.delete(key);
      const limit = this.limitOf(key);
      if (recent.length >= limit) wait = Math.max(wait, Math.ceil((recent[recent.length - limit]! + this.windowMs - t) / 1000));
    }
    return wait;
  }

  failed(login: string, address: string): void {
    const t = this.now();
    for (const key of [`login:${login.toLowerCase()}`, `addr:${address}`]) {
      const list = this.failures.get(key) ?? [];
      list.push(t);
      this.failures.set(key, list.slice(-this.limitOf(key)));
    }
  }

  succeeded(login: string): void {
    this.failures.delete(`login:${login.toLowerCase()}`);
  }
}

/** A random token for session ids and CSRF tokens: 32 bytes, base64url. */
export function token(): string {
  return randomBytes(32).toString('base64url');
}
