/**
 * `sms-outbox bench`: the whole product end to end on one machine.
 *
 *   clients --sms_send--> Postgres <--claim/results-- worker (child process) --SMPP--> simulator (thread)
 *                                   <--receipts------------------------------------------'
 *
 * In a scratch database next to DATABASE_URL (or in an embedded Postgres), it measures:
 * 1. the plain single-row INSERT rate of this server (the ceiling enqueue is compared with);
 * 2. full load: N messages enqueued through sms_send from C connections while the worker drains
 *    them, until every one is `delivered`: enqueue rate, end-to-end rate, and the latency from
 *    each app commit to its submit_sm arriving at the SMSC (p50/p99);
 * 3. light load: messages at a steady rate (50/s by default), the same latency;
 * and the worker's peak RSS. Commit times are taken by the clients, arrival times by the
 * simulator, both as epoch time at microsecond resolution on the same machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { benchEnqueue } from './enqueue.js';
import { migrate } from '../db/migrate.js';
import {
  backendCpu,
  costBetween,
  costSnapshot,
  formatPgCost,
  holdWal,
  processCpuSeconds,
  settle,
  startStatements,
  topStatements,
  walBytesBetween,
  walRecordsBetween,
  type PgCost,
  type WalHold,
} from './pg-costs.js';

/** What `sms-outbox bench` and `bench --soak` share. */
export interface BenchOptions {
  /** Any database on the server; the benchmark works in a scratch database next to it. */
  url: string;
  messages: number;
  connections: number;
  /** SMPP_WINDOW of the worker. */
  window: number;
  receiptDelayMs: number;
  /** The simulator holds each submit_sm_resp this long: a carrier's round trip (default 0). */
  responseDelayMs?: number;
  /** Worker processes draining the outbox (default 1). */
  workers?: number;
  /** SMPP_BINDS of each worker (default 1). */
  binds?: number;
  progress?: (phase: string, done: number, total: number) => void;
  log?: (message: string) => void;
}

export interface E2eBenchOptions extends BenchOptions {
  lightRate: number;
  lightSeconds: number;
  /** Skip the plain-INSERT baseline (saves ~10 s). */
  noBaseline?: boolean;
  /** Every message the Cyrillic text (UCS-2, one part) instead of a mix of Latin and Cyrillic. */
  cyrillic?: boolean;
}

export interface LatencyMs {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export interface E2eBenchResult {
  server: string;
  /** The scratch database it ran in (dropped at the end). */
  scratchDatabase: string;
  messages: number;
  connections: number;
  window: number;
  workers: number;
  binds: number;
  receiptDelayMs: number;
  responseDelayMs: number;
  /**
   * With a response delay: window x binds x workers / round trip, the most a window allows, and the
   * share of it the end-to-end rate reached (null without a delay).
   */
  idealPerSecond: number | null;
  shareOfIdeal: number | null;
  plainInsertPerSecond: number | null;
  enqueuePerSecond: number;
  endToEndPerSecond: number;
  /** Seconds from the first enqueue to the last message delivered. */
  endToEndSeconds: number;
  fullLoadCommitToSubmitMs: LatencyMs;
  light: { rate: number; seconds: number; messages: number; commitToSubmitMs: LatencyMs };
  workerPeakRssMb: number;
  duplicates: number;
  /** What Postgres wrote per message at full load (src/bench/pg-costs.ts). */
  fullLoadCost: PgCost;
  /** CPU per message at full load: the worker processes together, and this process (clients and simulator). */
  cpuMsPerMessage: { worker: number; benchProcess: number };
  /** Load average of the machine at the end of the full load (1, 5, 15 min). */
  loadAverage: number[];
}

/** Wall-clock milliseconds, with performance.now()'s resolution. */
export const now = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function latency(commits: Map<number, number>, arrivals: Map<number, number>): LatencyMs {
  const values: number[] = [];
  for (const [n, committed] of commits) {
    const arrived = arrivals.get(n);
    if (arrived !== undefined) values.push(arrived - committed);
  }
  values.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return { p50: round(percentile(values, 50)), p99: round(percentile(values, 99)), max: round(values.at(-1) ?? NaN), samples: values.length };
}

/** The destination that identifies message n (unique per message, so the SMSC side can time it). */
export const destination = (n: number) => `+79${String(n).padStart(9, '0')}`;
const BODIES = ['Your code: %s. Do not share it.', 'Ваш код: %s. Никому его не сообщайте.', 'MyShop: %s is your login code'];
/** Message n's text: one of three (Latin or Cyrillic), or with `cyrillic` always the Cyrillic one. */
export const body = (n: number, cyrillic = false) => BODIES[cyrillic ? 1 : n % BODIES.length]!.replace('%s', String(1000 + (n % 9000)));

export class SimulatorThread {
  private constructor(private readonly worker: Worker, readonly port: number) {}

