/**
 * Start-up checks through the real CLI (`sms-outbox worker` as a child process): each mistake an
 * operator is likely to make exits non-zero with one line on stderr that names the variable (or
 * the command to run), no stack trace, and never a password.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase, serverUrl, type TestDatabase } from '../support/db.js';
import { createLogin, type Login } from '../support/logins.js';
import { runCli, type CliResult } from './helpers.js';

const SMPP_SECRET = 'Smpp-Secret-5150';
const SMPP_ENV_SECRET = 'Smpp-Env-Secret-7788';

/** The worker's login (test/support/logins.ts); its password is looked for in the output too. */
let login: Login;
/** A login without sms_worker. */
let noGrant: Login | undefined;
let migrated: TestDatabase;
let empty: TestDatabase;
let unreachablePort: number;

/** `url` logging in as `as` (the worker's login). */
function asRole(url: string, as: Login = login): string {
  const u = new URL(url);
  u.username = as.role;
  u.password = as.password;
  return u.toString();
}

function smppUrl(port = 2775): string {
  return `smpp://acme:${SMPP_SECRET}@127.0.0.1:${port}`;
}

/** The checks every failed start must pass. */
function assertOperatorError(r: CliResult, exitCode: number, ...patterns: RegExp[]): string {
  const all = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.code, exitCode, `exit code ${r.code} (want ${exitCode}); stderr: ${r.stderr}; stdout: ${r.stdout.slice(-2000)}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^sms-outbox worker: /);
  for (const p of patterns) assert.match(lines[0]!, p);
  assert.doesNotMatch(all, /\n\s+at .+\(.+:\d+:\d+\)|\bat async\b/, 'no stack trace');
  for (const s of [SMPP_SECRET, SMPP_ENV_SECRET, login.password]) assert.ok(!all.includes(s), `the output must not contain the password ${s}:\n${all}`);
  return lines[0]!;
}

before(async () => {
  [migrated, empty] = await Promise.all([createTestDatabase(), createTestDatabase({ migrated: false })]);
  unreachablePort = await freePort();
  login = await createLogin(serverUrl(), 'sms_worker');
});

after(async () => {
  await Promise.all([migrated?.drop(), empty?.drop()]);
  await login?.drop();
  await noGrant?.drop();
});

describe('configuration errors exit 78 naming the variable', () => {
  test('malformed SMPP_URL', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: `http://acme:${SMPP_SECRET}@127.0.0.1:2775` });
    assertOperatorError(r, 78, /SMPP_URL: expected smpp:\/\/system_id:password@host:port/, /the scheme is "http"/, /got "http:\/\/acme:\*\*\*@127\.0\.0\.1:2775\/?"/);
  });

  test('SMPP_URL with an unescaped # in its password', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: `smpp://acme:${SMPP_SECRET}#1@127.0.0.1:2775` });
    assertOperatorError(r, 78, /SMPP_URL: .*percent-encode special characters in the password/);
  });

  test('DATABASE_URL in libpq keyword=value form: refused, the password never echoed', async () => {
    const r = await runCli({ DATABASE_URL: `host=127.0.0.1 port=5432 dbname=app user=${login.role} password=${login.password}`, SMPP_URL: smppUrl() });
    assertOperatorError(r, 78, /DATABASE_URL: expected postgres:\/\/user:password@host:port\/database; this is the keyword=value form/, /password=\*\*\*/);
  });

  test('SMPP_URL missing entirely', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url) });
    assertOperatorError(r, 78, /SMPP_URL: required, expected smpp:\/\/system_id:password@host:port/);
  });

  test('SMPP_URL without a password, and none in SMPP_PASSWORD', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: 'smpp://acme@127.0.0.1:2775' });
    assertOperatorError(r, 78, /SMPP_URL: .*no password: put it in the URL or in SMPP_PASSWORD/);
  });

  test('a bad SMPP_URL does not leak SMPP_PASSWORD', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: 'smpp://127.0.0.1:2775', SMPP_PASSWORD: SMPP_ENV_SECRET });
    assertOperatorError(r, 78, /SMPP_URL: .*the system_id \(user name\) is missing/);
  });

  test('DATABASE_URL missing', async () => {
    const r = await runCli({ SMPP_URL: smppUrl() });
    assertOperatorError(r, 78, /DATABASE_URL: required, expected postgres:\/\/user:password@host:port\/database/);
  });

  test('non-numeric SMPP_WINDOW', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: smppUrl(), SMPP_WINDOW: 'ten' });
    assertOperatorError(r, 78, /SMPP_WINDOW: expected an integer from 1 to 1000 .*got "ten"/);
  });

  test('SMPP_TPS below zero', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: smppUrl(), SMPP_TPS: '-5' });
    assertOperatorError(r, 78, /SMPP_TPS: expected a number of submit_sm per second, 0 \(unlimited\) or more, got "-5"/);
  });

  test('unknown SMPP_BIND_MODE', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: smppUrl(), SMPP_BIND_MODE: 'trx' });
    assertOperatorError(r, 78, /SMPP_BIND_MODE: expected transceiver \(the default\) or transmitter, got "trx"/);
  });

  test('SMPP_ENQUIRE_LINK_S beyond the carrier’s 15-minute cut-off', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: smppUrl(), SMPP_ENQUIRE_LINK_S: '900' });
    assertOperatorError(r, 78, /SMPP_ENQUIRE_LINK_S: .*15 minutes/);
  });

  test('several mistakes at once are all listed, one line each', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: smppUrl(), SMPP_WINDOW: 'x', SMPP_TPS: '-1', LOG_LEVEL: 'loud' });
    assert.equal(r.code, 78);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines[0], 'sms-outbox worker: invalid configuration:');
    assert.deepEqual(lines.slice(1).map((l) => l.trim().split(':')[0]).sort(), ['LOG_LEVEL', 'SMPP_TPS', 'SMPP_WINDOW']);
  });
});

