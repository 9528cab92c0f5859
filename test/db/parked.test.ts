/**
 * Every query of src/db/parked.ts, src/db/row-errors.ts' savepoint helper and src/db/roles.ts'
 * reader of recorded role names, executed against a real Postgres: a refused PDU or incomplete
 * set parked whole, picked up for replay once sms_inbound_replay() marks it (oldest first,
 * skipping a row another transaction holds), kept with the new error when refused again, deleted
 * once stored; a row error rolled back to its savepoint while the transaction goes on.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sql } from 'kysely';
import { deleteParked, nextMarkedForReplay, parkPdu, parkSet, recordReplayFailure } from '../../src/db/parked.js';
import { recordedRoleNames } from '../../src/db/roles.js';
import { tryRow } from '../../src/db/row-errors.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { truncateAll } from '../support/rows.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
  await tdb.pool.query('truncate sms_inbound_parked');
});

after(async () => {
  await tdb?.drop();
});

/** A deliver_sm header (command_id 0x00000005) followed by `body`. */
function deliverSm(body: Buffer): Buffer {
  const pdu = Buffer.alloc(16 + body.length);
  pdu.writeUInt32BE(pdu.length, 0);
  pdu.writeUInt32BE(0x00000005, 4);
  pdu.writeUInt32BE(0, 8);
  pdu.writeUInt32BE(42, 12);
  body.copy(pdu, 16);
  return pdu;
}

const markAll = () => tdb.pool.query('update sms_inbound_parked set replay_requested_at = clock_timestamp()');

test('parkPdu keeps the whole PDU with its error; text Postgres cannot hold is replaced, never refused', async () => {
  const pdu = deliverSm(Buffer.from('\u0000PIN 4821\u0000', 'latin1'));
  const id = await parkPdu(tdb.db, { kind: 'mo', pdu, sender: '7999\u00001234567', recipient: 'Shop' }, { code: '22021', message: 'invalid byte sequence\u0000 for encoding' });
  const { rows } = await tdb.pool.query('select * from sms_inbound_parked where id = $1', [id]);
  const row = rows[0];
  assert.equal(row.kind, 'mo');
  assert.equal(row.command_id, 5);
  assert.deepEqual(row.pdu, pdu, 'the PDU is kept byte for byte');
  assert.equal(row.sender, '7999\uFFFD1234567');
  assert.equal(row.recipient, 'Shop');
  assert.equal(row.error_code, '22021');
  assert.equal(row.error_message, 'invalid byte sequence\uFFFD for encoding');
  assert.equal(row.attempts, 1);
  assert.equal(row.replay_requested_at, null);
});

test('parkPdu cuts a long error message, and parkSet keeps the parts of a refused set in order', async () => {
  const id = await parkPdu(tdb.db, { kind: 'receipt', pdu: deliverSm(Buffer.alloc(4)), sender: null, recipient: null }, { code: 'P0001', message: 'x'.repeat(5000) });
  const long = (await tdb.pool.query('select error_message, sender from sms_inbound_parked where id = $1', [id])).rows[0];
  assert.equal(long.error_message.length, 2000);
  assert.equal(long.sender, null);

  const key = { sender: '79990000001', recipient: 'Shop', ref: 7, total: 3 };
  const parts = [
    { seq: 1, dataCoding: 8, payload: Buffer.from([0x04, 0x1f]) },
    { seq: 3, dataCoding: 8, payload: Buffer.from([0x04, 0x40]) },
  ];
  const setId = await parkSet(tdb.db, key, parts, { code: '23514', message: 'check violated' });
  const { rows } = await tdb.pool.query('select kind, pdu, command_id, sender, recipient, concat_ref, concat_total, data_coding, part_seqs, part_payloads from sms_inbound_parked where id = $1', [setId]);
  assert.deepEqual(rows[0], {
    kind: 'mo_set',
    pdu: null,
    command_id: null,
    sender: '79990000001',
    recipient: 'Shop',
    concat_ref: 7,
    concat_total: 3,
    data_coding: 8,
    part_seqs: [1, 3],
    part_payloads: parts.map((p) => p.payload),
  });
});

