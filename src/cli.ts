/**
 * `sms-outbox <command>`: the command line. Each command lives in src/cli/<command>.ts and is
 * loaded only when used, so `--help` and `migrate` start fast and need no dev dependencies.
 */
import { pathToFileURL } from 'node:url';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, StartupError } from './errors.js';
import { redactSecrets } from './secrets.js';

export const USAGE = `sms-outbox: a Postgres-native SMS outbox sent over one persistent SMPP session

Usage: sms-outbox <command> [options]

Commands:
  migrate     apply migrations/, sql/ and Graphile Worker's schema to DATABASE_URL (safe to
              run again)
  worker      run the worker against DATABASE_URL and SMPP_URL until SIGTERM/SIGINT
  simulator   run a standalone SMSC simulator (default port 2775; --control-port N for an HTTP
              API that sends incoming SMS and receipts and injects faults)
  dev         embedded Postgres + simulator + worker; prints how to connect with psql and curl
  status      print sms_stats and the workers' bind state for DATABASE_URL
  console     the web console (--port N, --host H; default 127.0.0.1:8080)
  bench       end-to-end benchmark (--json for a JSON summary)
  supabase-migration
              write the schema as one Supabase CLI migration (--out-dir supabase/migrations)

Run \`sms-outbox <command> --help\` for a command's options. Configuration comes from the
environment; docs/reference/configuration.md lists every variable.
`;

type Command = (args: string[]) => Promise<number | void>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  migrate: async () => (await import('./cli/migrate.js')).migrateCommand,
  worker: async () => (await import('./cli/worker.js')).workerCommand,
  simulator: async () => (await import('./cli/simulator.js')).simulatorCommand,
  dev: async () => (await import('./cli/dev.js')).devCommand,
  status: async () => (await import('./cli/status.js')).statusCommand,
  bench: async () => (await import('./cli/bench.js')).benchCommand,
  console: async () => (await import('./cli/console.js')).consoleCommand,
  'supabase-migration': async () => (await import('./cli/supabase-migration.js')).supabaseMigrationCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    process.stderr.write(`sms-outbox: a command is required\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return EXIT_OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`sms-outbox: unknown command "${name}"\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    const code = await (await load())(rest);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    // Expected operator errors (bad configuration, database down, schema not migrated, port
    // taken): the message alone, no stack trace, with their exit code (78 configuration, 69
    // unavailable). Anything else is a bug: the stack, exit 1. Secrets are scrubbed from both.
    if (err instanceof StartupError) {
      process.stderr.write(redactSecrets(`sms-outbox ${name}: ${err.message}\n`));
      return err.exitCode;
    }
    process.stderr.write(redactSecrets(`sms-outbox ${name}: ${(err as Error)?.stack ?? String(err)}\n`));
    return EXIT_FAILURE;
  }
}

// Run directly (tsx src/cli.ts ...); the published bin imports main() instead.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      process.stderr.write(`sms-outbox: ${err?.stack ?? err}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
