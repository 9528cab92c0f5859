import { configWarnings, loadConfig, required, type Config } from '../config.js';
import { connectOrExplain, describeDatabase, explainDatabaseError, isConnectionFailure } from '../db/connect.js';
import { migrate, MigrationError, RolePrefixError, SchemaVersionError, SettingRefusedError } from '../db/migrate.js';
import { EXIT_CONFIG, EXIT_FAILURE, StartupError } from '../errors.js';
import { maskSecretUrl } from '../secrets.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox migrate [--switch-role-prefix]

Applies migrations/, the functions and views of sql/ and Graphile Worker's schema to
DATABASE_URL. Safe to run again and from two processes at once. Also writes SMS_DEFAULT_SENDER, SMS_DEFAULT_VALIDITY and
SMS_MAX_SEGMENTS into sms_settings when they are set, then prints the settings in force (and
warns when no default sender is set: sms_send without a sender would fail).

SMS_ROLE_PREFIX (default sms_) names the database's roles <prefix>sender, <prefix>reader and
<prefix>worker when it is installed; later runs keep the names the database recorded.

  --switch-role-prefix   move an installed database whose roles have another prefix to
                         SMS_ROLE_PREFIX's roles: create them where missing and move every
                         grant and policy of the old ones in this database to them
`;

/** sms_settings columns written from the environment by migrate, and the variable for each. */
const SETTING_VARIABLES: Record<string, { variable: string; key: keyof Config['sqlSettings'] }> = {
  default_sender: { variable: 'SMS_DEFAULT_SENDER', key: 'defaultSender' },
  default_validity: { variable: 'SMS_DEFAULT_VALIDITY', key: 'defaultValidity' },
  max_segments: { variable: 'SMS_MAX_SEGMENTS', key: 'maxSegments' },
};

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
    `migrated ${maskSecretUrl(url)}: ${result.applied.length} applied, ${result.alreadyApplied} already applied; ` +
      `${result.objects.length} ${result.objects.length === 1 ? 'file' : 'files'} of sql/ (functions, views) applied; Graphile Worker schema up to date; ` +
      `roles ${result.roles.sender}, ${result.roles.reader}, ${result.roles.worker}\n`,
  );
  let settings: Record<string, unknown>;
  try {
    settings = await readSettings(url);
  } catch (err) {
    throw explainMigrateError(err, url);
  }
  process.stdout.write(formatSettings(settings, config.sqlSettings));
  if (settings.default_sender === null) {
    process.stderr.write(
      'sms-outbox migrate: warning: no default sender is set, so sms_send() without a sender fails (22004 "no default sender is configured"). ' +
        'Set SMS_DEFAULT_SENDER to the sender name registered with your carrier (e.g. SMS_DEFAULT_SENDER=MyBrand) and run migrate again, ' +
        "or: update sms_settings set default_sender = 'MyBrand';\n",
    );
  }
  return 0;
}

/** sms_settings in column order (intervals in Postgres's text form), without its key and timestamp. */
async function readSettings(url: string): Promise<Record<string, unknown>> {
  const client = await connectOrExplain(url, 'sms-outbox migrate');
  try {
    const { rows } = await client.query<{ s: Record<string, unknown> }>('select row_to_json(s) as s from public.sms_settings s');
    const { id: _id, updated_at: _updatedAt, ...settings } = rows[0]?.s ?? {};
    return settings;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Settings that a function changes (it does more than the UPDATE: grants that later migrations keep). */
const SETTING_FUNCTIONS: Record<string, string> = {
  service_role_reads_tables: 'select sms_allow_service_role_read(true | false)',
};

/**
 * The settings in force, one per line, each with where it comes from: the variable that set it
 * in this run, the variable that would (kept otherwise), or an UPDATE of sms_settings.
 */
export function formatSettings(settings: Record<string, unknown>, fromEnv: Config['sqlSettings']): string {
  const names = Object.keys(settings);
  const width = Math.max(...names.map((n) => n.length));
  const shown = names.map((n) => {
    const v = settings[n];
    return v === null ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);
  });
  const valueWidth = Math.max(...shown.map((v) => v.length));
  const lines = names.map((name, i) => {
    const source = SETTING_VARIABLES[name];
    const note = SETTING_FUNCTIONS[name]
      ? `change with: ${SETTING_FUNCTIONS[name]}`
      : !source
      ? `change with: update sms_settings set ${name} = ...`
      : fromEnv[source.key] !== undefined
        ? `set now from ${source.variable}`
        : `${source.variable} not set: kept`;
    return `  ${name.padEnd(width)}  ${shown[i]!.padEnd(valueWidth)}  ${note}`;
  });
  return `settings in force (sms_settings):\n${lines.join('\n')}\n`;
}

/**
 * Connection problems and refusals become one operator-facing line; a failing migration keeps
 * its own message (exit 1); anything else is returned as it is (a bug: printed with its stack).
 * Told apart by type and SQLSTATE.
 */
function explainMigrateError(err: unknown, url: string): unknown {
  if (err instanceof StartupError) return err;
  const e = err as Error & { code?: string };
  const target = describeDatabase(url);
  if (err instanceof SchemaVersionError || err instanceof RolePrefixError) {
    return new StartupError(`DATABASE_URL (${target}): ${e.message}`, EXIT_CONFIG, { cause: err });
  }
  if (err instanceof MigrationError) {
    const cause = err.cause as { code?: string } | undefined;
    const hint = cause?.code === '42501' ? ': run `sms-outbox migrate` as the database owner (not the worker role)' : '';
    return new StartupError(`DATABASE_URL (${target}): ${e.message}${hint}`, EXIT_FAILURE, { cause: err });
  }
  if (err instanceof SettingRefusedError) {
    const variable = SETTING_VARIABLES[err.column]!.variable;
    return new StartupError(`${variable}: sms_settings refused it: ${e.message}; nothing was written to sms_settings`, EXIT_CONFIG, { cause: err });
  }
  if (e.code === '42501') {
    return new StartupError(`DATABASE_URL (${target}): ${e.message}: run \`sms-outbox migrate\` as the database owner (not the worker role)`, EXIT_CONFIG, { cause: err });
  }
  // Connection failures, and a statement or lock timeout (57014, 55P03): Postgres may be fine later.
  if (isConnectionFailure(err) || e.code === '57014' || e.code === '55P03') return explainDatabaseError(err, url);
  return err;
}
