/**
 * `npm run schema:dump`: writes docs/reference/schema.sql, the installed schema read back from a
 * fresh install (src/db/catalog.ts). `-- --check` exits 1 when the file is out of date instead.
 *
 * Installs into a scratch database of DATABASE_URL's server, or of an embedded Postgres when
 * DATABASE_URL is unset, and drops it after.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describeCatalog, renderSchemaDump, serverMajor } from '../src/db/catalog.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { runScript } from '../src/cli/args.js';

export const SCHEMA_DUMP = fileURLToPath(new URL('../docs/reference/schema.sql', import.meta.url));

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function main(): Promise<number> {
  const check = process.argv.includes('--check');
  let embedded: EmbeddedPostgresHandle | undefined;
  let server = process.env.DATABASE_URL;
  if (!server) {
    embedded = await startEmbeddedPostgres({ settings: { fsync: 'off', synchronous_commit: 'off' } });
    server = embedded.url;
  }
  const scratch = `sms_schema_dump_${process.pid}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${scratch}`);
    await admin.query(`create database ${scratch} encoding 'UTF8' template template0`);
    const url = withDatabase(server, scratch);
    await migrate(url, { skipGraphile: true });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let dump: string;
    try {
      dump = renderSchemaDump(await describeCatalog(client), await serverMajor(client));
    } finally {
      await client.end();
    }
    if (check) {
      let current = '';
      try {
        current = readFileSync(SCHEMA_DUMP, 'utf8');
      } catch {
        // missing: out of date
      }
      if (current !== dump) {
        process.stderr.write('docs/reference/schema.sql is out of date: run npm run schema:dump\n');
        return 1;
      }
      process.stdout.write('docs/reference/schema.sql is up to date\n');
      return 0;
    }
    writeFileSync(SCHEMA_DUMP, dump);
    process.stdout.write(`wrote docs/reference/schema.sql (${dump.split('\n').length} lines)\n`);
    return 0;
  } finally {
    await admin.query(`drop database if exists ${scratch} with (force)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
  }
}

runScript('schema:dump', main);
