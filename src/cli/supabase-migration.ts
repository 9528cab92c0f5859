/** `sms-outbox supabase-migration`: the schema as one Supabase CLI migration (src/db/supabase-migration.ts). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isValidRolePrefix, ROLE_PREFIX_FORM } from '../db/roles.js';
import { renderSupabaseMigration, supabaseTimestamp } from '../db/supabase-migration.js';
import { EXIT_USAGE, StartupError } from '../errors.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox supabase-migration [--out-dir DIR | --out FILE] [--role-prefix PREFIX]

Writes this release's sms-outbox schema (the numbered migrations, then the functions and views)
as one Supabase CLI migration, to apply with \`supabase db push\`; then run \`sms-outbox migrate\`
once from the worker host for Graphile Worker's schema. Safe to apply to a database migrated
before: only what changed runs.

  --out-dir DIR          write DIR/<UTC now>_sms_outbox.sql (your project's supabase/migrations:
                         the timestamp sorts it after your existing migrations)
  --out FILE             write FILE
  --role-prefix PREFIX   the roles PREFIXsender, PREFIXreader, PREFIXworker (SMS_ROLE_PREFIX;
                         default sms_)

Without --out-dir or --out the migration is written to standard output.
`;

export async function supabaseMigrationCommand(args: string[]): Promise<number> {
  const opts = parseCommandArgs('supabase-migration', args, { 'out-dir': { type: 'string' }, out: { type: 'string' }, 'role-prefix': { type: 'string' } }, HELP);
  if (!opts) return 0;
  const prefix = opts['role-prefix'];
  if (prefix !== undefined && !isValidRolePrefix(prefix)) throw new StartupError(`--role-prefix: expected ${ROLE_PREFIX_FORM}`, EXIT_USAGE);
  if (opts['out-dir'] !== undefined && opts.out !== undefined) throw new StartupError(`--out-dir and --out: give one\n\n${HELP}`, EXIT_USAGE);
  const sql = renderSupabaseMigration(prefix === undefined ? {} : { rolePrefix: prefix });
  const file = opts.out ?? (opts['out-dir'] !== undefined ? path.join(opts['out-dir'], `${supabaseTimestamp()}_sms_outbox.sql`) : undefined);
  if (file === undefined) {
    process.stdout.write(sql);
    return 0;
  }
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, sql);
  process.stderr.write(`wrote ${file}\n`);
  return 0;
}
