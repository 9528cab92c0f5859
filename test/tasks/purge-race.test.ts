/**
 * The purge and a receipt re-match racing over one message, as the worker runs them: each on a
 * connection of its own logged in with nothing but the worker role. The purge's DELETE of a
 * finished message is in flight (its transaction open) while the reconcile task matches a stored
 * receipt to that message; the purge then commits. The tiny soak (`bench --soak`, housekeeping
 * every 300 ms, retention 0.2 s) met this a few times in twenty runs under CPU load: the
 * reconcile failed on sms_receipt's foreign key, and in the worker the same re-match failed a
 * whole flush of submit results, which was then written again (and reported as fenced). With
 * that fixed, twenty more runs met the purge deadlocking with a re-match twice: the purge now
 * skips the rows another transaction holds.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { createDb, createPool } from '../../src/db/pool.js';
import { purgeFinished } from '../../src/db/outbox.js';
import { rematchReceipts } from '../../src/db/inbound-writes.js';
import { receiptsById } from '../../src/db/receipts.js';
import { reconcile } from '../../src/tasks/reconcile.js';
import { purgeExpiredRows } from '../../src/tasks/purge.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/db.js';
import { insertMessage, insertReceipt } from '../support/rows.js';
import { TestRoles } from '../sql/helpers.js';
import { logger as silent } from '../smpp/helpers.js';
import { waitFor } from '../ops/helpers.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
let workerLogin: string;
const pools: ReturnType<typeof createPool>[] = [];

/** A database handle logged in as the worker login, its connections named `name`. */
function asWorker(name: string): Kysely<Database> {
  const u = new URL(tdb.url);
  u.username = workerLogin;
  u.password = password;
  const pool = createPool(u.toString(), { max: 2, applicationName: name });
  pools.push(pool);
  return createDb(pool);
}

before(async () => {
  tdb = await createTestDatabase();
  workerLogin = await roles.create({ memberOf: ['sms_worker'], login: password });
});

after(async () => {
  for (const p of pools) await p.end().catch(() => {});
  await tdb?.drop();
  await roles.dropAll();
});

/** Waits until the connections named `name` wait for a lock (the other side holds it). */
async function blockedOnLock(name: string): Promise<void> {
  await waitFor(`${name} waiting for a lock`, async () => {
    const { rows } = await tdb.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
      [name],
    );
    return rows[0]!.n > 0;
  });
}

/**
 * Runs the purge (retention 1 s) in a transaction held open after its DELETE until `release` is
 * called; resolves with how many messages it purged once committed.
 */
function heldPurge(db: Kysely<Database>): { deleted: Promise<number>; release: () => void; committed: Promise<number> } {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let deleted!: (n: number) => void;
  const deletedPromise = new Promise<number>((r) => (deleted = r));
  const committed = db.transaction().execute(async (tx) => {
    const n = await purgeFinished(tx, 1 / 86_400);
    deleted(n);
    await held;
    return n;
  });
  return { deleted: deletedPromise, release, committed };
}

for (const status of ['sent', 'delivered'] as const) {
  test(`the reconcile matches a stored receipt while the purge deletes its ${status} message: both finish, nothing points at the deleted message`, async () => {
    const smscId = (0x5c000000 + Math.floor(Math.random() * 0xffff)).toString(16).toUpperCase();
    const id = await insertMessage(tdb.pool, { label: `purged ${status}`, status, created: '-3 days', submitted: '-2 days', messageIds: [smscId] });
    // A receipt stored before its message was known (or a repeat of one): waiting to be matched.
    const receipt = await insertReceipt(tdb.pool, { rawId: smscId, state: 'DELIVRD', received: '-1 second' });

    const purge = heldPurge(asWorker(`purge ${status}`));
    assert.equal(await purge.deleted, 1, 'the purge deleted the message (not yet committed)');
    const reconciling = reconcile({ db: asWorker(`reconcile ${status}`), logger: silent });
    // The reconcile saw the message in its snapshot and now waits for the purge's lock on it.
    await blockedOnLock(`reconcile ${status}`);
    purge.release();
    assert.equal(await purge.committed, 1);

    const result = await reconciling;
    assert.equal(result.matched, 0, 'a purged message matches nothing');
    const left = await tdb.pool.query('select id from sms_outbox where id = $1', [id]);
    assert.equal(left.rowCount, 0);
    // The receipt stays as it was: unmatched, pointing at nothing (the receipts' own retention purges it).
    const r = await tdb.pool.query<{ outbox_id: string | null; matched_at: Date | null }>('select outbox_id, matched_at from sms_receipt where id = $1', [receipt]);
    assert.deepEqual(r.rows, [{ outbox_id: null, matched_at: null }]);
  });
}

