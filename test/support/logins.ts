/**
 * A login role of the test's own, as production gives each app and each worker one: LOGIN, a
 * password, membership of sms_worker (or sms_sender, sms_reader) and nothing else. Roles are
 * server-wide, so each has a random name and is dropped by `drop()` (idempotent).
 *
 *   const login = await createLogin(tdb.url, 'sms_worker');
 *   const worker = startWorkerProcess({ DATABASE_URL: login.url, ... });   // the worker as that login
 *   ...
 *   await login.drop();
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serverUrl } from './db.js';

export interface Login {
  role: string;
  password: string;
  /** `databaseUrl` logged in as this role. */
  url: string;
  drop(): Promise<void>;
}

/** Creates `role` (default: a random name) with LOGIN and membership of `memberOf` (one or more roles). */
export async function createLogin(databaseUrl: string, memberOf: string | string[], options: { role?: string } = {}): Promise<Login> {
  const role = options.role ?? `sms_t_login_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const groups = [memberOf].flat();
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`create role ${role} login password '${password}'${groups.length ? ` in role ${groups.join(', ')}` : ''}`);
  } finally {
    await admin.end();
  }
  const u = new URL(databaseUrl);
  u.username = role;
  u.password = password;
  let dropped = false;
  return {
    role,
    password,
    url: u.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      const a = new pg.Client({ connectionString: serverUrl() });
      await a.connect();
      try {
        await a.query(`drop role if exists ${role}`);
      } finally {
        await a.end();
      }
    },
  };
}
