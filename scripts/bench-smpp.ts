/**
 * npm run bench:smpp [-- --json] [--seconds N] [--rounds N] [--windows 1,10,100] [--servers simulator,bare]
 * Raw SMPP session throughput on loopback against a server in another process (see src/bench/smpp.ts).
 */
import { parseArgs } from 'node:util';
import { formatTable, runSmppBench } from '../src/bench/smpp.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean' },
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    windows: { type: 'string', default: '1,10,100' },
    servers: { type: 'string', default: 'simulator,bare' },
  },
});

const rows = await runSmppBench({
  windows: values.windows!.split(',').map(Number),
  servers: values.servers!.split(',') as ('simulator' | 'bare')[],
  seconds: Number(values.seconds),
  rounds: Number(values.rounds),
  log: values.json ? undefined : (line) => process.stderr.write(`${line}\n`),
});
if (values.json) process.stdout.write(`${JSON.stringify({ benchmark: 'smpp-session', cores: (await import('node:os')).availableParallelism(), rows }, null, 2)}\n`);
else process.stdout.write(`\n${formatTable(rows)}\n`);
