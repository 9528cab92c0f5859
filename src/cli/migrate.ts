import { loadConfig, maskUrl, required } from '../config.js';
import { migrate } from '../db/migrate.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox migrate

Applies migrations/ and Graphile Worker's schema to DATABASE_URL. Safe to run again and from
two processes at once. Also writes SMS_DEFAULT_SENDER, SMS_DEFAULT_VALIDITY and
SMS_MAX_SEGMENTS into sms_settings when they are set.
`;

export async function migrateCommand(args: string[]): Promise<number> {
  if (!parseCommandArgs('migrate', args, {}, HELP)) return 0;
  const config = loadConfig();
  const url = required(config.databaseUrl, 'DATABASE_URL', 'postgres://user:password@host:port/database');
  const result = await migrate(url, {
    settings: config.sqlSettings,
    log: (m) => process.stdout.write(`${m}\n`),
  });
  process.stdout.write(
    `migrated ${maskUrl(url)}: ${result.applied.length} applied, ${result.alreadyApplied} already applied; Graphile Worker schema up to date\n`,
  );
  return 0;
}
