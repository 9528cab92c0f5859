/**
 * `sms-outbox bench` and `sms-outbox bench --soak` are benchmarks, not tests, but they must keep
 * working: tiny runs of the real command line (a worker process, the simulator, the scratch
 * database) check that each reports what it promises and drops its scratch database.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { runCli } from '../ops/helpers.js';
import { databaseExists, serverUrl, withDatabase } from '../support/db.js';
import { waitFor } from '../support/wait.js';

test('bench: end to end, with what Postgres wrote per message', async () => {
  const run = runCli(
    { DATABASE_URL: serverUrl(), LOG_LEVEL: 'warn' },
    ['bench', '--json', '--no-baseline', '--messages', '300', '--connections', '4', '--light-rate', '20', '--light-seconds', '1', '--receipt-delay-ms', '10'],
    180_000,
  );
  // Two checkpoints while the full load runs, each after a switch to a new WAL segment, as a busy
  // server makes them: they remove the segment the stretch began in unless the bench holds its
  // WAL (a temporary replication slot named after its pid, like its scratch database).
  // This run's, by its pid: another suite's bench on the same server is not.
  const pid = run.pid;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await waitFor(
      'the bench holding its WAL and enqueuing',
      async () => {
        const slots = await admin.query(`select 1 from pg_replication_slots where slot_name like $1`, [`sms_bench_${pid}_%`]);
        if (!slots.rowCount) return false;
        const scratch = new pg.Client({ connectionString: withDatabase(serverUrl(), `sms_bench_e2e_${pid}`) });
        try {
          await scratch.connect();
          return (await scratch.query('select 1 from sms_outbox limit 1')).rowCount === 1;
        } catch {
          return false; // not migrated yet
        } finally {
          await scratch.end().catch(() => {});
        }
      },
      { timeoutMs: 120_000 },
    );
    for (let i = 0; i < 2; i++) {
      await admin.query('select pg_switch_wal()');
      await admin.query('checkpoint');
    }
  } finally {
    await admin.end();
  }
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, any>;
  assert.equal(out.messages, 300);
  assert.equal(out.duplicates, 0);
  assert.ok(out.endToEndPerSecond > 0);
  assert.equal(out.fullLoadCommitToSubmitMs.samples, 300);
  assert.equal(out.light.commitToSubmitMs.samples, 20);
  const cost = out.fullLoadCost;
  // Every message is inserted once and updated twice (sent, delivered): the claim is a lease in
  // an unlogged table (migration 0034), not a row version. A single-part message writes no part
  // row, and its receipt no receipt row unless it overtakes the submit result (then it is kept in
  // sms_receipt until that is written).
  assert.equal(cost.tables.sms_outbox.inserts, 1);
  assert.ok(cost.tables.sms_outbox.updates >= 2 && cost.tables.sms_outbox.updates < 2.2, JSON.stringify(cost.tables.sms_outbox));
  assert.equal(cost.tables.sms_outbox_part.inserts, 0);
  assert.ok(cost.walBytesPerMessage > 0);
  assert.ok(cost.rowVersionsPerMessage >= 3, String(cost.rowVersionsPerMessage));
  assert.ok('available' in cost.statements);
  // The same WAL by record type (pg_walinspect, in PostgreSQL 15's contrib; the test servers are
  // superusers'), read although two checkpoints ran since the stretch began: every enqueue
  // commits, every message's row is inserted and updated twice (in batches), each claim writes a
  // row lock; the types add up to less than the WAL counted, which also spans each record's
  // alignment, the page headers and what the two switches left unused of their segments.
  assert.equal(cost.walRecords.available, true, cost.walRecords.reason);
  const rec = (type: string) => cost.walRecords.records.find((r: { type: string }) => r.type === type) ?? { count: 0, bytes: 0 };
  assert.ok(rec('Transaction/COMMIT').count >= 1, JSON.stringify(cost.walRecords.records));
  assert.ok(rec('Heap/INSERT').count + rec('Heap/INSERT+INIT').count >= 1, JSON.stringify(cost.walRecords.records));
  assert.ok(rec('Heap/UPDATE').count + rec('Heap/UPDATE+INIT').count + rec('Heap/HOT_UPDATE').count >= 2, JSON.stringify(cost.walRecords.records));
  assert.ok(rec('Heap/LOCK').count >= 1, JSON.stringify(cost.walRecords.records));
  const summed = cost.walRecords.records.reduce((sum: number, r: { bytes: number }) => sum + r.bytes, 0);
  assert.ok(summed > 0 && summed <= cost.walBytesPerMessage, `${summed} of ${cost.walBytesPerMessage}`);
  assert.ok(rec('XLOG/SWITCH').count > 0, 'the switches are among the records');
  assert.ok(out.cpuMsPerMessage.worker > 0);
  assert.equal(out.scratchDatabase, `sms_bench_e2e_${pid}`);
  assert.equal(await databaseExists(out.scratchDatabase), false, 'the scratch database is dropped');
  const check = new pg.Client({ connectionString: serverUrl() });
  await check.connect();
  try {
    const left = await check.query(`select slot_name from pg_replication_slots where slot_name like $1`, [`sms_bench_${pid}_%`]);
    assert.deepEqual(left.rows, [], 'the WAL is no longer held');
  } finally {
    await check.end();
  }
});

test('bench at a round trip: several workers, and the share of window x workers / round trip reached', async () => {
  const r = await runCli(
    { DATABASE_URL: serverUrl(), LOG_LEVEL: 'warn' },
    ['bench', '--json', '--no-baseline', '--messages', '200', '--connections', '4', '--light-rate', '10', '--light-seconds', '1',
      '--window', '5', '--workers', '2', '--response-delay-ms', '20', '--receipt-delay-ms', '10', '--cyrillic'],
    180_000,
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, any>;
  assert.equal(out.workers, 2);
  assert.equal(out.responseDelayMs, 20);
  assert.equal(out.idealPerSecond, 500, '5 x 2 workers / 20 ms');
  // Nothing goes faster than its windows allow (a little slack for the timers' rounding).
  assert.ok(out.shareOfIdeal > 0 && out.shareOfIdeal <= 1.05, JSON.stringify(out.shareOfIdeal));
  assert.equal(out.duplicates, 0);
  assert.ok(out.cpuMsPerMessage.worker > 0);
  assert.equal(await databaseExists(out.scratchDatabase), false, 'the scratch database is dropped');
});

test('bench --soak: slices, sizes and housekeeping', async () => {
  const r = await runCli(
    { DATABASE_URL: serverUrl(), LOG_LEVEL: 'warn' },
    ['bench', '--soak', '--json', '--messages', '2000', '--connections', '4', '--backlog', '500', '--task-interval-ms', '300', '--retention-s', '0.2', '--redact-after-s', '0.1', '--receipt-delay-ms', '10'],
    180_000,
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, any>;
  assert.equal(out.messages, 2000);
  assert.equal(out.slices.length, 10);
  for (const s of out.slices) {
    assert.ok(s.perSecond > 0 && s.outboxHeapBytes > 0 && s.outboxIndexBytes > 0, JSON.stringify(s));
    assert.ok(s.autovacuums >= 0 && s.outboxDead >= 0);
  }
  assert.ok(out.lastOverFirst > 0);
  assert.equal(out.duplicates, 0);
  assert.equal(out.tasks.failures, 0);
  assert.ok(out.tasks.purged > 0, 'the purge ran and deleted finished messages');
  assert.ok(out.tasks.redacted > 0, 'the redaction ran');
  assert.ok(out.tasks.runs >= 4);
  assert.match(out.scratchDatabase, /^sms_bench_soak_\d+$/);
  assert.equal(await databaseExists(out.scratchDatabase), false, 'the scratch database is dropped');
});

test('bench --inbound: incoming SMS stored per second, with no rule, one handler, 100 rules', async () => {
  const r = await runCli({ DATABASE_URL: serverUrl(), LOG_LEVEL: 'warn' }, ['bench', '--inbound', '--json', '--messages', '60', '--rounds', '1'], 180_000);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, any>;
  assert.deepEqual(
    out.runs.map((x: Record<string, any>) => [x.rules, x.messages, x.handled, x.failed, x.rounds.length]),
    [
      [0, 60, 0, 0, 1],
      [1, 60, 60, 0, 1],
      [100, 60, 60, 0, 1],
    ],
  );
  for (const x of out.runs) assert.ok(x.perSecond > 0, JSON.stringify(x));
  assert.equal(typeof out.ruleMatchingCost, 'number');
  assert.match(out.scratchDatabase, /^sms_bench_inbound_\d+$/);
  assert.equal(await databaseExists(out.scratchDatabase), false, 'the scratch database is dropped');
});
