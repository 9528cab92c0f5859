/**
 * Every query of src/db/receipts.ts executed against a real Postgres: matching receipts to the
 * parts they belong to (id forms, recycled ids, final states that stay final), the message status
 * decided from all its parts, and the store of receipts that match nothing yet.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyReceipts, markMatched, oldestUnmatched, purgeReceipts, receiptsById, storeUnmatched, type ReceiptMatch } from '../../src/db/receipts.js';
import { receiptIdCandidates } from '../../src/smpp/message-id.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Listener } from '../support/notifications.js';
import { insertMessages, insertReceipt, truncateAll } from '../support/rows.js';

let tdb: TestDatabase;
let notes: Listener;

before(async () => {
  tdb = await createTestDatabase();
  notes = await listen(tdb.url, ['sms_status']);
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
  notes.clear();
});

after(async () => {
  await notes?.close();
  await tdb?.drop();
});

const receipt = (rawId: string, state: string | null = 'DELIVRD', error: string | null = '000') => ({ candidates: receiptIdCandidates(rawId), state, error });

/** What a match says about the receipt and its message, in batch order. */
const summary = (matches: ReceiptMatch[]) =>
  matches.map(({ index, outboxId, finalStatus }) => ({ index, outboxId, finalStatus })).sort((a, b) => a.index - b.index);

async function message(label: string): Promise<Record<string, unknown>> {
  const { rows } = await tdb.pool.query(`select * from sms_outbox where metadata->>'label' = $1`, [label]);
  return rows[0];
}

async function parts(label: string): Promise<[number, string | null][]> {
  const { rows } = await tdb.pool.query<{ part_no: number; receipt_state: string | null }>(
    `select p.part_no, p.receipt_state from sms_outbox_part p join sms_outbox o on o.id = p.outbox_id where o.metadata->>'label' = $1 order by part_no`,
    [label],
  );
  return rows.map((r) => [r.part_no, r.receipt_state]);
}

test('applyReceipts matches each receipt by its id in any form and sets a single-part message\'s final status', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'hex', status: 'sent', messageIds: ['1A2B3C'] },
    { label: 'decimal', status: 'sent', messageIds: ['987654'] },
    { label: 'undelivered', status: 'sent', messageIds: ['AA01'] },
    { label: 'rejected', status: 'sent', messageIds: ['AA02'], legacyPart: true },
    { label: 'expired', status: 'sent', messageIds: ['AA03'] },
  ]);
  const matches = await applyReceipts(tdb.db, [
    receipt('001A2B3C'), // zero-padded
    receipt(String(0x1a2b3c + 1)), // a decimal id nobody has: no match
    receipt((987654).toString(16)), // the other base
    receipt('AA01', 'UNDELIV', '011'),
    receipt('aa02', 'REJECTD', '045'),
    receipt('AA03', 'EXPIRED', '099'),
  ]);
  assert.deepEqual(
    summary(matches),
    [
      { index: 0, outboxId: ids.get('hex'), finalStatus: 'delivered' },
      { index: 2, outboxId: ids.get('decimal'), finalStatus: 'delivered' },
      { index: 3, outboxId: ids.get('undelivered'), finalStatus: 'undelivered' },
      { index: 4, outboxId: ids.get('rejected'), finalStatus: 'rejected' },
      { index: 5, outboxId: ids.get('expired'), finalStatus: 'expired' },
    ],
  );
  const hex = await message('hex');
  assert.deepEqual([hex.status, hex.receipt_state, hex.receipt_error, hex.error_code], ['delivered', 'DELIVRD', '000', null]);
  assert.ok(hex.done_at instanceof Date);
  const bad = await message('undelivered');
  assert.deepEqual([bad.status, bad.receipt_state, bad.error_code, bad.error_message], ['undelivered', 'UNDELIV', '011', 'receipt: UNDELIV']);
  // A single-part message is matched through sms_outbox.smsc_message_id and has no part row
  // (0017); one written before that has its part row, which the receipt updates as before.
  assert.equal(hex.smsc_message_id, '1a2b3c');
  assert.deepEqual(await parts('hex'), []);
  assert.deepEqual(await parts('rejected'), [[1, 'REJECTD']]);
  assert.deepEqual(
    await notes.json('sms_status'),
    [
      { id: ids.get('hex'), status: 'delivered' },
      { id: ids.get('decimal'), status: 'delivered' },
      { id: ids.get('undelivered'), status: 'undelivered' },
      { id: ids.get('rejected'), status: 'rejected' },
      { id: ids.get('expired'), status: 'expired' },
    ].sort((a, b) => a.id!.localeCompare(b.id!)),
  );
  assert.deepEqual(await applyReceipts(tdb.db, []), []);
});