test('the store\'s re-match (rematchReceipts) against the same purge: finishes, matching nothing', async () => {
  const smscId = (0x5d000000 + Math.floor(Math.random() * 0xffff)).toString(16).toUpperCase();
  await insertMessage(tdb.pool, { label: 'purged for the store', status: 'delivered', created: '-3 days', submitted: '-2 days', messageIds: [smscId] });
  const receipt = await insertReceipt(tdb.pool, { rawId: smscId, state: 'DELIVRD', received: '-1 second' });
  const store = asWorker('store rematch');
  const waiting = await receiptsById(store, [receipt]);
  assert.equal(waiting.length, 1);

  const purge = heldPurge(asWorker('purge for the store'));
  assert.equal(await purge.deleted, 1);
  const matching = rematchReceipts(store, waiting);
  await blockedOnLock('store rematch');
  purge.release();
  await purge.committed;
  assert.deepEqual(await matching, []);
});

test('the purge skips a finished message and a receipt another transaction holds, and takes them on its next run', async () => {
  const smscId = (0x5e000000 + Math.floor(Math.random() * 0xffff)).toString(16).toUpperCase();
  const id = await insertMessage(tdb.pool, { label: 'held', status: 'delivered', created: '-3 days', submitted: '-2 days', messageIds: [smscId] });
  const receipt = await insertReceipt(tdb.pool, { rawId: `${smscId}0`, state: 'DELIVRD', received: '-2 days' });
  // A writer holds both (a receipt being applied, a re-match marking receipts), as the worker role.
  const holder = asWorker('holder');
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let holding!: () => void;
  const held = new Promise<void>((r) => (holding = r));
  const writer = holder.transaction().execute(async (tx) => {
    await tx.updateTable('sms_outbox').set({ updated_at: new Date() }).where('id', '=', id).execute();
    await tx.updateTable('sms_receipt').set({ state: 'DELIVRD' }).where('id', '=', receipt).execute();
    holding();
    await released;
  });
  await held;
  // The purge as the worker runs it; it must not wait for them (a wait is where a deadlock starts).
  const u = new URL(tdb.url);
  u.username = workerLogin;
  u.password = password;
  const strict = testPool({ connectionString: u.toString(), max: 2, options: '-c lock_timeout=3000' });
  pools.push(strict);
  const purger = new Kysely<Database>({ dialect: new PostgresDialect({ pool: strict }) });
  const config = { retentionDays: 1, inboxRetentionDays: 1, unmatchedReceiptRetentionDays: 1 };
  const first = await purgeExpiredRows({ db: purger, logger: silent, config });
  assert.equal((await tdb.pool.query('select 1 from sms_outbox where id = $1', [id])).rowCount, 1, 'the held message is left');
  assert.equal((await tdb.pool.query('select 1 from sms_receipt where id = $1', [receipt])).rowCount, 1, 'the held receipt is left');
  release();
  await writer;
  const second = await purgeExpiredRows({ db: purger, logger: silent, config });
  assert.equal(first.outbox + second.outbox >= 1, true);
  assert.equal((await tdb.pool.query('select 1 from sms_outbox where id = $1', [id])).rowCount, 0, 'taken on the next run');
  assert.equal((await tdb.pool.query('select 1 from sms_receipt where id = $1', [receipt])).rowCount, 0);
});
