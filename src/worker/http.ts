/**
 * The worker's HTTP endpoints on METRICS_PORT, for Prometheus and Kubernetes probes:
 *   /metrics  Prometheus text format
 *   /healthz  200 while the process runs (liveness)
 *   /readyz   200 when Postgres answers and the SMPP session is bound, else 503 with the reasons
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Registry } from 'prom-client';

export interface Readiness {
  pool: pg.Pool;
  isBound: () => boolean;
}

export async function startHttpServer(port: number, registry: Registry, readiness: Readiness, host = '0.0.0.0'): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const dbReachable = async (): Promise<string | null> => {
    try {
      const client = await readiness.pool.connect();
      try {
        await client.query({ text: 'select 1', rowMode: 'array' });
      } finally {
        client.release();
      }
      return null;
    } catch (err) {
      return `database unreachable: ${(err as Error).message}`;
    }
  };
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n');
      return;
    }
    if (url === '/readyz') {
      const timeout = new Promise<string>((r) => setTimeout(() => r('database did not answer within 2 s'), 2000).unref());
      void Promise.race([dbReachable(), timeout]).then((dbProblem) => {
        const problems = [dbProblem, readiness.isBound() ? null : 'SMPP session not bound'].filter((p): p is string => !!p);
        res
          .writeHead(problems.length ? 503 : 200, { 'content-type': 'application/json' })
          .end(JSON.stringify(problems.length ? { status: 'not ready', problems } : { status: 'ready' }) + '\n');
      });
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