test('nextMarkedForReplay: only marked rows, oldest mark first, each row read back as it was parked', async () => {
  assert.equal(await nextMarkedForReplay(tdb.db), null, 'nothing parked');
  const pdu = deliverSm(Buffer.from('hello', 'latin1'));
  const first = await parkPdu(tdb.db, { kind: 'mo', pdu, sender: '79990000002', recipient: 'Shop' }, { code: '23514', message: 'refused' });
  const key = { sender: '79990000003', recipient: '1234', ref: 9, total: 2 };
  const second = await parkSet(tdb.db, key, [{ seq: 2, dataCoding: 0, payload: Buffer.from('two') }], { code: '23514', message: 'refused' });
  assert.equal(await nextMarkedForReplay(tdb.db), null, 'parked but not marked for replay');

  await tdb.pool.query('update sms_inbound_parked set replay_requested_at = now() - interval \'1 minute\' where id = $1', [second]);
  await tdb.pool.query('update sms_inbound_parked set replay_requested_at = now() where id = $1', [first]);
  const row = await nextMarkedForReplay(tdb.db);
  assert.deepEqual(row, { id: second, kind: 'mo_set', pdu: null, key, dataCoding: 0, parts: [{ seq: 2, dataCoding: 0, payload: Buffer.from('two') }] });

  await deleteParked(tdb.db, second);
  const next = await nextMarkedForReplay(tdb.db);
  assert.deepEqual(next, { id: first, kind: 'mo', pdu, key: null, dataCoding: null, parts: [] });
  await deleteParked(tdb.db, first);
  assert.equal((await tdb.pool.query('select count(*)::int as n from sms_inbound_parked')).rows[0].n, 0);
});

test('nextMarkedForReplay skips a row another transaction is replaying', async () => {
  const a = await parkPdu(tdb.db, { kind: 'receipt', pdu: deliverSm(Buffer.from('a')), sender: null, recipient: null }, { code: '54000', message: 'too long' });
  const b = await parkPdu(tdb.db, { kind: 'receipt', pdu: deliverSm(Buffer.from('b')), sender: null, recipient: null }, { code: '54000', message: 'too long' });
  await markAll();
  await tdb.db.transaction().execute(async (tx) => {
    const held = await nextMarkedForReplay(tx);
    assert.ok(held && [a, b].includes(held.id));
    const other = await nextMarkedForReplay(tdb.db);
    assert.ok(other, 'the other row is available');
    assert.notEqual(other.id, held.id, 'the locked row is skipped');
  });
});

test('recordReplayFailure keeps the row with the new error, one attempt more, and no longer marked', async () => {
  const id = await parkPdu(tdb.db, { kind: 'mo', pdu: deliverSm(Buffer.from('x')), sender: '79990000004', recipient: 'Shop' }, { code: '23514', message: 'first' });
  await markAll();
  await recordReplayFailure(tdb.db, id, { code: 'P0001', message: 'refused again\u0000' });
  const { rows } = await tdb.pool.query('select error_code, error_message, attempts, replay_requested_at, last_attempt_at >= parked_at as later from sms_inbound_parked where id = $1', [id]);
  assert.deepEqual(rows[0], { error_code: 'P0001', error_message: 'refused again\uFFFD', attempts: 2, replay_requested_at: null, later: true });
  assert.equal(await nextMarkedForReplay(tdb.db), null);
});

test('tryRow: a row error rolls back to its savepoint and the transaction goes on; other errors are thrown', async () => {
  const insert = (body: string, parts: number) => (tx: Parameters<typeof tryRow>[0]) => () =>
    sql`insert into sms_inbox (sender, recipient, body, encoding, parts) values ('1', '2', ${body}, 'gsm7', ${parts})`.execute(tx);
  const written = await tdb.db.transaction().execute(async (tx) => ({
    kept: await tryRow(tx, insert('kept', 1)(tx)),
    refused: await tryRow(tx, insert('refused', 0)(tx)),
    after: await tryRow(tx, insert('after', 1)(tx)),
  }));
  assert.equal(written.kept.ok, true);
  assert.equal(written.refused.ok, false);
  assert.equal((written.refused as { error: pg.DatabaseError }).error.code, '23514', 'the check constraint on parts');
  assert.equal(written.after.ok, true);
  assert.deepEqual((await tdb.pool.query('select body from sms_inbox order by body')).rows.map((r) => r.body), ['after', 'kept']);

  // Not about the row (an object that does not exist): thrown, and the transaction is lost.
  await assert.rejects(
    tdb.db.transaction().execute(async (tx) => {
      await tryRow(tx, insert('lost', 1)(tx));
      await tryRow(tx, () => sql`select * from no_such_table`.execute(tx));
    }),
    (err: pg.DatabaseError) => err.code === '42P01',
  );
  assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_inbox where body = 'lost'`)).rows[0].n, 0);
});

test('recordedRoleNames: the names a migrated database recorded, the defaults for one migrated before they were, null before', async () => {
  const client = new pg.Client({ connectionString: tdb.url });
  await client.connect();
  try {
    assert.deepEqual(await recordedRoleNames(client), { prefix: 'sms_', sender: 'sms_sender', reader: 'sms_reader', worker: 'sms_worker' });
    await client.query('begin');
    // A database migrated before role names were recorded (0001-0009): the defaults.
    await client.query('drop table sms_private.roles cascade');
    assert.deepEqual(await recordedRoleNames(client), { prefix: 'sms_', sender: 'sms_sender', reader: 'sms_reader', worker: 'sms_worker' });
    // A database never migrated: nothing.
    await client.query('drop table public.sms_schema_migrations cascade');
    assert.equal(await recordedRoleNames(client), null);
    await client.query('rollback');
  } finally {
    await client.end();
  }
});
