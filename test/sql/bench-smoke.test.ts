/**
 * The enqueue benchmark (npm run bench:enqueue) is not a test, but it must keep working: a tiny
 * run here checks it measures both sides, reports sanely and cleans up its scratch database.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { benchEnqueue, formatEnqueueBench } from '../../src/bench/enqueue.js';
import { serverUrl } from '../support/db.js';

test('a short run measures plain INSERT, sms_send, marketing sms_send and the app\'s INSERT INTO sms_outbox, and drops its scratch database', async () => {
  const lines: string[] = [];
  const result = await benchEnqueue({
    url: serverUrl(),
    connections: 4,
    durationMs: 400,
    warmupMs: 100,
    rounds: 2,
    armedMs: 200,
    log: (m) => lines.push(m),
  });
  for (const mode of [result.plain, result.send, result.sendArmed!, result.marketing!, result.insert!]) {
    assert.ok(mode.calls > 0);
    assert.ok(mode.perSecond > 0);
    assert.ok(mode.latencyMs.p50 > 0 && mode.latencyMs.p50 <= mode.latencyMs.p99 && mode.latencyMs.p99 <= mode.latencyMs.max);
  }
  assert.equal(result.connections, 4);
  assert.ok(result.ratio > 0 && result.ratio < 10);
  assert.ok(result.marketingRatio! > 0 && result.marketingRatio! < 10);
  assert.ok(result.insertRatio! > 0 && result.insertRatio! < 10);
  assert.match(formatEnqueueBench(result), /INSERT INTO sms_outbox \/ plain INSERT = \d+\.\d%, \/ sms_send = \d+\.\d%/);
  assert.match(formatEnqueueBench(result), /sms_send \/ plain INSERT = \d+\.\d% \(goal: at least 70%\)/);
  assert.match(formatEnqueueBench(result), /sms_send marketing \/ plain INSERT = \d+\.\d% \(goal: at least 70%\)/);
  assert.ok(lines.some((l) => l.startsWith('scratch database sms_bench_')));
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    const scratch = /scratch database (sms_bench_\w+)/.exec(lines.join('\n'))![1];
    const r = await admin.query('select 1 from pg_database where datname = $1', [scratch]);
    assert.equal(r.rowCount, 0, 'the scratch database is dropped');
  } finally {
    await admin.end();
  }
});
