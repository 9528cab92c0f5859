/**
 * npm run bench:console [-- --rows 1000000 --repeats 20 --plans --json]
 *
 * The console's pages over a large sms_outbox: server time per page and the list queries' plans
 * (see src/bench/console.ts). Uses the server of DATABASE_URL (in a scratch database it creates
 * and drops), or an embedded Postgres when DATABASE_URL is unset.
 */
import { numberOption, parseCommandArgs, runScript } from '../src/cli/args.js';
import { benchConsole, formatConsoleBench } from '../src/bench/console.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded.js';

const HELP = `Usage: npm run bench:console -- [options]

  --rows N      messages to seed (default 1000000)
  --repeats N   requests per page, after one warm-up (default 20)
  --plans       print each list query's whole EXPLAIN (ANALYZE, BUFFERS)
  --json        print the result as JSON (plans included)

DATABASE_URL: the server to measure (a scratch database and a reader login are created and
dropped there); unset: an embedded Postgres.
`;

async function main(): Promise<number> {
  const values = parseCommandArgs(
    'bench:console',
    process.argv.slice(2),
    { rows: { type: 'string' }, repeats: { type: 'string' }, plans: { type: 'boolean' }, json: { type: 'boolean' } },
    HELP,
  );
  if (!values) return 0;
  const json = values.json ?? false;
  const log = (m: string) => {
    if (!json) process.stderr.write(`${m}\n`);
  };
  let embedded: EmbeddedPostgresHandle | undefined;
  let url = process.env.DATABASE_URL;
  try {
    if (!url) {
      log('DATABASE_URL is unset: starting an embedded Postgres');
      embedded = await startEmbeddedPostgres();
      url = embedded.url;
    }
    const result = await benchConsole({
      url,
      rows: numberOption('rows', values.rows, 1_000_000, 100, 100_000_000, true),
      repeats: numberOption('repeats', values.repeats, 20, 1, 10_000, true),
      log,
    });
    process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatConsoleBench(result, values.plans ?? false));
    return 0;
  } finally {
    await embedded?.stop();
  }
}

runScript('bench:console', main);
