/**
 * The worker as a real child process (`sms-outbox worker` through tsx), for end-to-end and
 * fault tests: it can be stopped with SIGTERM or killed with SIGKILL mid-run like in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { cliArgs } from './cli.js';
import { waitFor } from './wait.js';
import type { WorkerHooks } from '../../src/worker/main.js';


export interface WorkerProcess {
  child: ChildProcess;
  /** JSON log lines parsed so far. */
  logs: Record<string, unknown>[];
  /** Raw stderr. */
  stderr: () => string;
  /** Resolves with the first log line whose msg matches (fails after timeoutMs, default 60 s: a deadline, not a pace; a worker takes over 15 s to start on a loaded machine). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  /**
   * Resolves with the first worker event `name` (src/worker/events.ts) logged after the
   * `from`-th log line (default: from now on) that passes `accept`. Needs LOG_LEVEL=trace
   * (startWorkerProcess's `events: true`), where the worker logs each event as `worker event`.
   */
  waitForEvent(name: string, accept?: (event: Record<string, unknown>) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  kill(): Promise<number | string>;
}

/**
 * `events`: LOG_LEVEL=trace, so that waitForEvent sees the worker's events. `hooks`: the worker's
 * timing in milliseconds, or no crontab (SMS_TEST_WORKER_HOOKS, src/cli/worker.ts).
 */
export function startWorkerProcess(
  env: Record<string, string>,
  args: string[] = ['worker'],
  options: { events?: boolean; hooks?: Pick<WorkerHooks, 'timing' | 'crontab'> } = {},
): WorkerProcess {
  const hooks = options.hooks ? { SMS_TEST_WORKER_HOOKS: JSON.stringify(options.hooks) } : {};
  const child = spawn(process.execPath, cliArgs(args), {
    env: { ...process.env, LOG_LEVEL: options.events ? 'trace' : 'info', LOG_PRETTY: '0', ...hooks, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const watchers: { pattern: RegExp; resolve: (l: Record<string, unknown>) => void }[] = [];
  const eventWatchers: { name: string; accept: (e: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { msg: line };
      }
      logs.push(entry);
      for (let i = watchers.length - 1; i >= 0; i--) {
        if (watchers[i]!.pattern.test(String(entry.msg ?? ''))) watchers.splice(i, 1)[0]!.resolve(entry);
      }
      if (entry.msg === 'worker event') {
        for (let i = eventWatchers.length - 1; i >= 0; i--) {
          const w = eventWatchers[i]!;
          if (entry.event === w.name && w.accept(entry)) eventWatchers.splice(i, 1)[0]!.resolve(entry);
        }
      }
      if (process.env.SMS_TEST_WORKER_LOGS) process.stderr.write(`[worker ${child.pid}] ${line}\n`);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (process.env.SMS_TEST_WORKER_LOGS) process.stderr.write(`[worker ${child.pid} stderr] ${chunk}`);
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    child,
    logs,
    stderr: () => stderr,
    waitForLog(pattern, timeoutMs = 60_000) {
      const found = logs.find((l) => pattern.test(String(l.msg ?? '')));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker log ${pattern} not seen in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
        watchers.push({
          pattern,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`worker exited before logging ${pattern}; stderr: ${stderr.slice(-2000)}`));
        });
      });
    },
    waitForEvent(name, accept = () => true, options = {}) {
      const timeoutMs = options.timeoutMs ?? 20_000;
      const found = logs.slice(options.from ?? logs.length).find((l) => l.msg === 'worker event' && l.event === name && accept(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker event ${name} not seen in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
        eventWatchers.push({
          name,
          accept,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`worker exited before the event ${name}; stderr: ${stderr.slice(-2000)}`));
        });
      });
    },
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exited;
    },
  };
}

/**
 * Starts the worker with its /metrics server on a free loopback port; resolves once it has
 * bound its SMPP session, with the port.
 */
export async function startBoundWorker(env: Record<string, string>, options: Parameters<typeof startWorkerProcess>[2] = {}): Promise<{ worker: WorkerProcess; metricsPort: number }> {
  const worker = startWorkerProcess({ METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', ...env }, ['worker'], options);
  const metricsPort = Number((await worker.waitForLog(/worker started/)).metricsPort);
  await worker.waitForLog(/SMPP session bound/);
  return { worker, metricsPort };
}

/** Polls until every id has one of `statuses` (or the timeout passes); returns id → status. */
export async function waitForStatuses(
  pool: pg.Pool,
  ids: string[],
  statuses: string[],
  timeoutMs = 20_000,
): Promise<Map<string, string>> {
  let map = new Map<string, string>();
  // On a timeout: how many are in each status, and which (the first five) are not there yet.
  const counts = () => {
    const c: Record<string, number> = {};
    for (const s of map.values()) c[s] = (c[s] ?? 0) + 1;
    const behind = ids.filter((id) => !statuses.includes(map.get(id) ?? '')).slice(0, 5).map((id) => `${id} ${map.get(id) ?? 'missing'}`);
    return `${JSON.stringify(c)}; not yet: ${behind.join(', ')}`;
  };
  return waitFor(
    statuses.join('/'),
    async () => {
      const { rows } = await pool.query<{ id: string; status: string }>('select id, status from sms_outbox where id = any($1::uuid[])', [ids]);
      map = new Map(rows.map((r) => [r.id, r.status]));
      return ids.every((id) => statuses.includes(map.get(id) ?? '')) ? map : undefined;
    },
    { timeoutMs, everyMs: 50, describe: counts },
  );
}
