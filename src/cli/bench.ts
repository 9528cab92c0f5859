/** `sms-outbox bench`: the end-to-end benchmark (src/bench/e2e.ts). */
import { loadConfig } from '../config.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../db/embedded.js';
import { formatE2eBench, runE2eBench } from '../bench/e2e.js';
import { formatSideBySide, runKannelBench, sideBySide, type KannelDlr, type KannelBenchResult } from '../bench/kannel.js';
import { formatInboundBench, runInboundBench } from '../bench/inbound.js';
import { formatSoak, runSoak, type SoakHousekeeping } from '../bench/soak.js';
import { createLogger } from '../logger.js';
import { expireQueued } from '../tasks/expire.js';
import { purgeExpiredRows } from '../tasks/purge.js';
import { reconcile } from '../tasks/reconcile.js';
import { redactAll } from '../tasks/redact.js';
import { EXIT_USAGE, StartupError } from '../errors.js';
import { numberOption, parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox bench [options]

End to end on this machine: messages enqueued with sms_send from C connections, drained by a
worker process over SMPP to the simulator, until every one is delivered. Reports the plain INSERT
rate of the server, the enqueue rate, the end-to-end rate, the latency from each commit to its
submit_sm at full and at light load, and the worker's peak RSS. Runs in a scratch database next to
DATABASE_URL (dropped after), or in an embedded Postgres when DATABASE_URL is unset.

With --soak: whether throughput holds after a lot of traffic. N messages (default 1000000) go
through the worker while the purge, expiry, reconcile and redaction run every few seconds (with
a retention and a redaction age of seconds); the apps enqueue while fewer than --backlog are
unfinished. Reports the rate of each tenth of the messages, sms_outbox's heap and index sizes,
dead tuples and autovacuum runs at its end.

With --inbound: incoming SMS instead. N SMS (default 20000) from N phones, each answering a message
sent to it, reach the worker at once, three times: with no reply rule, with one rule whose
handler updates one row, and with 100 rules of which one matches. Reports each rate (stored and
acknowledged per second, the median of --rounds rounds) and what matching 100 rules instead of
one costs.

With --kannel: beside Kannel (Debian's kannel package, bearerbox and smsbox on PATH or in
/usr/sbin; its configuration in bench/kannel/). After sms-outbox's end-to-end run, always Cyrillic,
the same --messages go through Kannel's smsbox (sendsms over HTTP from --connections connections,
each with a dlr-url) and bearerbox (max-pending-submits = --window) to the same simulator, once
with Kannel's receipts in memory and once in PostgreSQL (a database of its own on DATABASE_URL's
server, dropped after). Reports each end-to-end rate, from the first send to the last final
receipt, and sms-outbox's rate over each of Kannel's.

