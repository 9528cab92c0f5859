/**
 * Connecting to DATABASE_URL from a command, and explaining why it failed in one operator-facing
 * line that names the database (never the password): exit 78 when the configuration must change,
 * 69 when Postgres may come back by itself.
 */
import pg from 'pg';
import { EXIT_CONFIG, EXIT_UNAVAILABLE, StartupError } from '../errors.js';

/** `database@host:port` of a Postgres URL, for messages (never the user's password). */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    const host = u.searchParams.get('host') ?? (u.hostname || 'localhost');
    const port = u.port || '5432';
    const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
    return `database "${database}" on ${host}${host.startsWith('/') ? '' : `:${port}`}${u.username ? ` as "${decodeURIComponent(u.username)}"` : ''}`;
  } catch {
    return 'the database';
  }
}

/**
 * The error says the connection failed or was refused, rather than a statement: a SQLSTATE of
 * class 08 (connection), 28 (authorization), 3D (no such database), 57P0x (server shutting down or
 * starting) or 53 (out of resources), or a Node socket error (ECONNREFUSED, ...). pg's own
 * client-side failures carry no code at all; only those are recognised by their text.
 */
export function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code !== undefined) return /^(08|28|3D|57P0|53)/.test(code) || /^E[A-Z]+$/.test(code);
  return typeof e?.message === 'string' && /^(Connection terminated|timeout expired)/.test(e.message);
}

/**
 * An error from connecting to (or first querying) DATABASE_URL as one operator-facing line:
 * exit 78 when the configuration must change (wrong password, unknown role or database, TLS),
 * 69 when Postgres may come back by itself (refused, unreachable, starting up, full).
 */
export function explainDatabaseError(err: unknown, databaseUrl: string): StartupError {
  const e = err as Error & { code?: string };
  const code = e?.code ?? '';
  const message = e?.message || String(err);
  const target = describeDatabase(databaseUrl);
  const fixes: Record<string, string> = {
    '28P01': 'check the user name and password in DATABASE_URL',
    '28000': 'the server refused this role: check the user name in DATABASE_URL and pg_hba.conf',
    '3D000': 'check the database name in DATABASE_URL',
    '42501': 'the role lacks a privilege it needs',
  };
  const tls = /SSL|TLS|certificate/i.test(message);
  if (fixes[code] || tls) {
    const fix = fixes[code] ?? 'check sslmode in DATABASE_URL and the server certificate';
    return new StartupError(`DATABASE_URL (${target}): ${message}${code ? ` [${code}]` : ''}: ${fix}`, EXIT_CONFIG, { cause: err });
  }
  const network = /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|timeout/i.test(`${code} ${message}`);
  const codeNote = code && !message.includes(code) ? ` [${code}]` : '';
  return new StartupError(
    `DATABASE_URL (${target}): cannot connect: ${message}${codeNote}${network ? '; is Postgres running and reachable from this host?' : ''}`,
    EXIT_UNAVAILABLE,
    { cause: err },
  );
}

/**
 * One client connected to `databaseUrl` (10 s to connect), or a StartupError explaining why not.
 * The caller ends it.
 */
export async function connectOrExplain(databaseUrl: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: applicationName, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw explainDatabaseError(err, databaseUrl);
  }
  return client;
}
