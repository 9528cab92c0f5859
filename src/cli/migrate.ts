import { configWarnings, describeDatabase, EXIT_CONFIG, explainDatabaseError, loadConfig, maskUrl, required, StartupError } from '../config.js';
import { migrate, SchemaVersionError } from '../db/migrate.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox migrate

Applies migrations/ and Graphile Worker's schema to DATABASE_URL. Safe to run again and from
two processes at once. Also writes SMS_DEFAULT_SENDER, SMS_DEFAULT_VALIDITY and
SMS_MAX_SEGMENTS into sms_settings when they are set.
`;

export async function migrateCommand(args: string[]): Promise<number> {
  if (!parseCommandArgs('migrate', args, {}, HELP)) return 0;
  const config = loadConfig();
  // A misspelt SMS_DEFAULT_SENDER would otherwise be silently not written.
  for (const warning of configWarnings()) process.stderr.write(`sms-outbox migrate: warning: ${warning}\n`);
  const url = required(config.databaseUrl, 'DATABASE_URL', 'postgres://user:password@host:port/database');
  let result: Awaited<ReturnType<typeof migrate>>;
  try {
    result = await migrate(url, {
      settings: config.sqlSettings,
      log: (m) => process.stdout.write(`${m}\n`),
    });
  } catch (err) {
    throw explainMigrateError(err, url);
  }
  process.stdout.write(
    `migrated ${maskUrl(url)}: ${result.applied.length} applied, ${result.alreadyApplied} already applied; Graphile Worker schema up to date\n`,
  );
  return 0;
}

/**
 * Connection problems and refusals become one operator-facing line; a failing migration keeps
 * its own message (exit 1); anything else is returned as it is (a bug: printed with its stack).
 */
function explainMigrateError(err: unknown, url: string): unknown {
  const e = err as Error & { code?: string };
  const target = describeDatabase(url);
  if (err instanceof SchemaVersionError) return new StartupError(`DATABASE_URL (${target}): ${e.message}`, EXIT_CONFIG, { cause: err });
  if (/^migration /.test(e.message ?? '')) {
    const cause = (e as { cause?: { code?: string } }).cause;
    const hint = cause?.code === '42501' ? ': run `sms-outbox migrate` as the database owner (not the worker role)' : '';
    return new StartupError(`DATABASE_URL (${target}): ${e.message}${hint}`, 1, { cause: err });
  }
  if (e.code === '42501') {
    return new StartupError(`DATABASE_URL (${target}): ${e.message}: run \`sms-outbox migrate\` as the database owner (not the worker role)`, EXIT_CONFIG, { cause: err });
  }
  if (typeof e.code === 'string' && /^(08|28|3D|57P0|53)/.test(e.code)) return explainDatabaseError(err, url);
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return explainDatabaseError(err, url);
  if (/timeout|terminated/i.test(e.message ?? '')) return explainDatabaseError(err, url);
  return err;
}
