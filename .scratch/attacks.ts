import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { connectAs, createTestDatabase } from '../test/support/db.js';
import { TestRoles } from '../test/sql/helpers.js';

const tdb = await createTestDatabase();
const roles = new TestRoles();
const pw = randomBytes(8).toString('hex');
const worker = await connectAs(tdb.url, await roles.create({ login: pw, memberOf: ['sms_worker'] }), pw);
const reader = await connectAs(tdb.url, await roles.create({ login: pw, memberOf: ['sms_reader'] }), pw);
const sender = await connectAs(tdb.url, await roles.create({ login: pw, memberOf: ['sms_sender'] }), pw);
async function attempt(who: string, c: pg.Client, label: string, sql: string, params: unknown[] = []) {
  try {
    const r = await c.query(sql, params);
    console.log(`ALLOWED  ${who}: ${label} -> ${JSON.stringify(r.rows).slice(0, 160)}`);
  } catch (e) {
    console.log(`refused  ${who}: ${label} -> ${(e as { code?: string }).code} ${(e as Error).message.slice(0, 100)}`);
  }
}
await tdb.pool.query(`select sms_opt_out('+79991110001')`);
await attempt('worker', worker, 'set session_replication_role = replica', `set session_replication_role = replica`);
await attempt('worker', worker, 'alter table sms_inbox disable trigger', `alter table sms_inbox disable trigger sms_inbox_keyword`);
await attempt('worker', worker, 'truncate sms_opt_out', `truncate sms_opt_out`);
await attempt('worker', worker, 'delete from sms_opt_out', `delete from sms_opt_out`);
await attempt('worker', worker, 'insert sms_opt_out_log', `insert into sms_opt_out_log (recipient, action, source, changed) values ('79991110001','opt_in','keyword',true)`);
await attempt('worker', worker, 'call sms_private.change_opt_out', `select sms_private.change_opt_out(false, '79991110001', 'keyword', 'START', null, null)`);
await attempt('worker', worker, 'call the keyword trigger function', `select sms_private.inbox_keyword()`);
await attempt('worker', worker, 'create temp table sms_inbox then store', `create temp table sms_inbox (like public.sms_inbox); select sms_inbound_store('79991110009', '1234', 'hello', false, null, 'gsm7', 1, 0)`);
await attempt('worker', worker, 'insert into sms_inbox_set', `insert into sms_inbox_set (sender, recipient, ref, total, part_hashes) values ('1','2',1,2,'{}')`);
await attempt('worker', worker, 'read sms_private.redaction_key', `select * from sms_private.redaction_key`);
await attempt('worker', worker, 'update parked row (mark replay)', `update sms_inbound_parked set replay_requested_at = now()`);
await attempt('worker', worker, 'sms_inbound_store forged START (relay path)', `select sms_inbound_store('79991110001', '1234', 'START', false, null, 'gsm7', 1, 0)`);
console.log('  opted out after that:', (await tdb.pool.query(`select count(*)::int n from sms_opt_out where recipient = '79991110001'`)).rows[0].n);
await attempt('reader', reader, 'sms_inbound_store', `select sms_inbound_store('79991110002', '1234', 'STOP', false, null, 'gsm7', 1, 0)`);
await attempt('reader', reader, 'sms_inbound_part', `select * from sms_inbound_part('79991110002', '1234', 1, 2, 1, 0, 'ST')`);
await attempt('reader', reader, 'insert into sms_inbox', `insert into sms_inbox (sender, recipient, body, encoding, parts) values ('79991110002','1','STOP','gsm7',1)`);
await attempt('reader', reader, 'sms_private.part_hash', `select sms_private.part_hash(0, 'x')`);
await attempt('reader', reader, 'read sms_inbox_set', `select count(*) from sms_inbox_set`);
await attempt('reader', reader, 'read sms_outbox_secret', `select * from sms_outbox_secret`);
await attempt('reader', reader, 'sms_opt_in', `select sms_opt_in('+79991110003')`);
await attempt('sender', sender, 'sms_inbound_store', `select sms_inbound_store('79991110002', '1234', 'STOP', false, null, 'gsm7', 1, 0)`);
await attempt('sender', sender, 'read sms_inbox', `select count(*) from sms_inbox`);
await attempt('sender', sender, 'sms_opt_out someone (documented: allowed)', `select sms_opt_out('+79991110004')`);
// A flood of copies of one part of an assembled set.
await worker.query(`select * from sms_inbound_part('79991110005', '1234', 7, 2, 1, 0, 'aa')`);
const done = await worker.query(`select * from sms_inbound_part('79991110005', '1234', 7, 2, 2, 0, 'bb')`);
await worker.query(`select sms_inbound_store('79991110005', '1234', 'aabb', false, 'aabb', 'gsm7', 2, 0, 7)`);
const t0 = Date.now();
for (let i = 0; i < 2000; i++) await worker.query(`select status from sms_inbound_part('79991110005', '1234', 7, 2, 2, 0, 'bb')`);
console.log(`2000 copies of an assembled part: ${Date.now() - t0} ms;`, JSON.stringify((await tdb.pool.query(`select (select count(*) from sms_inbox where sender='79991110005') rows, (select duplicate_parts from sms_inbox where sender='79991110005') dups, (select count(*) from sms_inbox_part) staged`)).rows[0]), done.rows[0].status);
// Same key, other data_coding for the part: not a duplicate.
console.log('same bytes, other data_coding:', (await worker.query(`select status from sms_inbound_part('79991110005', '1234', 7, 2, 2, 8, 'bb')`)).rows[0].status);
for (const c of [worker, reader, sender]) await c.end();
await tdb.drop();
await roles.dropAll();
