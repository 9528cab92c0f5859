/**
 * Helpers for the operations tests: run the real CLI with a clean environment, scrape and parse
 * Prometheus text, read the probes, wait for a condition.
 */
import { spawn } from 'node:child_process';
import { cliArgs } from '../support/cli.js';
import { waitFor as waitForCondition } from '../support/wait.js';
import { ROOT } from '../support/compiled.js';

export { ROOT };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `sms-outbox <args>` (test/support/cli.ts) with only PATH and HOME from this process plus `env`,
 * so no variable of the test runner leaks in. Kills it after `timeoutMs`. The promise carries the
 * command's pid (what it names its scratch databases after).
 */
export function runCli(env: Record<string, string>, args: string[] = ['worker'], timeoutMs = 30_000): Promise<CliResult> & { pid: number } {
  const child = spawn(process.execPath, cliArgs(args), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return Object.assign(done, { pid: child.pid ?? 0 });
}

/** One sample of a scrape: the metric name, its labels, its value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (what prom-client writes). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const raw = m[3]!;
    samples.push({ name: m[1]!, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return samples;
}

export class Scrape {
  constructor(
    readonly samples: Sample[],
    readonly text: string,
  ) {}

  /** Sum of the samples named `name` whose labels include `labels` (0 when none). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  const contentType = res.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/plain')) throw new Error(`/metrics content-type ${contentType}`);
  const text = await res.text();
  return new Scrape(parseMetrics(text), text);
}

export async function probe(port: number, path: '/readyz' | '/healthz'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** test/support/wait.ts's waitFor, with the timeout and pace as arguments (as these tests call it). */
export function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  return waitForCondition(what, check, { timeoutMs, everyMs });
}
