/**
 * The worker's HTTP endpoints on METRICS_PORT, for Prometheus and Kubernetes probes:
 *   /metrics  Prometheus text format
 *   /healthz  200 while the process runs and its event loop answers (liveness: restart when it fails)
 *   /readyz   200 when Postgres answers and the SMPP session is bound, else 503 with the reasons,
 *             including how long the session has not been bound (readiness: alert or hold a
 *             rollout on it, but do not restart for it; the worker reconnects by itself)
 * Both probes answer JSON; nothing here needs a body or authentication, and nothing secret is shown.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { SessionStatus } from './metrics.js';

export interface Readiness {
  /** Resolves when Postgres answers a trivial query. */
  checkDatabase: () => Promise<void>;
  smpp: () => SessionStatus;
  /** True once a graceful stop has begun. */
  stopping?: () => boolean;
  /** How long the database may take to answer (default 2 s). */
  databaseTimeoutMs?: number;
}

export interface HttpServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * "SMPP session not bound for 42 s (connecting; last bound at 2025-06-01T10:15:02.000Z; last
 * problem: ...)": the time counts from when it was last bound (or from the start), not from the
 * latest reconnect attempt.
 */
function notBoundProblem(smpp: SessionStatus): string {
  const since = smpp.lastBoundAt ? `last bound at ${smpp.lastBoundAt}` : 'never bound since the worker started';
  const problem = smpp.lastProblem ? `; last problem: ${smpp.lastProblem}` : '';
  return `SMPP session not bound for ${Math.round(smpp.forSeconds)} s (${smpp.state}; ${since}${problem})`;
}

export async function startHttpServer(port: number, registry: Registry, readiness: Readiness, host = '0.0.0.0'): Promise<HttpServer> {
  const started = Date.now();
  const databaseTimeoutMs = readiness.databaseTimeoutMs ?? 2000;

  const databaseProblem = async (): Promise<string | null> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`database did not answer within ${databaseTimeoutMs / 1000} s`), databaseTimeoutMs);
    });
    try {
      return await Promise.race([
        readiness.checkDatabase().then(
          () => null,
          (err: Error) => `database unreachable: ${err.message}`,
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  const ready = async (): Promise<{ code: number; body: Record<string, unknown> }> => {
    const smpp = readiness.smpp();
    const dbProblem = await databaseProblem();
    const problems: string[] = [];
    if (readiness.stopping?.()) problems.push('stopping: draining before exit');
    if (dbProblem) problems.push(dbProblem);
    if (!smpp.bound) problems.push(notBoundProblem(smpp));
    const body = {
      status: problems.length ? 'not ready' : 'ready',
      ...(problems.length ? { problems } : {}),
      database: dbProblem ? 'unreachable' : 'ok',
      smpp: {
        state: smpp.state,
        forSeconds: Math.round(smpp.forSeconds),
        ...(smpp.bound ? {} : { lastBoundAt: smpp.lastBoundAt ?? null }),
        ...(smpp.lastProblem ? { lastProblem: smpp.lastProblem } : {}),
      },
    };
    return { code: problems.length ? 503 : 200, body };
  };

  const json = (res: import('node:http').ServerResponse, code: number, body: unknown) =>
    res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);

  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url) {
      case '/healthz':
        json(res, 200, { status: 'ok', uptimeSeconds: Math.round((Date.now() - started) / 1000) });
        return;
      case '/readyz':
        ready().then(
          ({ code, body }) => json(res, code, body),
          (err: Error) => json(res, 503, { status: 'not ready', problems: [`readiness check failed: ${err.message}`] }),
        );
        return;
      case '/metrics':
        registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
          (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
        );
        return;
      case '/':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('sms-outbox worker: /metrics, /healthz, /readyz\n');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  // A stuck client must not hold a socket (or a shutdown) for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive sockets (Prometheus keeps one) would hold close() open; end them.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}
