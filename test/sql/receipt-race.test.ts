/**
 * Receipts for the parts of one message applied by two transactions at once (the worker's
 * inbound flush and a re-match behind an outcome flush, or two workers): the message must still
 * reach its final status. Real Postgres, two connections, the interleaving forced step by step.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDb, createPool } from '../../src/db/pool.js';
import { applyReceipts } from '../../src/db/receipts.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { blockedOrSettled } from '../support/wait.js';

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Race'`);
});
after(() => tdb.drop());

/** A message accepted in `parts` parts whose SMSC ids are `${prefix}1`, `${prefix}2`, ... */
async function sentMessage(parts: number, prefix: string): Promise<string> {
  const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+79990000001', repeat('x', $1::int * 150)) as id`, [parts]);
  const id = rows[0]!.id;
  await tdb.pool.query(`update sms_outbox set status = 'sent', submitted_at = now() where id = $1`, [id]);
  await tdb.pool.query(`insert into sms_outbox_part (outbox_id, part_no, message_id) select $1, n, $2 || n from generate_series(1, $3::int) n`, [id, prefix, parts]);
  return id;
}

async function statusOf(id: string): Promise<{ status: string; parts: string[] }> {
  const { rows } = await tdb.pool.query(
    `select status, (select array_agg(receipt_state order by part_no) from sms_outbox_part where outbox_id = $1) as parts from sms_outbox where id = $1`,
    [id],
  );
  return rows[0];
}

const delivered = (messageId: string) => [{ candidates: [messageId], state: 'DELIVRD', error: '000' }];

test('receipts for two parts applied at once, one in an open transaction and one on its own: the message is delivered', async () => {
  const id = await sentMessage(2, 'race-a-');
  const other = createDb(createPool(tdb.url, { max: 1, applicationName: 'receipt race' }));
  try {
    const trx = await tdb.db.startTransaction().execute();
    await applyReceipts(trx, delivered('race-a-1'));
    // The second blocks until the first commits, then sees its part.
    const second = applyReceipts(other, delivered('race-a-2'));
    await blockedOrSettled(tdb.pool, second, { what: 'the second receipt waiting for the first' });
    await trx.commit().execute();
    const matches = await second;
    assert.equal(matches[0]!.finalStatus, 'delivered');
    assert.deepEqual(await statusOf(id), { status: 'delivered', parts: ['DELIVRD', 'DELIVRD'] });
  } finally {
    await other.destroy();
  }
});

test('both in open transactions, the later one committing first: the message is delivered', async () => {
  const id = await sentMessage(3, 'race-b-');
  await applyReceipts(tdb.db, delivered('race-b-3'));
  const other = createDb(createPool(tdb.url, { max: 1, applicationName: 'receipt race' }));
  try {
    const first = await tdb.db.startTransaction().execute();
    const second = await other.startTransaction().execute();
    await applyReceipts(first, delivered('race-b-1'));
    const pending = applyReceipts(second, delivered('race-b-2')).then(async (m) => {
      await second.commit().execute();
      return m;
    });
    await blockedOrSettled(tdb.pool, pending, { what: 'the second receipt waiting for the first' });
    await first.commit().execute();
    await pending;
    assert.deepEqual(await statusOf(id), { status: 'delivered', parts: ['DELIVRD', 'DELIVRD', 'DELIVRD'] });
  } finally {
    await other.destroy();
  }
});
