/**
 * `sms-outbox dev` (`npm start`): the whole product on one machine with nothing installed but
 * Node: an embedded Postgres (unless DATABASE_URL is set), migrations, the SMSC simulator and the
 * worker, in one process tree. Prints how to connect with psql, sends a demo message, and logs
 * every message's way from queued to its final status.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { loadConfig, type Config } from '../config.js';
import { maskSecretUrl } from '../secrets.js';
import { createLogger, type Logger } from '../logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../db/embedded.js';
import { migrate } from '../db/migrate.js';
import { startControlServer, startSimulator, type ControlServer, type Simulator } from '../simulator/index.js';
import { startWorker, type WorkerHandle } from '../worker/main.js';
import { startConsole, type ConsoleHandle } from '../console/server.js';
import { numberOption, parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox dev [--postgres-port N] [--smpp-port N] [--control-port N] [--console-port N] [--no-demo]

Starts an embedded Postgres (or uses DATABASE_URL), applies the migrations, starts the SMSC
simulator (with its control port, to send incoming SMS and receipts with curl), the worker and
the web console, and prints how to connect with psql and the browser. Every message's status
changes are logged (queued -> sent -> delivered). Ctrl-C stops everything; the embedded database
is temporary (and so is the console login made in it).

Options:
  --postgres-port N  the embedded Postgres's port on 127.0.0.1 (default 55432; a free one if taken)
  --smpp-port N      simulator port (default 2775; a free one if 2775 is taken)
  --control-port N   the simulator's control port on 127.0.0.1 (default 2776; a free one if taken)
  --console-port N   the web console on 127.0.0.1 (default 8080; a free one if taken)
  --no-demo          do not send the demo message at start
`;

/** Whether nothing listens on 127.0.0.1:`port` yet. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Starts on `wanted`, or on a free port when `wanted` is the default and already taken. */
async function onPortOrFree<T>(wanted: number, chosen: boolean, start: (port: number) => Promise<T>): Promise<T> {
  return start(wanted).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE' || chosen) throw err;
    return start(0);
  });
}