test('applyReceipts: a recycled id goes to the part submitted last; progress states never finish a message, final ones are never replaced', async () => {
  const ids = await insertMessages(tdb.pool, [
    // The id's earlier holder was written before 0017 (a part row), the later one after (none):
    // the one submitted last gets the receipt either way.
    { label: 'old holder', status: 'delivered', messageIds: ['B0B0'], created: '-3 days', submitted: '-3 days', legacyPart: true },
    { label: 'new holder', status: 'sent', messageIds: ['B0B0'], submitted: '-1 minute' },
    { label: 'in progress', status: 'sent', messageIds: ['C0C0'] },
    { label: 'in progress, part row', status: 'sent', messageIds: ['C1C1'], legacyPart: true },
  ]);
  const first = await applyReceipts(tdb.db, [receipt('B0B0'), receipt('C0C0', 'ENROUTE', null), receipt('C1C1', 'ENROUTE', null)]);
  assert.deepEqual(
    summary(first),
    [
      { index: 0, outboxId: ids.get('new holder'), finalStatus: 'delivered' },
      { index: 1, outboxId: ids.get('in progress'), finalStatus: null },
      { index: 2, outboxId: ids.get('in progress, part row'), finalStatus: null },
    ],
  );
  assert.equal((await message('in progress')).status, 'sent');
  assert.equal((await message('in progress')).receipt_state, null);
  assert.deepEqual(await parts('in progress, part row'), [[1, 'ENROUTE']]);
  // The final receipt follows the progress one; a later contradicting one changes nothing.
  await applyReceipts(tdb.db, [receipt('C0C0', 'UNDELIV', '011'), receipt('C1C1', 'UNDELIV', '011')]);
  const late = await applyReceipts(tdb.db, [
    receipt('C0C0', 'DELIVRD', '000'),
    receipt('C0C0', 'ENROUTE', null),
    receipt('C1C1', 'DELIVRD', '000'),
    receipt('C1C1', 'ENROUTE', null),
  ]);
  assert.deepEqual(late.map((l) => [l.finalStatus, l.latencySeconds]), [[null, null], [null, null], [null, null], [null, null]], 'matched, and nothing changed');
  for (const label of ['in progress', 'in progress, part row']) {
    const m = await message(label);
    assert.deepEqual([m.status, m.receipt_state, m.receipt_error], ['undelivered', 'UNDELIV', '011'], label);
  }
  assert.deepEqual(await parts('in progress, part row'), [[1, 'UNDELIV']]);
  assert.deepEqual(await parts('in progress'), []);
});

test('applyReceipts decides a multi-part message from all its parts: delivered when every part is, else the first part to fail', async () => {
  const ids = await insertMessages(tdb.pool, [
    { label: 'three parts', status: 'sent', messageIds: ['D1', 'D2', 'D3'] },
    { label: 'two parts, one fails', status: 'sent', messageIds: ['E1', 'E2'] },
  ]);
  const m1 = await applyReceipts(tdb.db, [receipt('D1'), receipt('D3')]);
  assert.deepEqual(summary(m1).map((m) => m.finalStatus), [null, null]);
  assert.equal((await message('three parts')).status, 'sent');
  assert.deepEqual(await parts('three parts'), [[1, 'DELIVRD'], [2, null], [3, 'DELIVRD']]);
  const m2 = await applyReceipts(tdb.db, [receipt('D2')]);
  assert.deepEqual(summary(m2), [{ index: 0, outboxId: ids.get('three parts'), finalStatus: 'delivered' }]);
  assert.equal((await message('three parts')).receipt_state, 'DELIVRD');

  const m3 = await applyReceipts(tdb.db, [receipt('E2', 'EXPIRED', '077')]);
  assert.deepEqual(summary(m3), [{ index: 0, outboxId: ids.get('two parts, one fails'), finalStatus: 'expired' }]);
  const failed = await message('two parts, one fails');
  assert.deepEqual([failed.status, failed.receipt_state, failed.error_code], ['expired', 'EXPIRED', '077']);
  await applyReceipts(tdb.db, [receipt('E1')]);
  assert.equal((await message('two parts, one fails')).status, 'expired', 'the first part to end decides');
});

