/**
 * src/db/redaction.ts' query executed against a real Postgres: bodies of finished messages and
 * incoming SMS past their redaction age blanked in batches, the rest untouched, nothing while
 * the settings are off.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { redactDue } from '../../src/db/redaction.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { insertInbox, insertMessage, truncateAll } from '../support/rows.js';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
});

beforeEach(async () => {
  await truncateAll(tdb.pool);
  await tdb.pool.query('update sms_settings set redact_after = null, inbox_redact_after = null');
});

after(async () => {
  await tdb?.drop();
});

const body = async (table: string, id: string) =>
  (await tdb.pool.query(`select body, body_length, body_hash is not null as hashed, redacted_at is not null as redacted from ${table} where id = $1`, [id])).rows[0];

test('redactDue does nothing while both redaction ages are unset', async () => {
  const id = await insertMessage(tdb.pool, { label: 'old', status: 'delivered', body: 'Code 4821', created: '-10 days' });
  await insertInbox(tdb.pool, { sender: '79990000001', body: 'STOP', received: '-10 days' });
  assert.deepEqual(await redactDue(tdb.db, 100), { messages: 0, inbox: 0 });
  assert.deepEqual(await body('sms_outbox', id), { body: 'Code 4821', body_length: null, hashed: false, redacted: false });
});

test('redactDue blanks finished messages past redact_after, a batch at a time; unfinished and younger ones keep their body', async () => {
  await tdb.pool.query(`update sms_settings set redact_after = '1 day'`);
  const old = [];
  for (let i = 0; i < 3; i++) old.push(await insertMessage(tdb.pool, { label: `old${i}`, status: 'delivered', body: `Code 48${i}1`, created: `-${3 + i} days` }));
  const young = await insertMessage(tdb.pool, { label: 'young', status: 'delivered', body: 'Code 9999', created: '-1 hour' });
  const pending = await insertMessage(tdb.pool, { label: 'sent', status: 'sent', body: 'Code 7777', created: '-5 days' });

  assert.deepEqual(await redactDue(tdb.db, 2), { messages: 2, inbox: 0 });
  assert.deepEqual(await redactDue(tdb.db, 2), { messages: 1, inbox: 0 });
  assert.deepEqual(await redactDue(tdb.db, 2), { messages: 0, inbox: 0 });
  for (const id of old) assert.deepEqual(await body('sms_outbox', id), { body: '', body_length: 9, hashed: true, redacted: true });
  assert.equal((await body('sms_outbox', young)).body, 'Code 9999');
  assert.equal((await body('sms_outbox', pending)).body, 'Code 7777', 'a message still waiting for its receipt keeps its body');
});

test('redactDue blanks incoming SMS past inbox_redact_after, independently of the outbox setting', async () => {
  await tdb.pool.query(`update sms_settings set inbox_redact_after = '2 days'`);
  const old = await insertInbox(tdb.pool, { sender: '79990000002', body: 'Мой код 1234', received: '-3 days' });
  const young = await insertInbox(tdb.pool, { sender: '79990000003', body: 'hello', received: '-1 day' });
  const message = await insertMessage(tdb.pool, { label: 'out', status: 'delivered', body: 'Code 1111', created: '-30 days' });
  assert.deepEqual(await redactDue(tdb.db, 10), { messages: 0, inbox: 1 });
  assert.deepEqual(await body('sms_inbox', old), { body: '', body_length: 12, hashed: true, redacted: true });
  assert.equal((await body('sms_inbox', young)).body, 'hello');
  assert.equal((await body('sms_outbox', message)).body, 'Code 1111');
});
