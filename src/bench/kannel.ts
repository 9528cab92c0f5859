/**
 * `sms-outbox bench --kannel`: Kannel 1.4.5 (Debian's `kannel` package) on the same SMSC, for the
 * side by side with sms-outbox's own end-to-end benchmark.
 *
 *   driver --HTTP sendsms--> smsbox --> bearerbox --SMPP--> simulator (thread)
 *   driver <--HTTP dlr-url-- smsbox <-- bearerbox <--receipts--'
 *
 * N Cyrillic messages (UCS-2, one part, the text sms-outbox's bench sends with --cyrillic) go
 * through smsbox's sendsms interface from C keep-alive connections, each with a dlr-url to a small
 * HTTP server of the driver; the rate is N over the time from the first send to the last final
 * receipt (delivered or failed). Kannel keeps its receipts in memory (`dlr-storage = internal`)
 * or in a table of a database of its own on the server of DATABASE_URL (`pgsql`), created for the
 * run and dropped after. Everything listens on 127.0.0.1; the Kannel processes are always stopped.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { body, destination, formatE2eBench, now, SimulatorThread, type E2eBenchResult } from './e2e.js';
import { findKannel, httpText, KANNEL_CONFIG_DIR, startKannel, type KannelBoxes, type KannelDlr } from './kannel-boxes.js';
import { processCpuSeconds } from './pg-costs.js';

export type { KannelDlr } from './kannel-boxes.js';

export interface KannelBenchOptions {
  /** The Postgres server for dlr pgsql (Kannel's database is created next to this one). */
  url?: string;
  dlr: KannelDlr;
  messages: number;
  connections: number;
  /** Kannel's max-pending-submits. */
  window: number;
  receiptDelayMs: number;
  responseDelayMs: number;
  progress?: (phase: string, done: number, total: number) => void;
  log?: (message: string) => void;
}

export interface KannelBenchResult {
  kannel: string;
  dlrStorage: KannelDlr;
  /** With pgsql: the database Kannel kept its receipts in (dropped at the end). */
  database: string | null;
  messages: number;
  connections: number;
  window: number;
  receiptDelayMs: number;
  responseDelayMs: number;
  /** window / round trip (null without a response delay). */
  idealPerSecond: number | null;
  /** Messages per second from the first sendsms request to the last final receipt. */
  endToEndPerSecond: number;
  endToEndSeconds: number;
  /** Rate at which smsbox accepted the sendsms requests. */
  sendPerSecond: number;
  /** Final receipts by kind: delivered (Kannel's type 1) and failed (2 or 16). */
  delivered: number;
  failed: number;
  /** submit_sm the SMSC accepted beyond one per message. */
  duplicates: number;
  /** CPU per message: bearerbox + smsbox, and this process (the clients, the dlr-url server and the simulator). */
  cpuMsPerMessage: { kannel: number; benchProcess: number };
  loadAverage: number[];
}

/** The text sms-outbox's bench sends with --cyrillic. */
const text = (n: number) => body(n, true);

/** The Kannel version the binaries report (the first line of `bearerbox`'s status). */
function kannelVersion(status: string | undefined): string {
  return /Kannel bearerbox version `([^']+)'/.exec(status ?? '')?.[1] ?? 'unknown';
}

interface DlrServer {
  server: Server;
  port: number;
  /** Resolves with the time the last final receipt arrived. */
  done: Promise<number>;
  counts: { delivered: number; failed: number; progress: number };
}

/** The dlr-url endpoint: counts the first final receipt of each message; resolves once all have one. */
async function startDlrServer(total: number): Promise<DlrServer> {
  const finals = new Set<number>();
  const counts = { delivered: 0, failed: 0, progress: 0 };
  let resolveDone!: (at: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
    const n = Number(q.get('n'));
    const type = Number(q.get('type'));
    // 1 delivered, 2 failed, 16 rejected by the SMSC; 4 (buffered) and 8 (accepted) are not final.
    if ((type === 1 || type === 2 || type === 16) && !finals.has(n)) {
      finals.add(n);
      if (type === 1) counts.delivered++;
      else counts.failed++;
      counts.progress = finals.size;
      if (finals.size === total) resolveDone(now());
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, port, done, counts };
}

/** One GET over the keep-alive agent; rejects unless smsbox accepted the message. */
function send(agent: Agent, port: number, pathname: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: pathname, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 202 || res.statusCode === 200 ? resolve() : reject(new Error(`smsbox answered ${res.statusCode}: ${body.trim()}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Creates Kannel's receipt database next to `url` and its table (bench/kannel/dlr-pgsql.sql). */
async function createDlrDatabase(url: string, database: string): Promise<{ host: string; port: number; user: string; password: string; database: string }> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.query(`create database ${database}`);
  } finally {
    await admin.end();
  }
  const u = new URL(url);
  u.pathname = `/${database}`;
  const db = new pg.Client({ connectionString: u.toString() });
  await db.connect();
  try {
    await db.query(readFileSync(path.join(KANNEL_CONFIG_DIR, 'dlr-pgsql.sql'), 'utf8'));
  } finally {
    await db.end();
  }
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 5432), user: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password), database };
}

