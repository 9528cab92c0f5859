/**
 * GroupCommit (src/worker/group-commit.ts) with real Postgres writes: each flush inserts its batch
 * into a table. A flush is made slow, or made to fail, the way production sees it: another
 * transaction holds a lock on the table (with lock_timeout set, waiting for it fails with 55P03).
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ClosedError, GroupCommit } from '../../src/worker/group-commit.js';
import { createTestDatabase, type TestDatabase, testPool } from '../support/db.js';
import { waitFor } from '../support/wait.js';

let tdb: TestDatabase;
/** Waits for locks as long as it takes. */
let patient: pg.Pool;
/** Gives up on a lock after 100 ms: a flush behind a held lock fails. */
let impatient: pg.Pool;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query('create table gc_items (v integer primary key)');
  patient = testPool({ connectionString: tdb.url, max: 2 });
  impatient = testPool({ connectionString: tdb.url, max: 2, options: '-c lock_timeout=100' });
});

beforeEach(async () => {
  await tdb.pool.query('truncate gc_items');
});

after(async () => {
  await patient?.end();
  await impatient?.end();
  await tdb?.drop();
});

/** A flush that writes its batch to gc_items through `pool`, recording each committed batch. */
function writer(pool: pg.Pool) {
  const batches: number[][] = [];
  return {
    batches,
    flush: async (items: number[]) => {
      await pool.query('insert into gc_items (v) select unnest($1::int[])', [items]);
      batches.push(items);
    },
  };
}

/** Another transaction holding a lock on gc_items that blocks inserts, until release(). */
async function holdLock(): Promise<{ release: () => Promise<void> }> {
  const client = await tdb.connect();
  await client.query('begin');
  await client.query('lock table gc_items in exclusive mode'); // blocks writes, not reads
  return {
    release: async () => {
      await client.query('commit');
      await client.end();
    },
  };
}

async function stored(): Promise<number[]> {
  const { rows } = await tdb.pool.query<{ v: number }>('select v from gc_items order by v');
  return rows.map((r) => r.v);
}

/** A flush's INSERT is waiting for the lock holdLock() took. */
function flushWaitingForLock(): Promise<true> {
  return waitFor('a flush waiting for the lock', async () => {
    const { rows } = await tdb.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'insert into gc_items%'`,
    );
    return rows[0]!.n > 0 || undefined;
  });
}

test('items added while a flush is writing go out together in the next one; each resolves once its batch committed', async () => {
  const w = writer(patient);
  const gc = new GroupCommit<number>({ flush: w.flush });
  const lock = await holdLock();
  const resolved: number[] = [];
  const adds = [1, 2, 3, 4, 5, 6].map((v) => gc.add(v).then(() => resolved.push(v)));
  await flushWaitingForLock();
  assert.deepEqual(resolved, [], 'nothing resolves before it is committed');
  assert.equal(gc.pending, 6, 'five queued and one batch being written');
  assert.deepEqual(await stored(), []);
  await lock.release();
  await Promise.all(adds);
  assert.deepEqual(w.batches, [[1], [2, 3, 4, 5, 6]]);
  assert.deepEqual(await stored(), [1, 2, 3, 4, 5, 6]);
  await gc.idle();
  assert.equal(gc.pending, 0);
});

test('a batch holds at most maxBatch items', async () => {
  const w = writer(patient);
  const gc = new GroupCommit<number>({ flush: w.flush, maxBatch: 3 });
  const lock = await holdLock();
  const adds = Array.from({ length: 8 }, (_, i) => gc.add(i + 1));
  await flushWaitingForLock();
  await lock.release();
  await Promise.all(adds);
  assert.deepEqual(w.batches, [[1], [2, 3, 4], [5, 6, 7], [8]]);
});

test('a failed flush is retried until it commits: every item resolves once and is written once', async () => {
  const w = writer(impatient);
  const errors: { code: string | undefined; attempt: number; size: number }[] = [];
  const gc = new GroupCommit<number>({
    flush: w.flush,
    retryDelayMs: () => 50,
    onFlushError: (err, attempt, size) => errors.push({ code: (err as { code?: string }).code, attempt, size }),
  });
  const lock = await holdLock();
  let resolvedTimes = 0;
  const adds = [10, 11, 12].map((v) => gc.add(v).then(() => resolvedTimes++));
  // Two failed attempts at least (a fixed 500 ms made fewer on a loaded machine: each attempt
  // waits 100 ms for the lock, then 50 ms, plus whatever the machine adds).
  await waitFor('two failed attempts', () => errors.length >= 2);
  await lock.release();
  await Promise.all(adds);
  assert.equal(resolvedTimes, 3);
  assert.deepEqual(await stored(), [10, 11, 12]);
  assert.ok(errors.length >= 2, `${errors.length} failed attempts`);
  assert.ok(errors.every((e) => e.code === '55P03'), 'lock_not_available');
  assert.deepEqual(errors.map((e) => [e.attempt, e.size]), errors.map((_, i) => [i + 1, 1]), 'the first batch, [10], retried with a growing attempt count');
  assert.deepEqual(w.batches, [[10], [11, 12]], 'each item in one committed batch');
});

test('close() with the database stuck: after the timeout, unwritten items are rejected, none half-written; later adds are refused', async () => {
  const w = writer(impatient);
  // Slow retries: the batch being written cannot use up its attempts (and take the queued items
  // as the next batch) before close() times out.
  const gc = new GroupCommit<number>({ flush: w.flush, retryDelayMs: () => 400 });
  const lock = await holdLock();
  try {
    const outcomes = [20, 21, 22].map((v) =>
      gc.add(v).then(
        () => 'written',
        (err: Error) => (err instanceof ClosedError ? 'closed' : `failed: ${(err as { code?: string }).code}`),
      ),
    );
    await flushWaitingForLock();
    const started = Date.now();
    await gc.close(300);
    const took = Date.now() - started;
    // Not before its timeout: a lower bound, which a loaded machine cannot break.
    assert.ok(took >= 280, `close gave up after ${took} ms`);
    // 20 was being written (its batch gives up after a few attempts), 21 and 22 were queued.
    // Only close()'s timeout rejects queued items with ClosedError: it ended by that bound.
    assert.deepEqual(await Promise.all(outcomes), ['failed: 55P03', 'closed', 'closed']);
    await assert.rejects(gc.add(23), ClosedError);
  } finally {
    await lock.release();
  }
  assert.deepEqual(await stored(), []);
  assert.deepEqual(w.batches, []);
});

test('close() waits for what is queued when the database answers', async () => {
  const w = writer(patient);
  const gc = new GroupCommit<number>({ flush: w.flush });
  await gc.close(1000); // idle: at once
  const gc2 = new GroupCommit<number>({ flush: w.flush });
  const lock = await holdLock();
  const adds = [30, 31].map((v) => gc2.add(v));
  const closed = gc2.close(5000);
  // Released only once the flush waits for it: close() waits for the database, not the reverse.
  await flushWaitingForLock();
  await lock.release();
  await closed;
  await Promise.all(adds);
  assert.deepEqual(await stored(), [30, 31]);
});
