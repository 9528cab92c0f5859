/**
 * npm run bench:enqueue [-- --connections 16 --duration 10 --warmup 2 --rounds 2 --armed 3 --marketing 10 --insert 10 --json]
 *
 * Measures sms_send calls (and an app's INSERT INTO sms_outbox) per second beside a plain single-row
 * INSERT (see src/bench/enqueue.ts).
 * Uses the server of DATABASE_URL (in a scratch database it creates and drops), or an embedded
 * Postgres with default (durable) settings when DATABASE_URL is unset.
 */
import { numberOption, parseCommandArgs, runScript } from '../src/cli/args.js';
import { benchEnqueue, formatEnqueueBench } from '../src/bench/enqueue.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded.js';

const HELP = `Usage: npm run bench:enqueue -- [options]

  --connections N   concurrent connections (default 16)
  --duration S      measured seconds per mode (default 10)
  --warmup S        warm-up seconds per mode (default 2)
  --rounds N        alternations of plain / sms_send (default 2)
  --armed S         seconds of sms_send with the wake-up armed (NOTIFY per commit); 0 skips (default 3)
  --marketing S     measured seconds of sms_send with category => 'marketing' (the opt-out check);
                    0 skips (default: --duration)
  --insert S        measured seconds of INSERT INTO sms_outbox (recipient, body) RETURNING id, the
                    app's INSERT by sms_send's rules; 0 skips (default: --duration)
  --json            print the result as JSON

DATABASE_URL: the server to measure (a scratch database is created and dropped there);
unset: an embedded Postgres with default settings.
`;

async function main(): Promise<number> {
  const values = parseCommandArgs(
    'bench:enqueue',
    process.argv.slice(2),
    {
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      armed: { type: 'string' },
      marketing: { type: 'string' },
      insert: { type: 'string' },
      json: { type: 'boolean' },
    },
    HELP,
  );
  if (!values) return 0;
  const options = {
    connections: numberOption('connections', values.connections, 16, 1, 1000, true),
    durationMs: numberOption('duration', values.duration, 10, 0.1) * 1000,
    warmupMs: numberOption('warmup', values.warmup, 2, 0) * 1000,
    rounds: numberOption('rounds', values.rounds, 2, 1, 1000, true),
    armedMs: numberOption('armed', values.armed, 3, 0) * 1000,
    marketingMs: values.marketing === undefined ? undefined : numberOption('marketing', values.marketing, 10, 0) * 1000,
    insertMs: values.insert === undefined ? undefined : numberOption('insert', values.insert, 10, 0) * 1000,
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
    const result = await benchEnqueue({ url, ...options, log });
    process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatEnqueueBench(result));
    return 0;
  } finally {
    await embedded?.stop();
  }
}

runScript('bench:enqueue', main);
