/**
 * npm run bench:smpp [-- --json] [--seconds N] [--rounds N] [--windows 1,10,100] [--servers simulator,bare]
 * Raw SMPP session throughput on loopback against a server in another process (see src/bench/smpp.ts).
 */
import { availableParallelism } from 'node:os';
import { EXIT_USAGE, StartupError } from '../src/errors.js';
import { numberOption, parseCommandArgs, runScript } from '../src/cli/args.js';
import { formatTable, runSmppBench } from '../src/bench/smpp.js';

const HELP = `Usage: npm run bench:smpp -- [options]

submit_sm per second through sms-outbox's SMPP session and through the bare smpp package, on
loopback, against a server in another process (receipts off).

  --seconds S       seconds per measured run (default 2)
  --rounds N        measured runs per pair, the best kept (default 2)
  --windows LIST    comma-separated SMPP windows (default 1,10,100)
  --servers LIST    simulator, bare or both (default simulator,bare)
  --json            print the rows as JSON
`;

runScript('bench:smpp', async () => {
  const values = parseCommandArgs(
    'bench:smpp',
    process.argv.slice(2),
    {
      json: { type: 'boolean' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      windows: { type: 'string' },
      servers: { type: 'string' },
    },
    HELP,
  );
  if (!values) return 0;
  const windows = (values.windows ?? '1,10,100').split(',').map((w) => numberOption('windows', w, 0, 1, 1000, true));
  const servers = (values.servers ?? 'simulator,bare').split(',');
  const unknown = servers.find((s) => s !== 'simulator' && s !== 'bare');
  if (unknown !== undefined) throw new StartupError(`--servers expects simulator, bare or both, got "${unknown}"\n\n${HELP}`, EXIT_USAGE);
  const rows = await runSmppBench({
    windows,
    servers: servers as ('simulator' | 'bare')[],
    seconds: numberOption('seconds', values.seconds, 2, 0.1, 3600),
    rounds: numberOption('rounds', values.rounds, 2, 1, 100, true),
    log: values.json ? undefined : (line) => process.stderr.write(`${line}\n`),
  });
  if (values.json) process.stdout.write(`${JSON.stringify({ benchmark: 'smpp-session', cores: availableParallelism(), rows }, null, 2)}\n`);
  else process.stdout.write(`\n${formatTable(rows)}\n`);
  return 0;
});
