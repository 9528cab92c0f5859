/**
 * The worker's state changes (claim, mark_sent, mark_unsent, release_unsent, apply_receipts,
 * reclaim_expired_leases, expire_overdue) are planned on every call (force_custom_plan), so a JIT
 * compilation would be paid on every call too: on a large sms_outbox whose statistics are stale
 * (autovacuum off, or the table grown since its last ANALYZE) the planner's estimates pass
 * jit_above_cost and apply_receipts took over a second a batch, all of it compiling
 * (docs/performance.md, "JIT"). Each runs with jit = off.
 *
 * Shown the way it would go wrong: one session with every JIT threshold at 0 and auto_explain
 * printing each plan, its nested statements included, as a NOTICE. A plain query in that session
 * is compiled (the plan says "JIT:"); no statement inside the worker's functions is. Needs a server
 * built with JIT (the machine's Postgres; the embedded one has none) and auto_explain.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { createDb, createPool } from '../../src/db/pool.js';
import {
  claimDue,
  expireOverdue,
  markSent,
  markUnsent,
  reclaimExpiredLeases,
  releaseUnsent,
} from '../../src/db/outbox.js';
import { applyReceipts } from '../../src/db/receipts.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { PLANNED_PER_CALL } from './helpers.js';

let tdb: TestDatabase;
let jit = false;
before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Jit'`);
  jit = (await tdb.pool.query<{ on: boolean }>('select pg_jit_available() as on')).rows[0]!.on;
});
after(() => tdb.drop());

/** Each plan auto_explain printed: the statement's text and whether it was JIT-compiled. */
interface Plan {
  text: string;
  compiled: boolean;
}

function parsePlan(message: string): Plan | null {
  const at = message.indexOf('Query Text: ');
  if (at < 0) return null;
  // The statement's text (it may span lines, and start with one), then its plan.
  return { text: message.slice(at + 'Query Text: '.length).trimStart(), compiled: /\nJIT:/.test(message) };
}

// The statements src/db sends: their own plans are the caller's (a function scan, compiled here
// only because every threshold is 0); what runs inside the functions is what this test is about.
const calls = new RegExp(`^select .*\\bsms_private\\.(${PLANNED_PER_CALL.join('|')})\\(`, 's');

test('no statement inside the worker\'s functions is JIT-compiled, where a plain query of the same session is', async (t) => {
  if (!jit) {
    t.skip('this server has no JIT (pg_jit_available() is false): nothing to compile');
    return;
  }
  const plans: Plan[] = [];
  const pool = createPool(tdb.url, { max: 1, applicationName: 'jit test' });
  pool.on('connect', (client: pg.PoolClient) => {
    client.on('notice', (n) => {
      const plan = parsePlan(n.message ?? '');
      if (plan) plans.push(plan);
    });
  });
  const db = createDb(pool);
  try {
    await pool.query(`
      load 'auto_explain';
      set auto_explain.log_min_duration = 0;
      set auto_explain.log_nested_statements = on;
      set auto_explain.log_level = notice;
      set jit = on;
      set jit_above_cost = 0;
      set jit_inline_above_cost = 0;
      set jit_optimize_above_cost = 0`);

    await pool.query('select count(*) from sms_outbox');
    const control = plans.find((p) => p.text.startsWith('select count(*) from sms_outbox'));
    assert.ok(control, 'auto_explain printed the plain query');
    assert.equal(control.compiled, true, 'a plain query of this session is JIT-compiled');
    plans.length = 0;

    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await tdb.pool.query<{ id: string }>(`select sms_send('+7999000000${i}', 'jit ${i}') as id`)).rows[0]!.id);
    }
    // One past its expiry, for the sweep (sms_send refuses an expiry already past: set it after).
    const late = (await tdb.pool.query<{ id: string }>(`select sms_send('+79990000009', 'past its expiry') as id`)).rows[0]!.id;
    await tdb.pool.query(`update sms_outbox set expires_at = now() - interval '1 second' where id = $1`, [late]);
    assert.equal(await expireOverdue(db), 1);

    const claimed = (await claimDue(db, 'jit-worker', 10, 60)).messages;
    assert.deepEqual(claimed.map((m) => m.id).sort(), [...ids].sort());
    const [a, b, c, d] = ids.map((id) => claimed.find((m) => m.id === id)!);
    const sent = await markSent(db, 'jit-worker', [{ id: a!.id, attempts: a!.attempts, messageIds: ['JIT1'], normalizedIds: ['jit1'] }], ['jit1', 'JIT1']);
    assert.deepEqual([...sent.sent], [a!.id]);
    const matches = await applyReceipts(db, [{ candidates: ['jit1'], state: 'DELIVRD', error: '000' }]);
    assert.equal(matches[0]?.finalStatus, 'delivered');
    const unsent = await markUnsent(db, 'jit-worker', [
      { id: b!.id, attempts: b!.attempts, permanent: false, errorCode: '0x00000058', errorMessage: 'throttled', delayMs: 0 },
    ]);
    assert.equal(unsent.statuses.get(b!.id), 'queued');
    assert.equal(await releaseUnsent(db, 'jit-worker', [{ id: c!.id, attempts: c!.attempts }]), 1);
    await tdb.pool.query(`update sms_private.outbox_lease set lease_until = now() - interval '1 second' where outbox_id = $1`, [d!.id]);
    assert.deepEqual(await reclaimExpiredLeases(db), { requeued: 1, failed: 0 });

    const inside = plans.filter((p) => !calls.test(p.text));
    const called = new Set(plans.map((p) => calls.exec(p.text)?.[1]).filter(Boolean));
    assert.deepEqual([...called].sort(), [...PLANNED_PER_CALL].sort());
    // The functions' own statements were seen (the CTEs that write sms_outbox among them)...
    assert.ok(inside.length >= 7, `auto_explain printed the statements inside the functions (${inside.length})`);
    assert.ok(inside.some((p) => /update public\.sms_outbox/.test(p.text)));
    // ...and none was compiled.
    assert.deepEqual(inside.filter((p) => p.compiled).map((p) => p.text.slice(0, 120)), []);
  } finally {
    await db.destroy();
  }
});
