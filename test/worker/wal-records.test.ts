/**
 * `bench`'s WAL by record type (src/bench/pg-costs.ts) read at the end of a stretch whose last
 * records are written but not yet flushed: what a server with `synchronous_commit = off` (the
 * embedded Postgres of the tests, many a benchmark server) leaves behind a busy run. The stretch
 * ends at the insert position, past records still in the WAL buffers, and pg_get_wal_stats
 * refuses an end at or past the flushed position, so walRecordsBetween must flush it first: every
 * row inserted is then among the records.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { costSnapshot, holdWal, walRecordsBetween } from '../../src/bench/pg-costs.js';
import { createTestDatabase } from '../support/db.js';

test('WAL records: a stretch whose end is written but not flushed is read whole', async () => {
  const tdb = await createTestDatabase({ migrated: false });
  const pool = new pg.Pool({ connectionString: tdb.url, max: 3 });
  try {
    const hold = await holdWal(pool);
    const before = await costSnapshot(pool, tdb.name);
    const c = await pool.connect();
    let gap: { written: string; flushed: string };
    try {
      // Committed without waiting for the flush, so the WAL is written past what is flushed.
      await c.query('set synchronous_commit = off');
      await c.query('create table filler (n integer)');
      await c.query('insert into filler select generate_series(1, 200000)');
      gap = (await c.query<{ written: string; flushed: string }>('select pg_current_wal_lsn()::text as written, pg_current_wal_flush_lsn()::text as flushed')).rows[0]!;
    } finally {
      c.release();
    }
    const after = await costSnapshot(pool, tdb.name);
    const records = await walRecordsBetween(pool, before, after, 200_000, hold);
    await hold.release();
    assert.equal(records.available, true, records.available ? '' : `${records.reason} (just after the insert: written ${gap.written}, flushed ${gap.flushed})`);
    const inserts = records.records.filter((r) => r.type.startsWith('Heap/INSERT') || r.type.startsWith('Heap2/MULTI_INSERT'));
    assert.ok(inserts.reduce((sum, r) => sum + r.count, 0) >= 1, JSON.stringify(records.records));
  } finally {
    await pool.end();
    await tdb.drop();
  }
});
