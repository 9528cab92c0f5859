import { configWarnings, describeDatabase, EXIT_CONFIG, explainDatabaseError, loadConfig, maskUrl, required, StartupError } from '../config.js';
import { migrate, RolePrefixError, SchemaVersionError } from '../db/migrate.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox migrate [--switch-role-prefix]

Applies migrations/ and Graphile Worker's schema to DATABASE_URL. Safe to run again and from
two processes at once. Also writes SMS_DEFAULT_SENDER, SMS_DEFAULT_VALIDITY and
SMS_MAX_SEGMENTS into sms_settings when they are set.

SMS_ROLE_PREFIX (default sms_) names the database's roles <prefix>sender, <prefix>reader and
<prefix>worker when it is installed; later runs keep the names the database recorded.

  --switch-role-prefix   move an installed database whose roles have another prefix to
                         SMS_ROLE_PREFIX's roles: create them where missing and move every
                         grant and policy of the old ones in this database to them
`;

export async function migrateCommand(args: string[]): Promise<number> {
  const opts = parseCommandArgs('migrate', args, { 'switch-role-prefix': { type: 'boolean' } }, HELP);
  if (!opts) return 0;
  const config = loadConfig();
  // A misspelt SMS_DEFAULT_SENDER would otherwise be silently not written.
  for (const warning of configWarnings()) process.stderr.write(`sms-outbox migrate: warning: ${warning}\n`);
  const url = required(config.databaseUrl, 'DATABASE_URL', 'postgres://user:password@host:port/database');
  if (opts['switch-role-prefix'] && config.rolePrefix === undefined) {
    throw new StartupError('--switch-role-prefix needs SMS_ROLE_PREFIX: the prefix of the roles to move this database to', EXIT_CONFIG);
  }
  let result: Awaited<ReturnType<typeof migrate>>;
  try {
    result = await migrate(url, {
      settings: config.sqlSettings,
      rolePrefix: config.rolePrefix,
      switchRolePrefix: opts['switch-role-prefix'] ?? false,
      log: (m) => process.stdout.write(`${m}\n`),
      warn: (m) => process.stderr.write(`sms-outbox migrate: warning: ${m}\n`),
    });
  } catch (err) {
    throw explainMigrateError(err, url);
  }
  process.stdout.write(
    `migrated ${maskUrl(url)}: ${result.applied.length} applied, ${result.alreadyApplied} already applied; Graphile Worker schema up to date; ` +
      `roles ${result.roles.sender}, ${result.roles.reader}, ${result.roles.worker}\n`,
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
  if (err instanceof SchemaVersionError || err instanceof RolePrefixError) {
    return new StartupError(`DATABASE_URL (${target}): ${e.message}`, EXIT_CONFIG, { cause: err });
  }
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
