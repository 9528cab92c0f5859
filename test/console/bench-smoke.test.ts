/**
 * The console benchmark (npm run bench:console) is not a test, but it must keep working: a tiny
 * run here times every page, explains every list query with an index (none reads the table
 * whole), and drops its scratch database and login.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { benchConsole, formatConsoleBench } from '../../src/bench/console.js';
import { serverUrl } from '../support/db.js';

test('a short run times the pages, explains the list queries, and cleans up', async () => {
  const lines: string[] = [];
  const result = await benchConsole({ url: serverUrl(), rows: 5000, repeats: 2, log: (m) => lines.push(m) });
  assert.equal(result.pages.length, 13);
  for (const p of result.pages) assert.ok(p.medianMs > 0 && p.medianMs <= p.p95Ms && p.p95Ms <= p.maxMs, `${p.name}: ${JSON.stringify(p)}`);
  assert.equal(result.pages.find((p) => p.name === 'first page')!.rowsShown, 50);
  for (const p of result.plans) {
    assert.ok(p.indexes.length > 0, `${p.name} reads an index:\n${p.plan}`);
    assert.doesNotMatch(p.plan, /Seq Scan on sms_outbox/, p.name);
  }
  assert.match(result.plans.find((p) => p.name === 'recipient')!.indexes.join(), /sms_outbox_recipient_idx/);
  assert.match(formatConsoleBench(result), /console pages over 5,000 messages/);
  const scratch = /scratch database (sms_bench_console_\w+)/.exec(lines.join('\n'))![1];
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    assert.equal((await admin.query('select 1 from pg_database where datname = $1', [scratch])).rowCount, 0, 'the scratch database is dropped');
    assert.equal((await admin.query(`select 1 from pg_roles where rolname like 'sms_bench_console_reader_%'`)).rowCount, 0, 'the login is dropped');
  } finally {
    await admin.end();
  }
});