describe('database problems name DATABASE_URL', () => {
  test('unreachable database: exit 69 (worth restarting later)', async () => {
    const url = `postgres://${login.role}:${login.password}@127.0.0.1:${unreachablePort}/app`;
    const r = await runCli({ DATABASE_URL: url, SMPP_URL: smppUrl() });
    assertOperatorError(r, 69, new RegExp(`DATABASE_URL \\(database "app" on 127\\.0\\.0\\.1:\\d+ as "${login.role}"\\): cannot connect: .*ECONNREFUSED.*is Postgres running`));
  });

  test('a database that does not exist: exit 78', async () => {
    const url = new URL(asRole(migrated.url));
    url.pathname = '/sms_ops_no_such_database';
    const r = await runCli({ DATABASE_URL: url.toString(), SMPP_URL: smppUrl() });
    assertOperatorError(r, 78, /DATABASE_URL \(database "sms_ops_no_such_database" .*\): .*does not exist/);
  });

  test('missing migrations: tells the operator to run `sms-outbox migrate`', async () => {
    const r = await runCli({ DATABASE_URL: asRole(empty.url), SMPP_URL: smppUrl() });
    assertOperatorError(r, 78, /DATABASE_URL \(database "sms_t_\w+" .*\): the sms-outbox schema is not installed in this database: run `sms-outbox migrate`/);
  });

  test('a schema behind the code: tells the operator to run `sms-outbox migrate`', async () => {
    const tdb = await createTestDatabase();
    try {
      await tdb.pool.query('delete from sms_schema_migrations where version = (select max(version) from sms_schema_migrations)');
      const r = await runCli({ DATABASE_URL: asRole(tdb.url), SMPP_URL: smppUrl() });
      assertOperatorError(r, 78, /DATABASE_URL .*: the database schema is at migration \d+ but this sms-outbox needs \d+: run `sms-outbox migrate`/);
    } finally {
      await tdb.drop();
    }
  });

  test('a schema newer than the code: says so', async () => {
    const tdb = await createTestDatabase();
    try {
      await tdb.pool.query(`insert into sms_schema_migrations (version, name, checksum) values (9999, '9999_from_the_future.sql', 'x')`);
      const r = await runCli({ DATABASE_URL: asRole(tdb.url), SMPP_URL: smppUrl() });
      assertOperatorError(r, 78, /DATABASE_URL .*: the database schema is at migration 9999, newer than this sms-outbox \(\d+\): deploy the newer sms-outbox/);
    } finally {
      await tdb.drop();
    }
  });

  test('a login role without sms_worker: says which grant is missing', async () => {
    noGrant = await createLogin(serverUrl(), []);
    const r = await runCli({ DATABASE_URL: asRole(migrated.url, noGrant), SMPP_URL: smppUrl() });
    assertOperatorError(r, 78, /DATABASE_URL .*: permission denied .*grant sms_worker to <login role>/);
  });
});

describe('other start-up mistakes', () => {
  let squatter: Server;
  let takenPort: number;
  before(async () => {
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '0.0.0.0', r));
    takenPort = (squatter.address() as { port: number }).port;
  });
  after(() => new Promise<void>((r) => squatter.close(() => r())));

  test('METRICS_PORT already in use: exit 78 naming it, before the session starts', async () => {
    const r = await runCli({ DATABASE_URL: asRole(migrated.url), SMPP_URL: smppUrl(await freePort()), METRICS_PORT: String(takenPort), LOG_LEVEL: 'warn' });
    assertOperatorError(r, 78, new RegExp(`METRICS_PORT: cannot listen on 0\\.0\\.0\\.0:${takenPort}: the port is already in use \\(EADDRINUSE\\)`));
  });

  test('a bad option is a usage error (64), not a crash', async () => {
    const r = await runCli({}, ['worker', '--window', '5']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /^sms-outbox worker: Unknown option '--window'/);
    assert.match(r.stderr, /Usage: sms-outbox worker/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('a misspelt variable is warned about in the log, and the worker still starts', async () => {
    // It starts far enough to reach the database check (unreachable here, so it exits 69).
    const r = await runCli({
      DATABASE_URL: `postgres://${login.role}:${login.password}@127.0.0.1:${unreachablePort}/app`,
      SMPP_URL: smppUrl(),
      SMPP_WINDOWS: '50',
    });
    assert.equal(r.code, 69);
    const warning = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .find((l) => l.level === 40);
    assert.equal(warning?.msg, 'SMPP_WINDOWS is set but not read by sms-outbox; did you mean SMPP_WINDOW?');
  });
});
