/**
 * `sms-outbox console`: the web console for the people who answer "did my SMS arrive?". It
 * listens on 127.0.0.1 unless told otherwise (put it behind a reverse proxy with TLS to reach it
 * from elsewhere), signs each user in with their own Postgres login (sign-in.ts), and is a
 * client of the SQL interface and nothing else: every page is a query as that login.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from '../logger.js';
import { createConsoleApp, type ConsoleAppOptions } from './app.js';
import type { SignInLimiter } from './sign-in.js';

export interface ConsoleOptions {
  databaseUrl: string;
  host: string;
  port: number;
  logger: Logger;
  secureCookies?: boolean;
  statementTimeoutMs?: number;
  idleMs?: number;
  maxAgeMs?: number;
  maxSessions?: number;
  liveTickMs?: number;
  allowPasswordless?: boolean;
  signInLimiter?: SignInLimiter;
}

export interface ConsoleHandle {
  url: string;
  port: number;
  server: Server;
  /** Signed-in sessions right now. */
  sessions(): number;
  close(): Promise<void>;
}

export async function startConsole(o: ConsoleOptions): Promise<ConsoleHandle> {
  const appOptions: ConsoleAppOptions = {
    databaseUrl: o.databaseUrl,
    logger: o.logger,
    secureCookies: o.secureCookies ?? false,
    statementTimeoutMs: o.statementTimeoutMs ?? 5000,
    idleMs: o.idleMs ?? 30 * 60_000,
    maxAgeMs: o.maxAgeMs ?? 12 * 3_600_000,
    maxSessions: o.maxSessions ?? 200,
    liveTickMs: o.liveTickMs ?? 5000,
    allowPasswordless: o.allowPasswordless ?? false,
    ...(o.signInLimiter ? { signInLimiter: o.signInLimiter } : {}),
  };
  const consoleApp = createConsoleApp(appOptions);
  const server = createAdaptorServer({ fetch: consoleApp.app.fetch }) as Server;
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // the event stream stays open
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    server,
    sessions: () => consoleApp.sessions.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await consoleApp.close();
      await closed;
    },
  };
}
