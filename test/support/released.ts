/**
 * The numbered migrations as sms-outbox 0.1.0 shipped them, kept byte for byte in
 * test/fixtures/released-migrations/0.1.0/ (migrations 0001-0017 were rewritten since, to hold no
 * functions: test/sql/released-migrations.test.ts checks the copies against
 * migrations/released.json). For tests that install a database as a released version left it.
 */
import { fileURLToPath } from 'node:url';
import { loadMigrations, type Migration } from '../../src/db/migrate.js';
import { renderSupabaseMigration } from '../../src/db/supabase-migration.js';

export const RELEASED_VERSION = '0.1.0';
export const RELEASED_DIR = fileURLToPath(new URL(`../fixtures/released-migrations/${RELEASED_VERSION}/`, import.meta.url));

/** The released migrations 0001..upTo. */
export function releasedMigrations(upTo = Number.POSITIVE_INFINITY): Migration[] {
  return loadMigrations(RELEASED_DIR).filter((m) => m.version <= upTo);
}

/**
 * The Supabase CLI migration of the released migrations 0001..upTo, as the generator of that
 * release wrote it (no files of sql/ then), for the role prefix given.
 */
export function releasedSupabaseMigration(upTo: number, rolePrefix?: string): string {
  return renderSupabaseMigration({ migrations: releasedMigrations(upTo), files: [], released: new Map(), ...(rolePrefix ? { rolePrefix } : {}) });
}
