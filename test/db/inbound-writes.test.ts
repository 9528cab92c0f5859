/**
 * src/db/inbound-writes.ts against a real Postgres: receipts matched or kept unmatched, incoming
 * parts staged until their set is complete, and stored receipts matched once their parts exist
 * (what the store does after an outcome flush and the reconcile task every minute).
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { rematchReceipts, writeInbound } from '../../src/db/inbound-writes.js';
import { receiptsById } from '../../src/db/receipts.js';
import type { InboundContent } from '../../src/smpp/inbound.js';
import type { Receipt } from '../../src/smpp/receipt.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { insertMessages, truncateAll } from '../support/rows.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
});

after(async () => {
  await tdb?.drop();
});

function receipt(messageId: string, state: string): InboundContent {
  const r: Receipt = {
    messageId,
    altMessageIds: [],
    state,
    error: '000',
    networkError: null,
    submitDate: null,
    doneDate: null,
    text: `id:${messageId} stat:${state} err:000`,
    source: '79990000001',
    destination: 'Shop',
    esmType: 0x04,
  };
  return { kind: 'receipt', receipt: r };
}

function part(seq: number, total: number, text: string): InboundContent {
  return {
    kind: 'mo',
    part: {
      source: '79990000002',
      destination: 'Shop',
      sourceTon: 1,
      sourceNpi: 1,
      dataCoding: 0x03,
      payload: Buffer.from(text, 'latin1'),
      concat: { ref: 7, total, seq },
      text,
    },
  };
}

test('writeInbound matches a receipt to its part, keeps an unknown one, and adds an SMS when its last part arrives', async () => {
  const ids = await insertMessages(tdb.pool, [{ label: 'known', status: 'sent', messageIds: ['5A0000F1'] }]);
  const first = await tdb.db.transaction().execute((tx) => writeInbound(tx, [receipt('5a0000f1', 'DELIVERED'), receipt('5A0000F2', 'EXPIRD'), part(2, 2, 'world')]));
  assert.deepEqual(
    first.matches.map((m) => [m.outboxId, m.finalStatus]),
    [[ids.get('known'), 'delivered']],
    'the long form DELIVERED is DELIVRD, matched whatever the case of the id',
  );
  assert.equal(first.unmatchedIds.length, 1);
  assert.equal(first.inbox, 0, 'one part of two: nothing in sms_inbox yet');
  const [kept] = await receiptsById(tdb.db, first.unmatchedIds);
  assert.deepEqual([kept?.rawId, kept?.state], ['5A0000F2', 'EXPIRED'], 'EXPIRD is stored as EXPIRED');

  const second = await tdb.db.transaction().execute((tx) => writeInbound(tx, [part(1, 2, 'hello ')]));
  assert.equal(second.inbox, 1);
  const { rows } = await tdb.pool.query('select sender, body, encoding, parts, missing_parts from sms_inbox');
  assert.deepEqual(rows, [{ sender: '79990000002', body: 'hello world', encoding: 'latin1', parts: 2, missing_parts: 0 }]);
});

test('rematchReceipts matches stored receipts once their parts exist, and marks them matched', async () => {
  const written = await writeInbound(tdb.db, [receipt('5A0000F3', 'UNDELIV')]);
  const waiting = await receiptsById(tdb.db, written.unmatchedIds);
  assert.deepEqual(await rematchReceipts(tdb.db, waiting), [], 'no part with that id yet');

  const ids = await insertMessages(tdb.pool, [{ label: 'late', status: 'sent', messageIds: ['5A0000F3'] }]);
  const matches = await rematchReceipts(tdb.db, waiting);
  assert.deepEqual(
    matches.map((m) => [m.index, m.outboxId, m.finalStatus]),
    [[0, ids.get('late'), 'undelivered']],
  );
  assert.deepEqual(await receiptsById(tdb.db, written.unmatchedIds), [], 'matched: no longer waiting');
});

test('a receipt matched to a redacted message (a sign-in code once accepted) loses the message\'s first characters (text:)', async () => {
  const codeReceipt = receipt('5A0000F4', 'DELIVRD');
  if (codeReceipt.kind === 'receipt') codeReceipt.receipt.text = 'id:5A0000F4 sub:001 dlvrd:001 stat:DELIVRD err:000 text:482113 is your sig';
  const written = await writeInbound(tdb.db, [codeReceipt, receipt('5A0000F5', 'DELIVRD')]);
  const waiting = await receiptsById(tdb.db, written.unmatchedIds);
  const ids = await insertMessages(tdb.pool, [
    { label: 'code', status: 'sent', messageIds: ['5A0000F4'] },
    { label: 'plain', status: 'sent', messageIds: ['5A0000F5'] },
  ]);
  await tdb.pool.query(`update sms_outbox set body = '', body_length = 40, redacted_at = now() where id = $1`, [ids.get('code')]);
  assert.equal((await rematchReceipts(tdb.db, waiting)).length, 2);
  const { rows } = await tdb.pool.query<{ outbox_id: string; text: string }>('select outbox_id, text from sms_receipt order by raw_message_id');
  assert.deepEqual(rows, [
    { outbox_id: ids.get('code'), text: 'id:5A0000F4 sub:001 dlvrd:001 stat:DELIVRD err:000 text:' },
    { outbox_id: ids.get('plain'), text: 'id:5A0000F5 stat:DELIVRD err:000' },
  ]);
});
