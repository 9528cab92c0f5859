/** `sms-outbox simulator`: a standalone SMSC simulator for development, demos and benchmarks. */
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { EXIT_CONFIG, EXIT_USAGE, StartupError } from '../errors.js';
import { createLogger } from '../logger.js';
import { startControlServer, startSimulator, type IdFormat, type ReceiptForm } from '../simulator/index.js';
import { numberOption, parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox simulator [options]

A standalone SMSC simulator speaking SMPP 3.4: accepts binds, answers submit_sm with message ids,
sends delivery receipts, and can throttle. Prints "SMSC simulator listening on HOST:PORT" when ready;
stops on SIGINT/SIGTERM. Binds and submits are logged at LOG_LEVEL=debug.

With --control-port, an HTTP API on 127.0.0.1 sends incoming SMS and receipts to the bound
worker and injects faults (curl http://127.0.0.1:PORT/ lists the endpoints):
  curl -s 127.0.0.1:PORT/mo -d '{"from":"+79991234567","to":"1234","text":"Привет"}'

Options:
  --port N               port to listen on (default 2775; 0 picks a free one)
  --host H               address to listen on (default 127.0.0.1)
  --system-id ID         accept only binds with this system_id (default: any)
  --password PW          accept only binds with this password (default: any)
  --receipts on|off      send delivery receipts when requested (default on)
  --receipt-delay-ms N   delay before each receipt (default 100)
  --response-delay-ms N  delay before each submit_sm_resp, a carrier's round trip (default 0)
  --receipt-form F       text, tlv or both (default both)
  --id-format F          message ids in hex or decimal (default hex)
  --throttle-rate R      answer this share of submit_sm (0..1) with ESME_RTHROTTLED (default 0)
  --tls-cert FILE        serve SMPP over TLS with this PEM certificate ...
  --tls-key FILE         ... and this PEM key (test/fixtures/tls has a self-signed pair for tests)
  --control-port N       serve the control API on 127.0.0.1:N (0 picks a free one; default off)
`;

const port = (name: string, value: string | undefined, fallback: number) => numberOption(name, value, fallback, 0, 65535, true);

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new StartupError(`--${name} expects ${allowed.join(' or ')}, got "${value}"`, EXIT_USAGE);
  return value as T;
}

/** A port that cannot be listened on: one line naming the option (exit 78), not a stack trace. */
function portError(option: string, host: string, port: number, err: NodeJS.ErrnoException): Error {
  if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES' && err.code !== 'EADDRNOTAVAIL') return err;
  const why = err.code === 'EADDRINUSE' ? 'the port is already in use' : err.code === 'EACCES' ? 'permission denied' : 'no such address on this host';
  return new StartupError(`${option}: cannot listen on ${host}:${port}: ${why} (${err.code})`, EXIT_CONFIG, { cause: err });
}

export async function simulatorCommand(args: string[]): Promise<number> {
  const values = parseCommandArgs(
    'simulator',
    args,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      'system-id': { type: 'string' },
      password: { type: 'string' },
      receipts: { type: 'string' },
      'receipt-delay-ms': { type: 'string' },
      'response-delay-ms': { type: 'string' },
      'receipt-form': { type: 'string' },
      'id-format': { type: 'string' },
      'throttle-rate': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'control-port': { type: 'string' },
    },
    HELP,
  );
  if (!values) return 0;
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) throw new StartupError('--tls-cert and --tls-key go together', EXIT_USAGE);
  const controlPort = values['control-port'] === undefined ? undefined : port('control-port', values['control-port'], 0);
  const config = loadConfig();
  const logger = createLogger(config.log, 'smsc-simulator');
  const smppPort = port('port', values.port, 2775);
  const host = values.host ?? '127.0.0.1';
  const sim = await startSimulator({
    port: smppPort,
    host,
    systemId: values['system-id'] ?? null,
    password: values.password ?? null,
    receipts: oneOf('receipts', values.receipts, ['on', 'off'], 'on') === 'on',
    receiptDelayMs: numberOption('receipt-delay-ms', values['receipt-delay-ms'], 100, 0, 86_400_000),
    responseDelayMs: numberOption('response-delay-ms', values['response-delay-ms'], 0, 0, 86_400_000),
    receiptForm: oneOf<ReceiptForm>('receipt-form', values['receipt-form'], ['text', 'tlv', 'both'], 'both'),
    idFormat: oneOf<IdFormat>('id-format', values['id-format'], ['hex', 'decimal'], 'hex'),
    throttleRate: numberOption('throttle-rate', values['throttle-rate'], 0, 0, 1),
    tls: values['tls-cert'] ? { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']!) } : null,
    record: false,
    keepRecent: controlPort === undefined ? 0 : 100,
    logger,
  }).catch((err: NodeJS.ErrnoException) => {
    throw portError('--port', host, smppPort, err);
  });
  const control =
    controlPort === undefined
      ? undefined
      : await startControlServer(sim, { port: controlPort, logger }).catch(async (err: NodeJS.ErrnoException) => {
          await sim.stop();
          throw portError('--control-port', '127.0.0.1', controlPort, err);
        });
  process.stdout.write(`SMSC simulator listening on ${sim.host}:${sim.port}${values['tls-cert'] ? ' (TLS)' : ''}\n`);
  if (control) process.stdout.write(`control port listening on http://${control.host}:${control.port} (curl http://${control.host}:${control.port}/ lists the endpoints)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await control?.close();
  await sim.stop();
  logger.info({ ...sim.counters }, 'SMSC simulator stopped');
  return 0;
}