async function dropDatabase(url: string, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${database} with (force)`);
  } finally {
    await admin.end();
  }
}

export async function runKannelBench(o: KannelBenchOptions): Promise<KannelBenchResult> {
  const log = o.log ?? (() => {});
  const progress = o.progress ?? (() => {});
  const binaries = findKannel();
  if (!binaries) throw new Error('Kannel is not installed: bearerbox and smsbox not found (Debian: apt-get install kannel)');
  if (o.dlr === 'pgsql' && !o.url) throw new Error('Kannel with dlr pgsql needs a Postgres server (DATABASE_URL)');
  const dir = mkdtempSync(path.join(tmpdir(), `sms-bench-kannel-${o.dlr}-`));
  const database = o.dlr === 'pgsql' ? `sms_bench_kannel_${process.pid}` : null;
  let sim: SimulatorThread | undefined;
  let boxes: KannelBoxes | undefined;
  let dlr: DlrServer | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  let ok = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    sim = await SimulatorThread.start(o.receiptDelayMs, o.responseDelayMs);
    const pgConn = database ? await createDlrDatabase(o.url!, database) : undefined;
    let died: (why: string) => void = () => {};
    const dead = new Promise<never>((_, reject) => (died = (why) => reject(new Error(why))));
    dead.catch(() => {});
    boxes = await startKannel(binaries, { dir, smscPort: sim.port, window: o.window, dlr: o.dlr, pg: pgConn }, (why) => died(why));
    const version = kannelVersion((await httpText(boxes.ports.admin, '/status.txt?password=bench'))?.text);
    dlr = await startDlrServer(o.messages);
    log(`Kannel ${version}, receipts ${o.dlr === 'pgsql' ? 'in PostgreSQL' : 'in memory'}: ${o.messages} messages from ${o.connections} connections, max-pending-submits ${o.window}, responses after ${o.responseDelayMs} ms`);

    const dlrBase = `http://127.0.0.1:${dlr.port}/dlr?type=%d&n=`;
    const pathFor = (n: number) =>
      `/cgi-bin/sendsms?${new URLSearchParams({
        username: 'bench',
        password: 'bench',
        to: destination(n),
        text: text(n),
        charset: 'UTF-8',
        coding: '2',
        'dlr-mask': '19',
        'dlr-url': `${dlrBase}${n}`,
      })}`;
    const pids = boxes.pids();
    const kannelCpu = () => pids.reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0);
    const kannelCpuBefore = kannelCpu();
    const ownCpuBefore = process.cpuUsage();
    timer = setInterval(() => progress('deliver', dlr!.counts.progress, o.messages), 250);
    let next = 0;
    const started = now();
    const sending = Promise.all(
      Array.from({ length: o.connections }, async () => {
        while (next < o.messages) await send(agent, boxes!.ports.sendsms, pathFor(next++));
      }),
    );
    // A box that dies makes requests fail (smsbox hangs up once bearerbox is gone), sometimes
    // before its exit reaches us: when a box no longer answers, its exit names the failure.
    const sendingOrDeath = sending.catch(async (err: unknown) => {
      const answers = (port: number, pathname: string) => httpText(port, pathname).then((r) => r !== undefined);
      if (!(await answers(boxes!.ports.admin, '/status.txt?password=bench')) || !(await answers(boxes!.ports.sendsms, '/'))) return dead;
      throw err;
    });
    const sent = await Promise.race([sendingOrDeath.then(now), dead]);
    const timeoutMs = Math.max(120_000, o.messages * 20);
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`only ${dlr!.counts.progress} of ${o.messages} final receipts after ${timeoutMs / 1000} s; logs in ${dir}`)), timeoutMs);
    });
    const finished = await Promise.race([dlr.done, dead, late]).finally(() => clearTimeout(deadline));
    clearInterval(timer);
    progress('deliver', dlr.counts.progress, o.messages);
    const kannelCpuUsed = kannelCpu() - kannelCpuBefore;
    const ownCpu = process.cpuUsage(ownCpuBefore);
    const loadAverage = loadavg().map((x) => Math.round(x * 100) / 100);
    const counts = await sim.counts();
    const endToEndPerSecond = Math.round(o.messages / ((finished - started) / 1000));
    ok = true;
    return {
      kannel: version,
      dlrStorage: o.dlr,
      database,
      messages: o.messages,
      connections: o.connections,
      window: o.window,
      receiptDelayMs: o.receiptDelayMs,
      responseDelayMs: o.responseDelayMs,
      idealPerSecond: o.responseDelayMs > 0 ? Math.round((o.window * 1000) / o.responseDelayMs) : null,
      endToEndPerSecond,
      endToEndSeconds: Math.round((finished - started) / 10) / 100,
      sendPerSecond: Math.round(o.messages / ((sent - started) / 1000)),
      delivered: dlr.counts.delivered,
      failed: dlr.counts.failed,
      duplicates: counts.accepted - o.messages,
      cpuMsPerMessage: {
        kannel: Math.round((kannelCpuUsed * 1e6) / o.messages) / 1000,
        benchProcess: Math.round(((ownCpu.user + ownCpu.system) / 1000 / o.messages) * 1000) / 1000,
      },
      loadAverage,
    };
  } finally {
    clearInterval(timer);
    agent.destroy();
    await boxes?.stop();
    if (dlr) {
      const closed = new Promise((r) => dlr!.server.close(r));
      dlr.server.closeAllConnections();
      await closed;
    }
    await sim?.stop();
    if (database) await dropDatabase(o.url!, database);
    // Kept after a failure: Kannel's logs say why.
    if (ok) rmSync(dir, { recursive: true, force: true });
    else log(`Kannel's configuration and logs: ${dir}`);
  }
}

