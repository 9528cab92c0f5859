/**
 * SMPP session throughput on loopback: submit_sm per second through our SmppSession versus the
 * bare `smpp` package client, against the same server in another process, at windows 1, 10, 100.
 * Receipts are off: this measures the session, not the receipt path.
 *
 * Each (server, window) pair runs a warm-up, then alternates bare and session runs and keeps the
 * best of each, so a noisy neighbour on a 2-core box skews both sides alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { SmppSession } from '../smpp/session.js';
import { smppLib } from '../smpp/smpp-lib.js';

export interface BenchOptions {
  windows: number[];
  servers: ('simulator' | 'bare')[];
  /** Seconds per measured run (about; the count is sized from a quick probe). */
  seconds: number;
  rounds: number;
  log?: (line: string) => void;
}

export interface BenchRow {
  server: string;
  window: number;
  /** The bare smpp client as shipped (Nagle on). */
  bare: number;
  /** The bare smpp client with TCP_NODELAY. */
  bareNoDelay: number;
  session: number;
  /** session / the better of the two bare figures. */
  ratio: number;
}

const TEXT = 'Your code is 482193. Do not share it.';
const SOURCE = 'MyShop';
const DEST = '79991234567';

async function startServer(kind: string): Promise<{ port: number; child: ChildProcess }> {
  // Compiled (dist/, an install) the server is its .js; from source it runs through tsx.
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(fromSource ? './smpp-server.ts' : './smpp-server.js', import.meta.url));
  const child = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), file, kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`benchmark server exited with ${code}`)));
  });
  return { port, child };
}

interface BareClientSession {
  socket: { setNoDelay(on: boolean): void };
  on(event: string, fn: (...args: unknown[]) => void): void;
  bind_transceiver(fields: Record<string, unknown>, cb: (pdu: { command_status: number }) => void): void;
  submit_sm(fields: Record<string, unknown>, cb: (pdu: { command_status: number }) => void): void;
  unbind(cb: () => void): void;
  destroy(): void;
}

/**
 * The bare package: smpp.connect, bind_transceiver, submit_sm with the text as a string (it
 * encodes). As shipped it leaves Nagle on, which on loopback stalls small windows on delayed ACKs;
 * `noDelay` measures it with TCP_NODELAY too (as our session runs), the stronger reference.
 */
async function runBare(port: number, window: number, count: number, noDelay = false): Promise<number> {
  const s = smppLib.connect({ host: '127.0.0.1', port }) as BareClientSession;
  if (noDelay) s.socket.setNoDelay(true);
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) =>
    s.bind_transceiver({ system_id: 'bench', password: 'bench' }, (pdu) => (pdu.command_status ? reject(new Error('bind failed')) : resolve())),
  );
  const started = performance.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    let done = 0;
    const one = () => {
      sent++;
      s.submit_sm(
        { source_addr_ton: 5, source_addr_npi: 0, source_addr: SOURCE, dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: DEST, registered_delivery: 0, short_message: TEXT },
        () => {
          done++;
          if (sent < count) one();
          else if (done === count) resolve();
        },
      );
    };
    for (let i = 0; i < Math.min(window, count); i++) one();
  });
  const rate = count / ((performance.now() - started) / 1000);
  s.destroy();
  return rate;
}

/** Our session, fed the way the worker feeds it: a bounded number of submit() calls in flight. */
async function runSession(port: number, window: number, count: number): Promise<number> {
  const session = new SmppSession(
    {
      host: '127.0.0.1',
      port,
      tls: false,
      tlsVerify: false,
      systemId: 'bench',
      password: 'bench',
      systemType: '',
      bindMode: 'transceiver',
      window,
      enquireLinkSeconds: 30,
      responseTimeoutMs: 10_000,
      reconnectMaxMs: 1000,
    },
    pino({ level: 'silent' }),
  );
  const ready = once(session, 'bound');
  session.start();
  await ready;
  const started = performance.now();
  let failures = 0;
  await new Promise<void>((resolve) => {
    let sent = 0;
    let done = 0;
    const one = () => {
      const i = sent++;
      void session.submit({ id: String(i), source: SOURCE, destination: DEST, body: TEXT, registeredDelivery: false }).then((r) => {
        if (r.outcome !== 'accepted') failures++;
        done++;
        if (sent < count) one();
        else if (done === count) resolve();
      });
    };
    for (let i = 0; i < Math.min(window * 2, count); i++) one();
  });
  const rate = count / ((performance.now() - started) / 1000);
  await session.stop({ drainTimeoutMs: 1000 });
  if (failures) throw new Error(`${failures} submits were not accepted`);
  return rate;
}

export async function runSmppBench(options: BenchOptions): Promise<BenchRow[]> {
  const log = options.log ?? (() => {});
  const rows: BenchRow[] = [];
  for (const server of options.servers) {
    const { port, child } = await startServer(server);
    try {
      for (const window of options.windows) {
        // Size the runs from a short probe so each lasts about `seconds`.
        const probe = Math.max(await runBare(port, window, 2000, true), await runSession(port, window, 2000));
        const count = Math.max(2000, Math.round(probe * options.seconds));
        let bare = 0;
        let bareNoDelay = 0;
        let sess = 0;
        for (let r = 0; r < options.rounds; r++) {
          bare = Math.max(bare, await runBare(port, window, count));
          bareNoDelay = Math.max(bareNoDelay, await runBare(port, window, count, true));
          sess = Math.max(sess, await runSession(port, window, count));
        }
        const row = { server, window, bare: Math.round(bare), bareNoDelay: Math.round(bareNoDelay), session: Math.round(sess), ratio: sess / Math.max(bare, bareNoDelay) };
        log(`${server.padEnd(10)} window ${String(window).padStart(3)}: bare ${row.bare}/s, bare+nodelay ${row.bareNoDelay}/s, session ${row.session}/s (${(row.ratio * 100).toFixed(0)}% of the better bare)`);
        rows.push(row);
      }
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit').catch(() => {});
    }
  }
  return rows;
}

export function formatTable(rows: BenchRow[]): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const lines = [
    '| server | window | bare smpp client | bare smpp client, TCP_NODELAY | SmppSession | session / better bare |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) lines.push(`| ${r.server} | ${r.window} | ${n(r.bare)} | ${n(r.bareNoDelay)} | ${n(r.session)} | ${(r.ratio * 100).toFixed(0)}% |`);
  lines.push('', 'submit_sm per second on loopback, receipts off, best of the rounds; the server runs in its own process.');
  return lines.join('\n');
}