test('storeUnmatched keeps receipts under their normalised id; receiptsById and oldestUnmatched find them; markMatched closes them', async () => {
  const stored = await storeUnmatched(tdb.db, [
    { rawId: '00ABC', candidates: receiptIdCandidates('00ABC'), state: 'DELIVRD', error: '000', text: 'id:00ABC stat:DELIVRD', source: '79990000001', destination: 'Shop' },
    { rawId: '123', candidates: receiptIdCandidates('123'), state: null, error: null, text: 'id:123', source: null, destination: null },
  ]);
  assert.equal(stored.length, 2);
  const { rows } = await tdb.pool.query('select message_id, raw_message_id, state, error, source_addr, destination_addr, text, matched_at from sms_receipt order by id');
  assert.deepEqual(rows, [
    { message_id: 'abc', raw_message_id: '00ABC', state: 'DELIVRD', error: '000', source_addr: '79990000001', destination_addr: 'Shop', text: 'id:00ABC stat:DELIVRD', matched_at: null },
    { message_id: '123', raw_message_id: '123', state: null, error: null, source_addr: null, destination_addr: null, text: 'id:123', matched_at: null },
  ]);
  assert.deepEqual(await storeUnmatched(tdb.db, []), []);

  const old = await insertReceipt(tdb.pool, { rawId: 'OLD1', received: '-2 days' });
  const older = await insertReceipt(tdb.pool, { rawId: 'OLD2', received: '-3 hours' });
  assert.deepEqual(
    (await receiptsById(tdb.db, [stored[0]!, old, '999999'])).map((r) => r.rawId).sort(),
    ['00ABC', 'OLD1'],
  );
  assert.deepEqual(await receiptsById(tdb.db, []), []);
  // The last day's, oldest first, paged.
  assert.deepEqual((await oldestUnmatched(tdb.db, 10)).map((r) => r.rawId), ['OLD2', '00ABC', '123']);
  assert.deepEqual((await oldestUnmatched(tdb.db, 1, 1)).map((r) => r.rawId), ['00ABC']);
  assert.deepEqual(await oldestUnmatched(tdb.db, 10, 3), []);

  const ids = await insertMessages(tdb.pool, [{ label: 'target', status: 'delivered' }]);
  await markMatched(tdb.db, [{ receiptId: older, outboxId: ids.get('target')! }]);
  await markMatched(tdb.db, []);
  const matched = await tdb.pool.query('select outbox_id, matched_at from sms_receipt where id = $1', [older]);
  assert.equal(matched.rows[0].outbox_id, ids.get('target'));
  assert.ok(matched.rows[0].matched_at instanceof Date);
  assert.deepEqual((await receiptsById(tdb.db, [older])).length, 0, 'matched: no longer waiting');
  assert.deepEqual((await oldestUnmatched(tdb.db, 10)).map((r) => r.rawId), ['00ABC', '123']);
});

test('purgeReceipts deletes receipts older than the retention, matched or not', async () => {
  await insertReceipt(tdb.pool, { rawId: 'GONE1', received: '-8 days' });
  await insertReceipt(tdb.pool, { rawId: 'KEPT1', received: '-6 days -23 hours' });
  const ids = await insertMessages(tdb.pool, [{ label: 'm', status: 'delivered' }]);
  await insertReceipt(tdb.pool, { rawId: 'GONE2', received: '-9 days', outboxId: ids.get('m')! });
  assert.equal(await purgeReceipts(tdb.db, 7), 2);
  const { rows } = await tdb.pool.query<{ raw_message_id: string }>('select raw_message_id from sms_receipt');
  assert.deepEqual(rows.map((r) => r.raw_message_id), ['KEPT1']);
  assert.equal(await purgeReceipts(tdb.db, 7), 0);
});
