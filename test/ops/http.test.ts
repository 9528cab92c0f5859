/**
 * The HTTP server on METRICS_PORT in-process, with readiness inputs we control: every answer of
 * /healthz, /readyz and /metrics, the methods and paths it refuses, a prompt close with a
 * keep-alive scraper connected, and the Docker image's HEALTHCHECK command against it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Counter, Registry } from 'prom-client';
import { startHttpServer, type HttpServer } from '../../src/worker/http.js';
import type { SessionStatus } from '../../src/worker/metrics.js';
import { freePort } from '../../src/db/embedded.js';

let server: HttpServer;
let database: () => Promise<void> = async () => {};
let smpp: SessionStatus = { bound: true, state: 'bound', forSeconds: 12.4 };
let stopping = false;

const registry = new Registry();
const counter = new Counter({ name: 'test_things_total', help: 'things', registers: [registry] });

function request(method: string, path: string, agent?: http.Agent): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function readyz() {
  const r = await request('GET', '/readyz');
  assert.equal(r.headers['content-type'], 'application/json');
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
}

before(async () => {
  server = await startHttpServer(
    0,
    registry,
    { checkDatabase: () => database(), smpp: () => smpp, stopping: () => stopping, databaseTimeoutMs: 300 },
    '127.0.0.1',
  );
});

after(() => server.close());

test('METRICS_PORT=0 binds a free port and reports it', () => {
  assert.ok(server.port > 0);
});

test('/healthz is 200 JSON whatever the database and the session do', async () => {
  database = () => Promise.reject(new Error('down'));
  smpp = { bound: false, state: 'disconnected', forSeconds: 3 };
  try {
    const r = await request('GET', '/healthz');
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { status: string; uptimeSeconds: number };
    assert.equal(body.status, 'ok');
    assert.equal(typeof body.uptimeSeconds, 'number');
  } finally {
    database = async () => {};
    smpp = { bound: true, state: 'bound', forSeconds: 12.4 };
  }
});

test('/readyz is 200 when the database answers and the session is bound', async () => {
  assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready', database: 'ok', smpp: { state: 'bound', forSeconds: 12 } } });
});

test('/readyz is 503 naming each problem', async () => {
  database = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  smpp = { bound: false, state: 'connecting', forSeconds: 61.2, lastBoundAt: '2025-06-01T10:15:02.000Z', lastProblem: 'bind refused: ESME_RINVPASWD' };
  try {
    assert.deepEqual(await readyz(), {
      status: 503,
      body: {
        status: 'not ready',
        problems: [
          'database unreachable: connect ECONNREFUSED 127.0.0.1:5432',
          'SMPP session not bound for 61 s (connecting; last bound at 2025-06-01T10:15:02.000Z; last problem: bind refused: ESME_RINVPASWD)',
        ],
        database: 'unreachable',
        smpp: { state: 'connecting', forSeconds: 61, lastBoundAt: '2025-06-01T10:15:02.000Z', lastProblem: 'bind refused: ESME_RINVPASWD' },
      },
    });
  } finally {
    database = async () => {};
    smpp = { bound: true, state: 'bound', forSeconds: 12.4 };
  }
});

test('/readyz before the first bind says the session never bound', async () => {
  smpp = { bound: false, state: 'disconnected', forSeconds: 4.6, lastBoundAt: null, lastProblem: 'connect ECONNREFUSED 127.0.0.1:1' };
  try {
    assert.deepEqual(await readyz(), {
      status: 503,
      body: {
        status: 'not ready',
        problems: ['SMPP session not bound for 5 s (disconnected; never bound since the worker started; last problem: connect ECONNREFUSED 127.0.0.1:1)'],
        database: 'ok',
        smpp: { state: 'disconnected', forSeconds: 5, lastBoundAt: null, lastProblem: 'connect ECONNREFUSED 127.0.0.1:1' },
      },
    });
  } finally {
    smpp = { bound: true, state: 'bound', forSeconds: 12.4 };
  }
});

test('/readyz does not hang on a database that does not answer', async () => {
  database = () => new Promise(() => {});
  try {
    // Answered at all, and with the problem only the check's own 0.3 s timer reports: the wait
    // ended by its bound (databaseTimeoutMs), not by the database, which never answers.
    const r = await readyz();
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.problems, ['database did not answer within 0.3 s']);
  } finally {
    database = async () => {};
  }
});

test('/readyz is 503 once a graceful stop has begun', async () => {
  stopping = true;
  try {
    const r = await readyz();
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.problems, ['stopping: draining before exit']);
  } finally {
    stopping = false;
  }
});

test('/metrics serves the registry in the Prometheus text format', async () => {
  counter.inc(3);
  const r = await request('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(r.body, /^# HELP test_things_total things\n# TYPE test_things_total counter\ntest_things_total 3$/m);
});

test('HEAD works, other methods are 405, other paths 404', async () => {
  const head = await request('HEAD', '/healthz');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  const post = await request('POST', '/readyz');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const missing = await request('GET', '/nope');
  assert.equal(missing.status, 404);
  assert.match(missing.body, /try \/metrics, \/healthz or \/readyz/);
  assert.equal((await request('GET', '/readyz?verbose=1')).status, 200, 'a query string is ignored');
});

test('close() returns promptly with a keep-alive scraper connected', async () => {
  const other = await startHttpServer(0, registry, { checkDatabase: async () => {}, smpp: () => smpp }, '127.0.0.1');
  const agent = new http.Agent({ keepAlive: true });
  try {
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get({ host: '127.0.0.1', port: other.port, path: '/metrics', agent }, resolve));
    res.resume();
    await new Promise((r) => res.on('end', r));
    // close() ends the idle keep-alive socket itself: it resolves before its 1 s fallback
    // (closeAllConnections) ran, let alone the 5 s keep-alive timeout (src/worker/http.ts).
    let forced = false;
    const closeAll = other.server.closeAllConnections.bind(other.server);
    other.server.closeAllConnections = () => {
      forced = true;
      closeAll();
    };
    await other.close();
    assert.equal(forced, false, 'closed without the fallback that cuts every connection');
  } finally {
    agent.destroy();
  }
});

test("the Docker image's HEALTHCHECK command passes against /healthz and fails without a server", async () => {
  const dockerfile = readFileSync(new URL('../../deploy/Dockerfile', import.meta.url), 'utf8');
  const m = /^HEALTHCHECK .*\\\n\s+CMD (\[.*\])$/m.exec(dockerfile);
  assert.ok(m, 'the Dockerfile has a HEALTHCHECK in exec form');
  const [cmd, ...args] = JSON.parse(m[1]!) as string[];
  assert.equal(cmd, 'node');
  // Asynchronously: the server answering it runs in this process.
  const run = (port: number) =>
    new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, args, { env: { PATH: process.env.PATH ?? '', METRICS_PORT: String(port) }, timeout: 10_000 });
      child.on('exit', (code) => resolve(code));
    });
  assert.equal(await run(server.port), 0);
  assert.equal(await run(await freePort()), 1);
});
