/**
 * `sms-outbox simulator --control-port 0` as a real process, as an operator runs it, and plain
 * HTTP to its control port (see docs/reference/simulator.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROOT, waitFor } from '../ops/helpers.js';
import { cliArgs } from './cli.js';

export interface SimulatorProcess {
  child: ChildProcess;
  smppPort: number;
  /** http://127.0.0.1:<port> */
  control: string;
  /** A control-port request; resolves with the HTTP status and the JSON answer. */
  call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startSimulatorProcess(args: string[] = []): Promise<SimulatorProcess> {
  const child = spawn(process.execPath, cliArgs(['simulator', '--port', '0', '--control-port', '0', ...args]), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor('the simulator to print its ports', async () => /control port listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 20_000);
  const smppPort = Number(/SMSC simulator listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const control = `http://127.0.0.1:${/control port listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]}`;
  return {
    child,
    smppPort,
    control,
    async call(method, path, body) {
      const res = await fetch(`${control}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