Options:
  --messages N          messages at full load (default 100000; with --soak 1000000; with --inbound 20000)
  --connections C       enqueuing connections (default 16)
  --window W            SMPP_WINDOW of the worker (default 100)
  --light-rate R        messages per second at light load (default 50)
  --light-seconds S     duration of the light load (default 20)
  --receipt-delay-ms D  simulator delay from submit_sm_resp to the receipt (default 100; real SMSCs take seconds)
  --response-delay-ms D simulator delay before each submit_sm_resp, a carrier's round trip (default 0);
                        with it the summary gives the share of window x binds x workers / round trip reached
  --workers N           worker processes draining the outbox (default 1)
  --binds N             SMPP_BINDS of each worker: SMPP sessions, each with its own window (default 1)
  --cyrillic            every message in Cyrillic (UCS-2, one part) instead of a Latin/Cyrillic mix
  --no-baseline         skip the plain INSERT measurement
  --soak                the soak benchmark instead (options below, and --messages, --connections,
                        --window, --receipt-delay-ms)
  --backlog B           soak: most messages unfinished at once (default 20000)
  --task-interval-ms T  soak: each housekeeping task runs this long after its last run (default 5000)
  --retention-s S       soak: finished messages and receipts are purged after S seconds (default 60; fractions allowed)
  --redact-after-s S    soak: sms_settings.redact_after in seconds (default 30; fractions allowed)
  --inbound             the incoming SMS benchmark instead (with --messages, --window)
  --rounds R            inbound: the three runs are made R times in turn (default 3, at most 30)
  --kannel              the side by side with Kannel (above; with --messages, --connections, --window,
                        --receipt-delay-ms, --response-delay-ms and sms-outbox's options)
  --kannel-dlr LIST     kannel: where Kannel keeps its receipts, memory and/or pgsql (default memory,pgsql)
  --kannel-only         kannel: skip sms-outbox's run
  --json                print the summary as JSON on stdout
`;

const int = (name: string, v: string | undefined, fallback: number, min: number) => numberOption(name, v, fallback, min, Number.MAX_SAFE_INTEGER, true);

export async function benchCommand(args: string[]): Promise<number> {
  const v = parseCommandArgs(
    'bench',
    args,
    {
      messages: { type: 'string' },
      connections: { type: 'string' },
      window: { type: 'string' },
      'light-rate': { type: 'string' },
      'light-seconds': { type: 'string' },
      'receipt-delay-ms': { type: 'string' },
      'response-delay-ms': { type: 'string' },
      workers: { type: 'string' },
      binds: { type: 'string' },
      cyrillic: { type: 'boolean' },
      'no-baseline': { type: 'boolean' },
      soak: { type: 'boolean' },
      inbound: { type: 'boolean' },
      kannel: { type: 'boolean' },
      'kannel-dlr': { type: 'string' },
      'kannel-only': { type: 'boolean' },
      rounds: { type: 'string' },
      backlog: { type: 'string' },
      'task-interval-ms': { type: 'string' },
      'retention-s': { type: 'string' },
      'redact-after-s': { type: 'string' },
      json: { type: 'boolean' },
    },
    HELP,
  );
  if (!v) return 0;
  // Options are checked before anything starts.
  const options = {
    messages: int('messages', v.messages, v.soak ? 1_000_000 : v.inbound ? 20_000 : 100_000, 1),
    connections: int('connections', v.connections, 16, 1),
    window: int('window', v.window, 100, 1),
    lightRate: int('light-rate', v['light-rate'], 50, 1),
    lightSeconds: int('light-seconds', v['light-seconds'], 20, 1),
    receiptDelayMs: int('receipt-delay-ms', v['receipt-delay-ms'], 100, 0),
    responseDelayMs: int('response-delay-ms', v['response-delay-ms'], 0, 0),
    workers: numberOption('workers', v.workers, 1, 1, 64, true),
    binds: numberOption('binds', v.binds, 1, 1, 32, true),
    cyrillic: v.cyrillic ?? false,
    noBaseline: v['no-baseline'] ?? false,
  };
  const rounds = numberOption('rounds', v.rounds, 3, 1, 30, true);
  const soak = {
    backlog: int('backlog', v.backlog, 20_000, 1),
    taskIntervalMs: int('task-interval-ms', v['task-interval-ms'], 5000, 100),
    // Fractions allowed: a tiny soak (the test's) finishes within seconds.
    retentionSeconds: numberOption('retention-s', v['retention-s'], 60, 0.1),
    redactAfterSeconds: numberOption('redact-after-s', v['redact-after-s'], 30, 0.1),
  };
  const kannelDlr = (v['kannel-dlr'] ?? 'memory,pgsql').split(',').map((d) => d.trim());
  for (const d of kannelDlr) if (d !== 'memory' && d !== 'pgsql') {
    throw new StartupError(`--kannel-dlr expects memory and/or pgsql, got "${d}"`, EXIT_USAGE);
  }
  const config = loadConfig();
  let embedded: EmbeddedPostgresHandle | undefined;
  let url = config.databaseUrl;
  const say = (m: string) => process.stderr.write(`${m}\n`);
  if (!url) {
    say('DATABASE_URL is unset: starting an embedded Postgres (default settings)');
    embedded = await startEmbeddedPostgres();
    url = embedded.url;
  }
  const tty = process.stderr.isTTY;
  let lastLine = '';
  const progress = (phase: string, done: number, total: number) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const line = `${phase.padEnd(8)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
    if (tty) process.stderr.write(`\r${line}`);
    else if (line !== lastLine && (done === total || done % Math.max(1, Math.round(total / 10)) === 0)) say(line);
    lastLine = line;
  };
  const log = (m: string) => say(`${tty ? '\n' : ''}${m}`);
  const print = (json: unknown, text: string) => {
    if (tty) process.stderr.write('\n');
    process.stdout.write(v.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
  };
  try {
    if (v.kannel) {
      const ours = v['kannel-only'] ? null : await runE2eBench({ url, ...options, cyrillic: true, progress, log });
      const kannel: KannelBenchResult[] = [];
      for (const dlr of kannelDlr as KannelDlr[]) kannel.push(await runKannelBench({ url, dlr, ...options, progress, log }));
      const result = sideBySide(ours, kannel);
      print(result, formatSideBySide(result));
    } else if (v.inbound) {
      const result = await runInboundBench({ url, ...options, rounds, log });
      print(result, formatInboundBench(result));
    } else if (v.soak) {
      // The tasks as the worker runs them, quiet but for warnings (the soak reports their counts).
      const logger = createLogger({ level: 'warn', pretty: false });
      const housekeeping: SoakHousekeeping = {
        purge: async (db, seconds) => {
          const days = seconds / 86_400;
          // The soak sends no incoming SMS, and sms_inbox's retention is whole days.
          const config = { retentionDays: days, inboxRetentionDays: 1, unmatchedReceiptRetentionDays: days };
          return (await purgeExpiredRows({ db, logger, config })).outbox;
        },
        expire: (db) => expireQueued({ db, logger }),
        reconcile: async (db) => (await reconcile({ db, logger })).matched,
        redact: async (db) => (await redactAll({ db, logger })).messages,
      };
      const result = await runSoak({ url, ...options, ...soak, housekeeping, progress, log });
      print(result, formatSoak(result));
    } else {
      const result = await runE2eBench({ url, ...options, progress, log });
      print(result, formatE2eBench(result));
    }
    return 0;
  } finally {
    await embedded?.stop();
  }
}
