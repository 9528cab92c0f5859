/**
 * `sms-outbox migrate` as an operator runs it (the real CLI on a fresh database): it says what it
 * applied, prints the settings in force with where each comes from, and warns, naming
 * SMS_DEFAULT_SENDER, while no default sender is set (sms_send without a sender would fail).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { runCli } from './helpers.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase({ migrated: false });
});

after(async () => {
  await tdb?.drop();
});

const settingLine = (stdout: string, name: string) => new RegExp(`^  ${name} +(.+?)  +(.+)$`, 'm').exec(stdout)?.slice(1, 3);

test('a first migrate without SMS_DEFAULT_SENDER applies everything, shows the settings and warns', async () => {
  const r = await runCli({ DATABASE_URL: tdb.url }, ['migrate'], 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^migrated postgres:\/\/.+: \d+ applied, 0 already applied; \d+ files of sql\/ \(functions, views\) applied; Graphile Worker schema up to date; roles sms_sender, sms_reader, sms_worker$/m);
  assert.match(r.stdout, /^settings in force \(sms_settings\):$/m);
  assert.deepEqual(settingLine(r.stdout, 'default_sender'), ['(none)', 'SMS_DEFAULT_SENDER not set: kept']);
  assert.deepEqual(settingLine(r.stdout, 'default_validity'), ['24:00:00', 'SMS_DEFAULT_VALIDITY not set: kept']);
  assert.deepEqual(settingLine(r.stdout, 'max_segments'), ['10', 'SMS_MAX_SEGMENTS not set: kept']);
  assert.deepEqual(settingLine(r.stdout, 'max_attempts'), ['8', 'change with: update sms_settings set max_attempts = ...']);
  // A plain UPDATE would not make the grants this one stands for.
  assert.deepEqual(settingLine(r.stdout, 'service_role_reads_tables'), ['false', 'change with: select sms_allow_service_role_read(true | false)']);
  assert.equal(
    r.stderr.trim(),
    'sms-outbox migrate: warning: no default sender is set, so sms_send() without a sender fails (22004 "no default sender is configured"). ' +
      'Set SMS_DEFAULT_SENDER to the sender name registered with your carrier (e.g. SMS_DEFAULT_SENDER=MyBrand) and run migrate again, ' +
      "or: update sms_settings set default_sender = 'MyBrand';",
  );
  // What the warning is about.
  await assert.rejects(tdb.pool.query(`select sms_send('+79991234567', 'no sender')`), { code: '22004' });
});

test('SMS_DEFAULT_SENDER is written and shown; the warning goes; a later run keeps it', async () => {
  const r = await runCli({ DATABASE_URL: tdb.url, SMS_DEFAULT_SENDER: 'MyBrand', SMS_DEFAULT_VALIDITY: '12 hours' }, ['migrate'], 120_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: 0 applied, \d+ already applied;/);
  assert.deepEqual(settingLine(r.stdout, 'default_sender'), ['MyBrand', 'set now from SMS_DEFAULT_SENDER']);
  assert.deepEqual(settingLine(r.stdout, 'default_validity'), ['12:00:00', 'set now from SMS_DEFAULT_VALIDITY']);
  assert.equal(r.stderr, '');
  const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+79991234567', 'with the default sender') as id`);
  const sent = await tdb.pool.query('select sender from sms_status($1)', [rows[0]!.id]);
  assert.equal(sent.rows[0].sender, 'MyBrand');

  const again = await runCli({ DATABASE_URL: tdb.url }, ['migrate'], 120_000);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(settingLine(again.stdout, 'default_sender'), ['MyBrand', 'SMS_DEFAULT_SENDER not set: kept']);
  assert.equal(again.stderr, '');
});

test('a default sender sms_send would refuse is one line naming SMS_DEFAULT_SENDER (exit 78), nothing written', async () => {
  const r = await runCli({ DATABASE_URL: tdb.url, SMS_DEFAULT_SENDER: 'Магазин' }, ['migrate'], 120_000);
  assert.equal(r.code, 78);
  assert.match(
    r.stderr.trim(),
    /^sms-outbox migrate: SMS_DEFAULT_SENDER: sms_settings refused it: default_sender 'Магазин' contains 'М' \(U\+041C\), which an alphanumeric sender cannot carry: .+; nothing was written to sms_settings$/,
  );
  const { rows } = await tdb.pool.query('select default_sender from sms_settings');
  assert.equal(rows[0].default_sender, 'MyBrand', 'the previous value is kept');
});

test('a validity Postgres cannot read, or below a minute, is named too; the sender beside it is not written', async () => {
  for (const validity of ['ten hours', '10 seconds']) {
    const r = await runCli({ DATABASE_URL: tdb.url, SMS_DEFAULT_SENDER: 'OtherBrand', SMS_DEFAULT_VALIDITY: validity }, ['migrate'], 120_000);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr.trim(), /^sms-outbox migrate: SMS_DEFAULT_VALIDITY: sms_settings refused it: .+; nothing was written to sms_settings$/);
  }
  const { rows } = await tdb.pool.query('select default_sender, default_validity::text as v from sms_settings');
  assert.deepEqual(rows[0], { default_sender: 'MyBrand', v: '12:00:00' });
});
