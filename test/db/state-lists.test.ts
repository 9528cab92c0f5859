/**
 * The lists TypeScript keeps of what the SQL state machine decides are the database's own: the
 * statuses (src/db/schema.ts) against sms_outbox's constraints, the receipt states that end a
 * part (src/smpp/receipt-state.ts) against sms_private.final_receipt_states(), the Auth hook's
 * refusal reasons (src/worker/metrics.ts) against sms_private.auth_hook_refusal_reasons(). And
 * no status change is written in src/: each is a function of sql/ (ARCHITECTURE.md).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FINAL_STATUSES, MESSAGE_STATUSES } from '../../src/db/schema.js';
import { FINAL_RECEIPT_STATES } from '../../src/smpp/receipt-state.js';
import { AUTH_HOOK_REFUSAL_REASONS } from '../../src/worker/metrics.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ROOT } from '../support/compiled.js';

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb.drop();
});

async function constraint(name: string): Promise<string> {
  const r = await tdb.pool.query<{ def: string }>(
    `select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = 'public.sms_outbox'::regclass and conname = $1`,
    [name],
  );
  assert.ok(r.rows[0], name);
  return r.rows[0].def;
}

const quoted = (def: string) => [...def.matchAll(/'([a-z]+)'::text/g)].map((m) => m[1]!);

test('MESSAGE_STATUSES are the statuses sms_outbox allows, in order', async () => {
  assert.deepEqual(quoted(await constraint('sms_outbox_status_check')), [...MESSAGE_STATUSES]);
});

test('FINAL_STATUSES are the ones with a done_at', async () => {
  const live = quoted(await constraint('sms_outbox_done_at_check'));
  assert.deepEqual([...FINAL_STATUSES], MESSAGE_STATUSES.filter((s) => !live.includes(s)));
});

test('FINAL_RECEIPT_STATES are sms_private.final_receipt_states(), and each gives a status', async () => {
  const r = await tdb.pool.query<{ states: string[]; statuses: string[] }>(
    `select sms_private.final_receipt_states() as states,
            array(select sms_private.receipt_status(s) from unnest(sms_private.final_receipt_states()) s) as statuses`,
  );
  assert.deepEqual(r.rows[0]!.states, [...FINAL_RECEIPT_STATES]);
  assert.ok(r.rows[0]!.statuses.every((s) => FINAL_STATUSES.includes(s as never)), JSON.stringify(r.rows[0]!.statuses));
  const progress = await tdb.pool.query(`select sms_private.receipt_status('ENROUTE') as s`);
  assert.equal(progress.rows[0].s, null);
});

test('AUTH_HOOK_REFUSAL_REASONS are sms_private.auth_hook_refusal_reasons()', async () => {
  const r = await tdb.pool.query<{ reasons: string[] }>('select sms_private.auth_hook_refusal_reasons() as reasons');
  assert.deepEqual(r.rows[0]!.reasons, [...AUTH_HOOK_REFUSAL_REASONS]);
});

test('src/ writes no status change of its own: no UPDATE of sms_outbox.status, no sms_status announcement', () => {
  const src = path.join(ROOT, 'src/');
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((e) => (statSync(path.join(dir, e)).isDirectory() ? files(path.join(dir, e)) : e.endsWith('.ts') ? [path.join(dir, e)] : []));
  const found = files(src).flatMap((f) => {
    const text = readFileSync(f, 'utf8');
    return [/\bset\s+status\s*=/i, /pg_notify\(\s*'sms_status'/i, /\.set\(\{[^}]*\bstatus\s*:/].filter((re) => re.test(text)).map((re) => `${path.relative(src, f)}: ${re}`);
  });
  assert.deepEqual(found, []);
});
