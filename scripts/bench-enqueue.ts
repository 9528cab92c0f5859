/**
 * npm run bench:enqueue [-- --connections 16 --duration 10 --warmup 2 --rounds 2 --armed 3 --json]
 *
 * Measures sms_send calls per second beside a plain single-row INSERT (see src/bench/enqueue.ts).
 * Uses the server of DATABASE_URL (in a scratch database it creates and drops), or an embedded
 * Postgres with default (durable) settings when DATABASE_URL is unset.
 */
import { parseArgs } from 'node:util';
import { benchEnqueue, formatEnqueueBench } from '../src/bench/enqueue.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded.js';

const HELP = `Usage: npm run bench:enqueue -- [options]

  --connections N   concurrent connections (default 16)
  --duration S      measured seconds per mode (default 10)
  --warmup S        warm-up seconds per mode (default 2)
  --rounds N        alternations of plain / sms_send (default 2)
  --armed S         seconds of sms_send with the wake-up armed (NOTIFY per commit); 0 skips (default 3)
  --json            print the result as JSON

DATABASE_URL: the server to measure (a scratch database is created and dropped there);
unset: an embedded Postgres with default settings.
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      armed: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const num = (v: string | undefined, name: string, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a non-negative number, got ${JSON.stringify(v)}`);
    return n;
  };
  const json = values.json ?? false;
  const log = (m: string) => {
    if (!json) process.stderr.write(`${m}\n`);
  };
  let embedded: EmbeddedPostgresHandle | undefined;
  let url = process.env.DATABASE_URL;
  try {
    if (!url) {
      log('DATABASE_URL is unset: starting an embedded Postgres (default settings)');
      embedded = await startEmbeddedPostgres();
      url = embedded.url;
    }
    const result = await benchEnqueue({
      url,
      connections: num(values.connections, 'connections', 16),
      durationMs: num(values.duration, 'duration', 10) * 1000,
      warmupMs: num(values.warmup, 'warmup', 2) * 1000,
      rounds: num(values.rounds, 'rounds', 2),
      armedMs: num(values.armed, 'armed', 3) * 1000,
      log,
    });
    process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatEnqueueBench(result));
    return 0;
  } finally {
    await embedded?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench:enqueue: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