export async function devCommand(args: string[]): Promise<number> {
  const values = parseCommandArgs(
    'dev',
    args,
    {
      'postgres-port': { type: 'string' },
      'smpp-port': { type: 'string' },
      'control-port': { type: 'string' },
      'console-port': { type: 'string' },
      'no-demo': { type: 'boolean' },
    },
    HELP,
  );
  if (!values) return 0;
  const postgresPort = portOption(values['postgres-port'], 'postgres-port', 55432);
  const smppPort = portOption(values['smpp-port'], 'smpp-port', 2775);
  const controlPort = portOption(values['control-port'], 'control-port', 2776);
  const consolePort = portOption(values['console-port'], 'console-port', 8080);
  const base = loadConfig({ LOG_PRETTY: process.stdout.isTTY ? '1' : '0', ...process.env });
  const logger = createLogger(base.log, 'sms-outbox dev');

  let embedded: EmbeddedPostgresHandle | undefined;
  let simulator: Simulator | undefined;
  let control: ControlServer | undefined;
  let worker: WorkerHandle | undefined;
  let watcher: pg.Client | undefined;
  let webConsole: ConsoleHandle | undefined;
  const cleanup = async () => {
    await webConsole?.close().catch(() => {});
    await worker?.stop().catch(() => {});
    await watcher?.end().catch(() => {});
    await control?.close().catch(() => {});
    await simulator?.stop().catch(() => {});
    await embedded?.stop().catch(() => {});
  };

  try {
    let databaseUrl = base.databaseUrl;
    if (!databaseUrl) {
      logger.info('starting an embedded Postgres (set DATABASE_URL to use your own)');
      // A fixed port by default, so the README's psql lines work as written; a free one when
      // taken (the lines printed below then name it), unless --postgres-port asked for this one.
      const chosen = values['postgres-port'] !== undefined;
      const port = chosen || (await portIsFree(postgresPort)) ? postgresPort : undefined;
      embedded = await startEmbeddedPostgres({ port });
      databaseUrl = embedded.url;
    }
    await migrate(databaseUrl, { settings: { ...base.sqlSettings, defaultSender: base.sqlSettings.defaultSender ?? 'SmsOutbox' } });

    const sim = await onPortOrFree(smppPort, values['smpp-port'] !== undefined, (port) =>
      startSimulator({ port, receiptDelayMs: 300, record: false, keepRecent: 100 }),
    );
    simulator = sim;
    control = await onPortOrFree(controlPort, values['control-port'] !== undefined, (port) =>
      startControlServer(sim, { port, logger }),
    );

    // The worker's settings as `sms-outbox worker` reads them (SMPP_WINDOW, SMPP_TPS, ... apply),
    // pointed at the simulator and this database.
    const dev = loadConfig({
      LOG_PRETTY: process.stdout.isTTY ? '1' : '0',
      SMS_WORKER_ID: 'dev',
      ...process.env,
      DATABASE_URL: databaseUrl,
      SMPP_URL: `smpp://dev:dev@127.0.0.1:${sim.port}`,
      SMPP_PASSWORD: '',
    });
    const config: Config = { ...dev, log: base.log };
    worker = await startWorker(config, logger);
    watcher = await watchStatuses(databaseUrl, logger);

    // The console, with a login of its own in the embedded database (reader and sender); on
    // DATABASE_URL's server, sign in with a login of yours.
    let consoleLogin: { user: string; password: string } | undefined;
    if (embedded) {
      consoleLogin = { user: 'sms_console_demo', password: randomBytes(9).toString('base64url') };
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      try {
        const roles = (await admin.query<{ sender: string; reader: string }>('select sender, reader from sms_private.roles')).rows[0]!;
        await admin.query(`create role ${consoleLogin.user} login password '${consoleLogin.password}' in role ${roles.sender}, ${roles.reader}`);
      } finally {
        await admin.end();
      }
    }
    const consoleUrl = databaseUrl;
    webConsole = await onPortOrFree(consolePort, values['console-port'] !== undefined, (port) =>
      startConsole({ databaseUrl: consoleUrl, host: '127.0.0.1', port, logger: logger.child({ component: 'console' }) }),
    );

    const psql = `psql "${databaseUrl}"`;
    const ctl = `127.0.0.1:${control.port}`;
    process.stdout.write(
      [
        '',
        'sms-outbox dev is running',
        `  Postgres        ${maskSecretUrl(databaseUrl)}${embedded ? ' (embedded, temporary)' : ''}`,
        `  SMSC simulator  127.0.0.1:${sim.port} (receipts after 300 ms)`,
        `  control port    http://${ctl} (curl -s ${ctl}/ lists the endpoints)`,
        `  connect         ${psql}`,
        `  send one        ${psql} -c "select sms_send('+79991234567', 'Код: 4821')"`,
        `  see it          ${psql} -c "select status, segments, submitted_at, done_at, receipt_state from sms_status('<id>')"`,
        `  web console     ${webConsole.url}${consoleLogin ? ` (sign in as ${consoleLogin.user}, password ${consoleLogin.password})` : ' (sign in with a Postgres login of this database)'}`,
        '',
        'Try the other direction with the control port:',
        `  incoming SMS    curl -s ${ctl}/mo -d '{"from":"+79991234567","to":"1234","text":"Привет"}'`,
        `  read it         ${psql} -c "select sender, recipient, body, parts from sms_inbox"`,
        `  last submits    curl -s '${ctl}/submits?limit=5'`,
        `  a receipt       curl -s ${ctl}/receipt -d '{"message_id":"<message_ids[1] from sms_status>","state":"UNDELIV"}'`,
        `  next fails      curl -s ${ctl}/fail-next -d '{"command_status":"ESME_RINVDSTADR"}'`,
        `  drop the link   curl -s ${ctl}/disconnect -d '{}'`,
        '',
        '  Ctrl-C stops everything.',
        '',
      ].join('\n') + '\n',
    );
    if (!values['no-demo']) {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      const { rows } = await client.query<{ id: string }>(`select sms_send('+79991234567', 'Код: 4821') as id`);
      await client.end();
      logger.info({ id: rows[0]!.id }, 'demo message enqueued: select sms_send(\'+79991234567\', \'Код: 4821\')');
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('stopping');
  await cleanup();
  return 0;
}

const portOption = (value: string | undefined, name: string, fallback: number) => numberOption(name, value, fallback, 0, 65535, true);

/** Logs each message's status changes as they are announced on the sms_status channel. */
async function watchStatuses(databaseUrl: string, logger: Logger): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'sms-outbox dev watcher' });
  await client.connect();
  const seen = new Map<string, string[]>();
  client.on('notification', (n) => {
    if (n.channel === 'sms_inbox') {
      const { id } = JSON.parse(n.payload ?? '{}') as { id: string };
      logger.info({ id }, 'incoming SMS stored in sms_inbox');
      return;
    }
    const { id, status } = JSON.parse(n.payload ?? '{}') as { id: string; status: string };
    const path = seen.get(id) ?? ['queued'];
    path.push(status);
    seen.set(id, path);
    if (seen.size > 10_000) seen.delete(seen.keys().next().value!);
    logger.info({ id }, `message ${path.join(' → ')}`);
  });
  client.on('error', () => {});
  await client.query('listen sms_status');
  await client.query('listen sms_inbox');
  return client;
}