  static async start(receiptDelayMs: number, responseDelayMs = 0): Promise<SimulatorThread> {
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSource ? './simulator-thread.ts' : './simulator-thread.js', import.meta.url).href;
    // Run from source (tsx), a thread needs tsx's loader registered in it before the import.
    const worker = fromSource
      ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`, { eval: true, workerData: { receiptDelayMs, responseDelayMs } })
      : new Worker(new URL(entry), { workerData: { receiptDelayMs, responseDelayMs } });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (m: { port: number }) => resolve(m.port));
      worker.once('error', reject);
    });
    return new SimulatorThread(worker, port);
  }

  arrivals(): Promise<{ arrivals: Map<number, number>; submits: number; accepted: number }> {
    return new Promise((resolve) => {
      this.worker.once('message', (m: { arrivals: [number, number][]; counters: { submits: number; accepted: number } }) =>
        resolve({ arrivals: new Map(m.arrivals), submits: m.counters.submits, accepted: m.counters.accepted }),
      );
      this.worker.postMessage({ kind: 'arrivals' });
    });
  }

  /**
   * Sends incoming SMS from `count` phones (numbers first, first + 1, ...) to `to`, `%i` in `text`
   * replaced by each one's index, all at once; resolves with the milliseconds until every one was
   * answered, and how many answers were errors.
   */
  incoming(first: number, count: number, to: string, text: string): Promise<{ ms: number; refused: number }> {
    return new Promise((resolve) => {
      this.worker.once('message', (m: { ms: number; refused: number }) => resolve({ ms: m.ms, refused: m.refused }));
      this.worker.postMessage({ kind: 'mo', first, count, to, text });
    });
  }

  /** Distinct messages that arrived (by destination), and the simulator's counters. */
  counts(): Promise<{ distinct: number; submits: number; accepted: number }> {
    return new Promise((resolve) => {
      this.worker.once('message', (m: { distinct: number; counters: { submits: number; accepted: number } }) =>
        resolve({ distinct: m.distinct, submits: m.counters.submits, accepted: m.counters.accepted }),
      );
      this.worker.postMessage({ kind: 'counts' });
    });
  }

  async stop(): Promise<void> {
    this.worker.postMessage({ kind: 'stop' });
    await new Promise((r) => this.worker.once('exit', r));
  }
}

export function startWorkerChild(env: Record<string, string>): ChildProcess {
  const cli = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../cli.ts' : '../cli.js', import.meta.url));
  return spawn(process.execPath, [...process.execArgv, cli, 'worker'], {
    env: { ...process.env, LOG_LEVEL: 'warn', LOG_PRETTY: '0', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Stops the worker process (SIGTERM) and waits for it to exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export function rssMb(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Messages queued, sending or sent, counted through their small partial indexes (a message being
 * sent is queued with a lease: migration 0034).
 */
export async function unfinished(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `select (select count(*) from public.sms_outbox where status = 'queued')
          + (select count(*) from public.sms_outbox where status = 'sent') as n`,
  );
  return Number(rows[0]!.n);
}

/**
 * Waits until every message is delivered. It polls the messages not yet finished, which the small
 * partial indexes of queued, sending and sent rows count; counting the delivered ones would scan
 * the index of every finished message ten times a second, a load on the server the product does
 * not make.
 */
async function waitForDelivered(pool: pg.Pool, total: number, onProgress: (n: number) => void, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = total - (await unfinished(pool));
    onProgress(n);
    if (n >= total) {
      const at = now();
      const { rows: done } = await pool.query<{ n: number }>(`select count(*)::int as n from public.sms_outbox where status = 'delivered'`);
      if (done[0]!.n < total) throw new Error(`only ${done[0]!.n} of ${total} messages delivered; the others ended otherwise`);
      return at;
    }
    if (Date.now() > deadline) throw new Error(`only ${n} of ${total} messages delivered after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A scratch database with the schema, the simulator in a thread and worker processes bound to it, idle. */
export interface Rig {
  scratch: string;
  pool: pg.Pool;
  sim: SimulatorThread;
  /** The first worker. */
  worker: ChildProcess;
  workers: ChildProcess[];
  /** The largest peak resident memory of a worker so far. */
  peakRssMb(): number;
  /** Stops the worker and the simulator and drops the scratch database. */
  close(): Promise<void>;
}

export async function startRig(o: BenchOptions, kind: string, poolSize: number, prepare?: (pool: pg.Pool) => Promise<void>): Promise<Rig> {
  const scratch = `sms_bench_${kind}_${process.pid}`;
  const admin = new pg.Client({ connectionString: o.url });
  await admin.connect();
  await admin.query(`drop database if exists ${scratch}`);
  await admin.query(`create database ${scratch}`);
  const u = new URL(o.url);
  u.pathname = `/${scratch}`;
  const url = u.toString();
  const sim = await SimulatorThread.start(o.receiptDelayMs, o.responseDelayMs ?? 0);
  // Connections stay open (no idle timeout), so their backends' CPU time can be read at the end.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 0 });
  pool.on('error', () => {}); // an idle connection ended by the server: the next query reconnects
  const workers: ChildProcess[] = [];
  let peak = 0;
  let rssTimer: NodeJS.Timeout | undefined;
  const close = async () => {
    clearInterval(rssTimer);
    await Promise.all(workers.map(stopChild));
    await pool.end();
    await sim.stop();
    await admin.query(`drop database if exists ${scratch} with (force)`);
    await admin.end();
  };
  try {
    await migrate(url, { settings: { defaultSender: 'BenchShop' } });
    await prepare?.(pool);
    for (let i = 0; i < (o.workers ?? 1); i++) {
      workers.push(
        startWorkerChild({
          DATABASE_URL: url,
          SMPP_URL: `smpp://bench:bench@127.0.0.1:${sim.port}`,
          SMPP_WINDOW: String(o.window),
          SMPP_BINDS: String(o.binds ?? 1),
          SMS_WORKER_ID: i === 0 ? kind : `${kind}-${i + 1}`,
        }),
      );
    }
    rssTimer = setInterval(() => (peak = Math.max(peak, ...workers.map((w) => rssMb(w.pid!)))), 250);
    // Let the worker bind and go idle before the clock starts.
    for (let i = 0; i < 100; i++) {
      const { rows } = await pool.query<{ armed: boolean }>(`select armed_until > now() as armed from public.sms_wakeup`);
      if (rows[0]?.armed) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { scratch, pool, sim, worker: workers[0]!, workers, peakRssMb: () => peak, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function runE2eBench(o: E2eBenchOptions): Promise<E2eBenchResult> {
  const log = o.log ?? (() => {});
  const progress = o.progress ?? (() => {});
  let plainInsertPerSecond: number | null = null;
  if (!o.noBaseline) {
    log('measuring this server\'s plain single-row INSERT rate (the enqueue ceiling)');
    const base = await benchEnqueue({ url: o.url, connections: o.connections, durationMs: 4000, warmupMs: 1000, rounds: 1, armedMs: 0, marketingMs: 0, insertMs: 0 });
    plainInsertPerSecond = Math.round(base.plain.perSecond);
  }

  // The enqueuing connections, two for the bench's own queries, one holding the WAL (holdWal)
  // until the run ends.
  const rig = await startRig(o, 'e2e', o.connections + 3);
  const { pool, sim, workers, scratch } = rig;
  let walHold: WalHold | undefined;
  const workerCpuSeconds = () => workers.reduce((sum, w) => sum + (processCpuSeconds(w.pid!) ?? 0), 0);
  const workerCount = workers.length;
  const responseDelayMs = o.responseDelayMs ?? 0;
  const binds = o.binds ?? 1;
  try {
    // Full load.
    log(`full load: ${o.messages} messages from ${o.connections} connections, window ${o.window}, ${binds} bind(s) x ${workerCount} worker(s), responses after ${responseDelayMs} ms`);
    const statements = await startStatements(pool);
    walHold = await holdWal(pool);
    const costBefore = await costSnapshot(pool, scratch);
    const workerCpuBefore = workerCpuSeconds();
    const ownCpuBefore = process.cpuUsage();
    const commits = new Map<number, number>();
    let next = 0;
    const started = now();
    const enqueueTimer = setInterval(() => progress('enqueue', next, o.messages), 250);
    await Promise.all(
      Array.from({ length: o.connections }, async () => {
        const client = await pool.connect();
        try {
          while (next < o.messages) {
            const n = next++;
            await client.query('select sms_send($1, $2)', [destination(n), body(n, o.cyrillic)]);
            commits.set(n, now());
          }
        } finally {
          client.release();
        }
      }),
    );
    clearInterval(enqueueTimer);
    const enqueued = now();
    const delivered = await waitForDelivered(pool, o.messages, (n) => progress('deliver', n, o.messages), 30 * 60_000);
    const workerCpu = workerCpuSeconds() - workerCpuBefore;
    const backendCpuAtEnd = backendCpu(scratch);
    const ownCpu = process.cpuUsage(ownCpuBefore);
    const loadAverage = loadavg().map((x) => Math.round(x * 100) / 100);
    const full = await sim.arrivals();
    await settle();
    // Table counters after the backends reported them; CPU as it was when the last message was delivered.
    const costAfter = { ...(await costSnapshot(pool, scratch)), backendCpu: backendCpuAtEnd };
    const fullLoadCost: PgCost = {
      ...costBetween(costBefore, costAfter, o.messages, await walBytesBetween(pool, costBefore, costAfter)),
      statements: statements.ok ? { available: true, top: await topStatements(pool) } : { available: false, reason: statements.reason },
      walRecords: await walRecordsBetween(pool, costBefore, costAfter, o.messages, walHold),
    };

    // Light load.
    log(`light load: ${o.lightRate} messages/s for ${o.lightSeconds} s`);
    const lightCommits = new Map<number, number>();
    const lightTotal = Math.round(o.lightRate * o.lightSeconds);
    const base = 500_000_000;
    const lightStart = now();
    const client = await pool.connect();
    try {
      for (let i = 0; i < lightTotal; i++) {
        const due = lightStart + (i * 1000) / o.lightRate;
        const wait = due - now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await client.query('select sms_send($1, $2)', [destination(base + i), body(i, o.cyrillic)]);
        lightCommits.set(base + i, now());
        progress('light', i + 1, lightTotal);
      }
    } finally {
      client.release();
    }
    await waitForDelivered(pool, o.messages + lightTotal, () => {}, 60_000);
    const light = await sim.arrivals();

    const endToEndPerSecond = Math.round(o.messages / ((delivered - started) / 1000));
    const idealPerSecond = responseDelayMs > 0 ? Math.round((o.window * binds * workerCount * 1000) / responseDelayMs) : null;
    return {
      server: o.url.replace(/\/\/[^@]*@/, '//'),
      scratchDatabase: scratch,
      messages: o.messages,
      connections: o.connections,
      window: o.window,
      workers: workerCount,
      binds,
      receiptDelayMs: o.receiptDelayMs,
      responseDelayMs,
      idealPerSecond,
      shareOfIdeal: idealPerSecond ? Math.round((endToEndPerSecond / idealPerSecond) * 1000) / 1000 : null,
      plainInsertPerSecond,
      enqueuePerSecond: Math.round(o.messages / ((enqueued - started) / 1000)),
      endToEndPerSecond,
      endToEndSeconds: Math.round((delivered - started) / 10) / 100,
      fullLoadCommitToSubmitMs: latency(commits, full.arrivals),
      light: { rate: o.lightRate, seconds: o.lightSeconds, messages: lightTotal, commitToSubmitMs: latency(lightCommits, light.arrivals) },
      workerPeakRssMb: Math.round(rig.peakRssMb()),
      duplicates: light.accepted - (o.messages + lightTotal),
      fullLoadCost,
      cpuMsPerMessage: {
        worker: Math.round((workerCpu * 1e6) / o.messages) / 1000,
        benchProcess: Math.round(((ownCpu.user + ownCpu.system) / 1000 / o.messages) * 1000) / 1000,
      },
      loadAverage,
    };
  } finally {
    await walHold?.release();
    await rig.close();
  }
}

export function formatE2eBench(r: E2eBenchResult): string {
  const ms = (l: LatencyMs) => `p50 ${l.p50} ms, p99 ${l.p99} ms (max ${l.max} ms, ${l.samples} samples)`;
  return [
    `server                        ${r.server}`,
    `plain single-row INSERT       ${r.plainInsertPerSecond ?? 'not measured'}${r.plainInsertPerSecond ? '/s (this server, ' + r.connections + ' connections)' : ''}`,
    `enqueue through sms_send      ${r.enqueuePerSecond}/s (${r.messages} messages, ${r.connections} connections)`,
    `end to end (to delivered)     ${r.endToEndPerSecond}/s (${r.endToEndSeconds} s, window ${r.window}, ${r.binds} bind(s) x ${r.workers} worker(s), responses after ${r.responseDelayMs} ms, receipts ${r.receiptDelayMs} ms later)`,
    `share of the ideal            ${r.idealPerSecond ? `${Math.round(r.shareOfIdeal! * 1000) / 10}% of ${r.idealPerSecond}/s (window x binds x workers / round trip)` : 'no round trip (--response-delay-ms 0)'}`,
    `commit -> submit_sm, full     ${ms(r.fullLoadCommitToSubmitMs)}`,
    `commit -> submit_sm, ${String(r.light.rate).padEnd(4)}/s  ${ms(r.light.commitToSubmitMs)}`,
    `worker peak RSS               ${r.workerPeakRssMb} MB`,
    `duplicate submits             ${r.duplicates}`,
    `end to end / plain INSERT     ${r.plainInsertPerSecond ? `${Math.round((r.endToEndPerSecond / r.plainInsertPerSecond) * 1000) / 10}%` : 'not measured'}`,
    `CPU per message, full load    worker${r.workers > 1 ? 's' : ''} ${r.cpuMsPerMessage.worker} ms, clients + simulator ${r.cpuMsPerMessage.benchProcess} ms`,
    `load average (1/5/15 min)     ${r.loadAverage.join(' ')} at the end of the full load`,
    `what Postgres wrote per message at full load:`,
    formatPgCost(r.fullLoadCost),
  ].join('\n');
}
