/**
 * sms_redact in SQL: what is due, in batches, the receipts' `text:` field, the settings' checks,
 * and who may call it or read the key. The task that runs it through Graphile Worker is in
 * test/worker/redaction.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { rejectsWith, TestRoles } from './helpers.js';

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
let workerClient: pg.Client;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
  workerClient = await connectAs(tdb.url, await roles.create({ login: password, memberOf: ['sms_worker'] }), password);
});
after(async () => {
  await workerClient?.end().catch(() => {});
  await tdb.drop();
  await roles.dropAll();
});

/** n messages that finished `ago` (cancelled: a final status sms_cancel gives without a worker). */
async function finished(n: number, ago: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = (await tdb.pool.query<{ id: string }>(`select sms_send('+79991234567', $1) as id`, [`Code ${1000 + i}`])).rows[0]!.id;
    await tdb.pool.query('select sms_cancel($1)', [id]);
    ids.push(id);
  }
  await tdb.pool.query(`update sms_outbox set done_at = now() - $2::interval where id = any($1::uuid[])`, [ids, ago]);
  return ids;
}
const redact = async (c: pg.ClientBase | pg.Pool, batch: number) => (await c.query<{ messages: number; inbox: number }>('select * from sms_redact($1)', [batch])).rows[0];

test('batches, oldest first; the caller repeats until a batch comes back short', async () => {
  const client = await tdb.connect();
  try {
    await client.query('begin');
    const old = await finished(5, '3 days');
    const recent = await finished(2, '1 hour');
    await client.query(`update sms_settings set redact_after = '1 day'`);
    assert.deepEqual(await redact(client, 2), { messages: 2, inbox: 0 });
    assert.deepEqual(await redact(client, 2), { messages: 2, inbox: 0 });
    assert.deepEqual(await redact(client, 2), { messages: 1, inbox: 0 });
    assert.deepEqual(await redact(client, 2), { messages: 0, inbox: 0 });
    const r = await client.query<{ id: string; redacted: boolean }>('select id, redacted_at is not null as redacted from sms_outbox where id = any($1::uuid[])', [[...old, ...recent]]);
    assert.deepEqual(new Set(r.rows.filter((x) => x.redacted).map((x) => x.id)), new Set(old));
  } finally {
    await client.query('rollback');
    await client.end();
  }
});

test("receipts lose their text: field: those of a redacted message, and unmatched ones past the age", async () => {
  const client = await tdb.connect();
  try {
    await client.query('begin');
    const [id] = await finished(1, '2 days');
    const text = (code: string) => `id:ABC sub:001 dlvrd:001 submit date:2501010000 done date:2501010000 stat:DELIVRD err:000 text:Your code ${code}`;
    await client.query(
      `insert into sms_receipt (message_id, raw_message_id, state, text, outbox_id, matched_at, received_at)
       values ('abc', 'ABC', 'DELIVRD', $2, $1, now(), now() - interval '2 days'),
              ('def', 'DEF', 'DELIVRD', $3, null, null, now() - interval '2 days'),
              ('ghi', 'GHI', 'DELIVRD', $4, null, null, now())`,
      [id, text('1111'), text('2222'), text('3333')],
    );
    await client.query(`update sms_settings set redact_after = '1 day'`);
    await redact(client, 100);
    const r = await client.query<{ message_id: string; text: string }>('select message_id, text from sms_receipt order by message_id');
    assert.deepEqual(
      r.rows.map((x) => [x.message_id, x.text.replace(/^.* text:/, 'text:')]),
      [
        ['abc', 'text:'],
        ['def', 'text:'],
        ['ghi', 'text:Your code 3333'],
      ],
    );
    assert.match(r.rows[0]!.text, /^id:ABC sub:001 .* stat:DELIVRD err:000 text:$/, 'the rest of the receipt is kept');
  } finally {
    await client.query('rollback');
    await client.end();
  }
});

test('the settings take NULL (never) or an age of zero or more; a bad batch is 22023', async () => {
  await rejectsWith(tdb.pool.query(`update sms_settings set redact_after = '-1 hour'`), '23514');
  await rejectsWith(tdb.pool.query(`update sms_settings set inbox_redact_after = '-1 second'`), '23514');
  await rejectsWith(tdb.pool.query('select * from sms_redact(0)'), '22023', 'batch');
  await rejectsWith(tdb.pool.query('select * from sms_redact(null)'), '22023', 'batch');
  assert.deepEqual(await redact(tdb.pool, 10), { messages: 0, inbox: 0 }, 'NULL ages: nothing to do');
});

test('the worker role runs the sweep but cannot read the key, compute a hash, or blank a body itself', async () => {
  await redact(workerClient, 10);
  await rejectsWith(workerClient.query('select key from sms_private.redaction_key'), '42501');
  await rejectsWith(workerClient.query(`select sms_private.body_hash('x')`), '42501');
  await rejectsWith(workerClient.query(`update sms_outbox set body = '' where false`), '42501');
  const key = (await tdb.pool.query<{ n: number }>('select octet_length(key) as n from sms_private.redaction_key')).rows[0]!.n;
  assert.equal(key, 48, 'three random uuids');
});
