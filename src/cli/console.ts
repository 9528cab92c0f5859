/** `sms-outbox console`: the web console (src/console/), until SIGINT/SIGTERM. */
import { loadConfig, required } from '../config.js';
import { EXIT_CONFIG, StartupError } from '../errors.js';
import { createLogger } from '../logger.js';
import { startConsole } from '../console/server.js';
import { numberOption, parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox console [--port N] [--host H] [options]

The web console for the people who answer "did my SMS arrive?": messages by status, one message's
whole story (sms_explain), failures to retry or cancel, the inbox and the conversation with one
number, opt-outs, parked incoming traffic, phone sign-in; live while a page is open.

Each user signs in with their own Postgres login and password: the console connects to the
database of DATABASE_URL (its host, port, database and sslmode; not its user or password) as that
login, so Postgres's grants decide what they see and do (sms_reader: see everything;
sms_sender: act on their own messages). Superusers and BYPASSRLS roles are refused, and so is a
server that does not ask for the password (trust or peer authentication).

Options:
  --port N                  port to listen on (default 8080; 0 picks a free one)
  --host H                  address to listen on (default 127.0.0.1; anything else belongs
                            behind a reverse proxy with TLS)
  --secure-cookies          mark cookies Secure (__Host- prefix): set it behind an HTTPS proxy
  --statement-timeout-ms N  stop a page's query after N ms (default 5000)
  --idle-minutes N          sign a user out after N idle minutes (default 30)
  --allow-passwordless      accept a server that signs logins in without a password (a private
                            demo on a trust-authenticated server only: anyone could be anyone)
`;

export async function consoleCommand(args: string[]): Promise<number> {
  const values = parseCommandArgs(
    'console',
    args,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      'secure-cookies': { type: 'boolean' },
      'statement-timeout-ms': { type: 'string' },
      'idle-minutes': { type: 'string' },
      'allow-passwordless': { type: 'boolean' },
    },
    HELP,
  );
  if (!values) return 0;
  const config = loadConfig();
  const databaseUrl = required(config.databaseUrl, 'DATABASE_URL', 'postgres://host:port/database (the console signs users in with their own logins)');
  const logger = createLogger(config.log, 'sms-outbox-console');
  const port = numberOption('port', values.port, 8080, 0, 65535, true);
  const host = values.host ?? '127.0.0.1';
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  const handle = await startConsole({
    databaseUrl,
    host,
    port,
    logger,
    secureCookies: values['secure-cookies'] === true,
    statementTimeoutMs: numberOption('statement-timeout-ms', values['statement-timeout-ms'], 5000, 100, 600_000, true),
    idleMs: numberOption('idle-minutes', values['idle-minutes'], 30, 1, 24 * 60) * 60_000,
    allowPasswordless: values['allow-passwordless'] === true,
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
      const why = err.code === 'EADDRINUSE' ? 'the port is already in use' : err.code === 'EACCES' ? 'permission denied' : 'no such address on this host';
      throw new StartupError(`--port/--host: cannot listen on ${host}:${port}: ${why} (${err.code})`, EXIT_CONFIG, { cause: err });
    }
    throw err;
  });
  if (!loopback && !values['secure-cookies']) {
    logger.warn({ host }, 'the console listens beyond this host without TLS: passwords would cross the network in clear; put it behind a reverse proxy with TLS and pass --secure-cookies');
  }
  if (values['allow-passwordless']) logger.warn('--allow-passwordless: a server that does not check passwords lets anyone sign in as anyone');
  process.stdout.write(`console listening on ${handle.url} (sign in with a Postgres login of ${describe(databaseUrl)})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await handle.close();
  logger.info('console stopped');
  return 0;
}

function describe(url: string): string {
  try {
    const u = new URL(url);
    return `database "${decodeURIComponent(u.pathname.slice(1)) || 'postgres'}" on ${u.hostname}:${u.port || 5432}`;
  } catch {
    return 'DATABASE_URL';
  }
}
