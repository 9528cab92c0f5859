/**
 * Every query of src/db/inbox.ts executed against a real Postgres: incoming SMS stored and
 * announced, concatenated parts staged until their set is complete (also when two workers store
 * the last two parts at once), stale sets found for the reconcile task, and the purge.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { deleteParts, insertInboxMessages, purgeInbox, staleSets, storePart, type PartKey } from '../../src/db/inbox.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { listen, type Listener } from '../support/notifications.js';
import { insertInbox, insertInboxPart, truncateAll } from '../support/rows.js';
import { blockedOrSettled } from '../support/wait.js';

let tdb: TestDatabase;
let notes: Listener;

before(async () => {
  tdb = await createTestDatabase();
  notes = await listen(tdb.url, ['sms_inbox']);
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
  notes.clear();
});

after(async () => {
  await notes?.close();
  await tdb?.drop();
});

const key = (sender: string, ref = 1, total = 3): PartKey => ({ sender, recipient: 'Shop', ref, total });
const part = (seq: number, text: string, dataCoding = 0x03) => ({ seq, dataCoding, payload: Buffer.from(text, 'latin1') });

test('insertInboxMessages stores incoming SMS and announces each on sms_inbox', async () => {
  const ids = await insertInboxMessages(tdb.db, [
    { sender: '79990000001', recipient: 'Shop', body: 'Привет! STOP', payload: Buffer.from('Привет! STOP', 'utf16le').swap16(), encoding: 'ucs2', parts: 1, missingParts: 0 },
    { sender: '79990000002', recipient: '1234', body: 'long … reply', payload: Buffer.from('long reply', 'latin1'), encoding: 'gsm7', parts: 3, missingParts: 1 },
  ]);
  assert.equal(ids.length, 2);
  const { rows } = await tdb.pool.query('select id, sender, recipient, body, encoding, parts, missing_parts, payload, body_replaced from sms_inbox order by sender');
  assert.deepEqual(
    rows.map(({ id, ...r }) => r),
    [
      { sender: '79990000001', recipient: 'Shop', body: 'Привет! STOP', encoding: 'ucs2', parts: 1, missing_parts: 0, payload: Buffer.from('Привет! STOP', 'utf16le').swap16(), body_replaced: false },
      { sender: '79990000002', recipient: '1234', body: 'long … reply', encoding: 'gsm7', parts: 3, missing_parts: 1, payload: Buffer.from('long reply', 'latin1'), body_replaced: false },
    ],
  );
  assert.deepEqual(await notes.json('sms_inbox'), ids.sort().map((id) => ({ id })));
  assert.deepEqual(await insertInboxMessages(tdb.db, []), []);
});

test('storePart stages parts (a repeated part is kept once) and returns the whole set, in order, once complete', async () => {
  const k = key('79990000003');
  assert.deepEqual(await storePart(tdb.db, k, part(3, 'three')), { status: 'staged' });
  assert.deepEqual(await storePart(tdb.db, k, part(1, 'one')), { status: 'staged' });
  assert.deepEqual(await storePart(tdb.db, k, part(1, 'one again')), { status: 'staged' }, 'a redelivered part');
  // Another set from the same sender (another reference) does not mix in.
  assert.deepEqual(await storePart(tdb.db, key('79990000003', 2), part(2, 'other set')), { status: 'staged' });
  const set = await storePart(tdb.db, k, part(2, 'two'));
  assert.equal(set.status, 'complete');
  assert.deepEqual(set.status === 'complete' && set.parts.map((p) => [p.seq, p.dataCoding, p.payload.toString('latin1')]), [
    [1, 3, 'one'],
    [2, 3, 'two'],
    [3, 3, 'three'],
  ]);
  const { rows } = await tdb.pool.query<{ ref: number; seq: number }>('select ref, seq from sms_inbox_part');
  assert.deepEqual(rows, [{ ref: 2, seq: 2 }], 'the complete set left sms_inbox_part, the other stays');
  await deleteParts(tdb.db, key('79990000003', 2));
  assert.equal((await tdb.pool.query('select 1 from sms_inbox_part')).rowCount, 0, 'deleteParts removes a set');
});

test('a part delivered again after its set was assembled is counted on the SMS, never staged for a second one', async () => {
  const k = key('79990000008', 77, 2);
  assert.equal((await storePart(tdb.db, k, part(1, 'first half '))).status, 'staged');
  const set = await storePart(tdb.db, k, part(2, 'second half'));
  assert.equal(set.status, 'complete');
  const [id] = await insertInboxMessages(tdb.db, [{ sender: k.sender, recipient: k.recipient, body: 'first half second half', payload: Buffer.from('first half second half', 'latin1'), encoding: 'latin1', parts: 2, missingParts: 0, concatRef: 77 }]);
  // The SMSC delivers each part again (their acknowledgements were lost).
  assert.deepEqual(await storePart(tdb.db, k, part(2, 'second half')), { status: 'duplicate' });
  assert.deepEqual(await storePart(tdb.db, k, part(1, 'first half ')), { status: 'duplicate' });
  assert.equal((await tdb.pool.query('select 1 from sms_inbox_part')).rowCount, 0, 'nothing staged');
  const { rows } = await tdb.pool.query('select id, duplicate_parts from sms_inbox');
  assert.deepEqual(rows, [{ id, duplicate_parts: 2 }]);
  const sets = await tdb.pool.query('select inbox_id, duplicate_parts, cardinality(part_hashes) as n from sms_inbox_set');
  assert.deepEqual(sets.rows, [{ inbox_id: id, duplicate_parts: 2, n: 2 }]);
  // Other bytes under the same reference: a new SMS reusing it, staged as usual.
  assert.deepEqual(await storePart(tdb.db, k, part(1, 'another text')), { status: 'staged' });
  assert.equal((await tdb.pool.query('select 1 from sms_inbox_set')).rowCount, 0, 'the old entry went');
});

test('a duplicate in the same batch as its set, before the SMS is stored, is counted on it too', async () => {
  const k = key('79990000009', 5, 2);
  await tdb.db.transaction().execute(async (tx) => {
    await storePart(tx, k, part(1, 'a'));
    assert.equal((await storePart(tx, k, part(2, 'b'))).status, 'complete');
    assert.deepEqual(await storePart(tx, k, part(2, 'b')), { status: 'duplicate' });
    await insertInboxMessages(tx, [{ sender: k.sender, recipient: k.recipient, body: 'ab', payload: Buffer.from('ab'), encoding: 'latin1', parts: 2, missingParts: 0, concatRef: 5 }]);
  });
  assert.deepEqual((await tdb.pool.query('select duplicate_parts from sms_inbox')).rows, [{ duplicate_parts: 1 }]);
});

test('storePart: two workers storing the last two parts at once, one of them gets the complete set', async () => {
  const k = key('79990000004', 9, 3);
  await storePart(tdb.db, k, part(1, 'one'));
  let releaseFirst!: () => void;
  const firstHolds = new Promise<void>((r) => (releaseFirst = r));
  let firstStored!: () => void;
  const stored = new Promise<void>((r) => (firstStored = r));
  const first = tdb.db.transaction().execute(async (tx) => {
    const set = await storePart(tx, k, part(2, 'two'));
    firstStored();
    await firstHolds; // still uncommitted while the other worker stores its part
    return set;
  });
  await stored;
  const second = tdb.db.transaction().execute((tx) => storePart(tx, k, part(3, 'three')));
  await blockedOrSettled(tdb.pool, second, { what: 'the second worker waiting for the first' });
  releaseFirst();
  const results = await Promise.all([first, second]);
  assert.deepEqual(
    results.map((r) => (r.status === 'complete' ? r.parts.length : r.status)),
    ['staged', 3],
    'the second waited for the first, then saw all three',
  );
});

test('staleSets finds incomplete sets whose first part is older than the timeout, skipping sets another transaction holds', async () => {
  await insertInboxPart(tdb.pool, { sender: '79990000005', ref: 1, total: 2, seq: 1, text: 'stale', received: '-11 minutes' });
  await insertInboxPart(tdb.pool, { sender: '79990000005', ref: 1, total: 2, seq: 2, text: 'later', received: '-1 minute' });
  await insertInboxPart(tdb.pool, { sender: '79990000006', ref: 2, total: 3, seq: 2, text: 'fresh', received: '-5 minutes' });
  await insertInboxPart(tdb.pool, { sender: '79990000007', ref: 3, total: 2, seq: 1, text: 'held', received: '-20 minutes' });

  // Another worker is assembling the third set.
  const other = await tdb.connect();
  try {
    await other.query('begin');
    await other.query(`select pg_advisory_xact_lock(hashtextextended('79990000007|Fixture|3|2', 1163))`);
    const sets = await tdb.db.transaction().execute((tx) => staleSets(tx, 600, 10));
    assert.deepEqual(
      sets.map((s) => [s.key, s.parts.map((p) => [p.seq, p.payload.toString('latin1')])]),
      [[{ sender: '79990000005', recipient: 'Fixture', ref: 1, total: 2 }, [[1, 'stale'], [2, 'later']]]],
    );
    await other.query('rollback');
  } finally {
    await other.end();
  }
  const all = await tdb.db.transaction().execute((tx) => staleSets(tx, 600, 10));
  assert.deepEqual(all.map((s) => s.key.sender).sort(), ['79990000005', '79990000007']);
  assert.equal((await tdb.db.transaction().execute((tx) => staleSets(tx, 600, 1))).length, 1, 'at most `limit` sets');
  assert.equal((await tdb.db.transaction().execute((tx) => staleSets(tx, 3600, 10))).length, 0);
});

test('purgeInbox deletes incoming SMS older than the retention', async () => {
  await insertInbox(tdb.pool, { sender: '79990000008', body: 'old', received: '-91 days' });
  await insertInbox(tdb.pool, { sender: '79990000009', body: 'edge', received: '-89 days -23 hours' });
  await insertInbox(tdb.pool, { sender: '79990000010', body: 'new' });
  assert.equal(await purgeInbox(tdb.db, 90), 1);
  const { rows } = await tdb.pool.query<{ body: string }>('select body from sms_inbox order by body');
  assert.deepEqual(rows.map((r) => r.body), ['edge', 'new']);
});
