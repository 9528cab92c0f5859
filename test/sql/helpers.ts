/** Shared helpers for the SQL tests. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serverUrl } from '../support/db.js';

export type PgError = Error & {
  code?: string;
  column?: string;
  hint?: string;
  detail?: string;
};

/**
 * Awaits `promise`, which must reject with a Postgres error of SQLSTATE `code`. When `argument`
 * is given, the message must name it (as a word) and the error's COLUMN field must carry it.
 * Returns the error for further checks.
 */
export async function rejectsWith(promise: Promise<unknown>, code: string, argument?: string): Promise<PgError> {
  let error: PgError | undefined;
  try {
    await promise;
  } catch (err) {
    error = err as PgError;
  }
  assert.ok(error, `expected an error with SQLSTATE ${code}, but the call succeeded`);
  assert.equal(error.code, code, `expected SQLSTATE ${code}, got ${error.code}: ${error.message}`);
  if (argument !== undefined) {
    assert.match(error.message, new RegExp(`\\b${argument}\\b`), `the message should name ${argument}: ${error.message}`);
    assert.equal(error.column, argument, `the error's COLUMN field should be ${argument}`);
  }
  return error;
}

/** A unique, lower-case name for a cluster-global object made by a test. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

/**
 * Test roles are cluster-global: each gets a unique name and is dropped by `dropAll()` (call it
 * after the test database is dropped, so no privileges in it keep the role alive).
 */
export class TestRoles {
  private readonly names: string[] = [];

  async create(options: { memberOf?: string[]; login?: string } = {}): Promise<string> {
    const name = uniqueName('sms_test_role');
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      const login = options.login === undefined ? 'nologin' : `login password '${options.login}'`;
      await admin.query(`create role ${name} ${login}`);
      this.names.push(name);
      for (const role of options.memberOf ?? []) await admin.query(`grant ${role} to ${name}`);
    } finally {
      await admin.end();
    }
    return name;
  }

  async dropAll(): Promise<void> {
    if (this.names.length === 0) return;
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      for (const name of this.names.splice(0)) await admin.query(`drop role if exists ${name}`);
    } finally {
      await admin.end();
    }
  }
}

/** Runs `fn` on `client` with `set role <role>`, resetting it afterwards. */
export async function asRole<T>(client: pg.ClientBase, role: string, fn: () => Promise<T>): Promise<T> {
  await client.query(`set role ${role}`);
  try {
    return await fn();
  } finally {
    await client.query('reset role');
  }
}

/** Number of rows in sms_outbox. */
export async function outboxCount(db: pg.Pool | pg.ClientBase): Promise<number> {
  const r = await db.query<{ n: string }>('select count(*) as n from public.sms_outbox');
  return Number(r.rows[0]?.n);
}

/**
 * The worker's state changes in sms_private, each planned on every call with its batch's values
 * (force_custom_plan) and never JIT-compiled (test/sql/grants.test.ts checks their settings,
 * test/sql/worker-jit.test.ts what they run).
 */
export const PLANNED_PER_CALL = ['apply_receipts', 'claim', 'expire_overdue', 'mark_sent', 'mark_unsent', 'reclaim_expired_leases', 'release_unsent'];