export function formatKannelBench(r: KannelBenchResult): string {
  return [
    `Kannel ${r.kannel}, receipts ${r.dlrStorage === 'pgsql' ? 'in PostgreSQL' : 'in memory'}`,
    `  end to end (final receipt)  ${r.endToEndPerSecond}/s (${r.endToEndSeconds} s, max-pending-submits ${r.window}, responses after ${r.responseDelayMs} ms, receipts ${r.receiptDelayMs} ms later)`,
    `  share of the ideal          ${r.idealPerSecond ? `${Math.round((r.endToEndPerSecond / r.idealPerSecond) * 1000) / 10}% of ${r.idealPerSecond}/s` : 'no round trip'}`,
    `  sendsms accepted            ${r.sendPerSecond}/s (${r.messages} messages, ${r.connections} connections)`,
    `  final receipts              ${r.delivered} delivered, ${r.failed} failed; duplicate submits ${r.duplicates}`,
    `  CPU per message             bearerbox + smsbox ${r.cpuMsPerMessage.kannel} ms, clients + simulator ${r.cpuMsPerMessage.benchProcess} ms`,
    `  load average (1/5/15 min)   ${r.loadAverage.join(' ')}`,
  ].join('\n');
}

/** `bench --kannel`: sms-outbox's end-to-end run (unless --kannel-only) and Kannel's, same settings, same run. */
export interface SideBySide {
  ours: E2eBenchResult | null;
  kannel: KannelBenchResult[];
  /** sms-outbox's end-to-end rate over each Kannel's (null without our run). */
  oursOver: { memory: number | null; pgsql: number | null };
}

export function sideBySide(ours: E2eBenchResult | null, kannel: KannelBenchResult[]): SideBySide {
  const over = (dlr: KannelDlr) => {
    const k = kannel.find((r) => r.dlrStorage === dlr);
    return ours && k ? Math.round((ours.endToEndPerSecond / k.endToEndPerSecond) * 100) / 100 : null;
  };
  return { ours, kannel, oursOver: { memory: over('memory'), pgsql: over('pgsql') } };
}

export function formatSideBySide(s: SideBySide): string {
  const lines = s.ours ? [`sms-outbox`, formatE2eBench(s.ours).replace(/^/gm, '  '), ''] : [];
  for (const k of s.kannel) lines.push(formatKannelBench(k), '');
  if (s.ours) {
    const ratio = (x: number | null) => (x === null ? 'not measured' : `${x} times`);
    lines.push(`sms-outbox / Kannel, receipts in memory       ${ratio(s.oursOver.memory)}`);
    lines.push(`sms-outbox / Kannel, receipts in PostgreSQL   ${ratio(s.oursOver.pgsql)}`);
  }
  return lines.join('\n').trimEnd();
}
