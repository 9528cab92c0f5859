/**
 * Inbound traffic Postgres cannot store as it is, sent by the simulator over TCP to the worker as
 * a real child process (logged in as a role that has only sms_worker): text with U+0000 or an
 * unpaired surrogate, a row a trigger refuses, a stale part with a NUL, a transient failure, and
 * malformed PDUs carrying a PIN. Nothing may stall what comes behind, nothing may be lost, and no
 * message text may reach the log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createLogin, type Login } from '../support/logins.js';
import { startBoundWorker, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { scrape, waitFor } from '../ops/helpers.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { CMD } from '../../src/smpp/pdu.js';
import { encodePdu } from '../../src/smpp/smpp-lib.js';
import { encodeUcs2 } from '../../src/smpp/ucs2.js';
import { encodeGsm7 } from '../../src/smpp/gsm7.js';
import { decodeInboundPdu } from '../../src/smpp/inbound.js';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let metricsPort: number;
let login: Login;

/** Message text that must never appear in the worker's log, in any form. */
const SECRETS = ['PIN 90417', 'PIN 55102', 'PIN 38164', 'PIN 72209', 'PIN 64470'];

async function send(recipient: string, body: string): Promise<string> {
  const { rows } = await tdb.pool.query<{ id: string }>('select sms_send($1, $2) as id', [recipient, body]);
  return rows[0]!.id;
}

/** A deliver_sm body (after the header) with these fields. */
function deliverBody(fields: Record<string, unknown>): Buffer {
  return encodePdu('deliver_sm', 1, { source_addr: '79990000000', destination_addr: 'TestBrand', ...fields }).subarray(16);
}

/** Waits until the simulator has `n` deliver_sm answered, and returns their statuses. */
async function answered(n: number, timeoutMs = 60_000): Promise<number[]> {
  await waitFor(`${n} deliver_sm answered`, async () => sim.received.deliverResps.length >= n, timeoutMs, 20).catch((err: Error) => {
    throw new Error(`${err.message}: ${sim.received.deliverResps.length} answered`);
  });
  return sim.received.deliverResps.map((d) => d.status);
}

async function inbox(sender: string): Promise<Record<string, unknown>[]> {
  return (await tdb.pool.query('select * from sms_inbox where sender = $1 order by received_at', [sender])).rows;
}

async function parked(): Promise<Record<string, unknown>[]> {
  return (await tdb.pool.query('select * from sms_inbound_parked order by id')).rows;
}

/** A trigger of the operator's on sms_inbox that refuses one kind of message. */
async function refuseBodiesContaining(marker: string): Promise<void> {
  await tdb.pool.query(`
    create or replace function test_refuse_marked() returns trigger language plpgsql as $$
    begin
      if new.body like '%${marker}%' then
        raise exception 'the app refused this incoming SMS' using errcode = '22023';
      end if;
      return new;
    end $$`);
  await tdb.pool.query('drop trigger if exists test_refuse_marked on sms_inbox');
  await tdb.pool.query('create trigger test_refuse_marked before insert on sms_inbox for each row execute function test_refuse_marked()');
}

async function stopRefusing(): Promise<void> {
  await tdb.pool.query('drop trigger if exists test_refuse_marked on sms_inbox');
}

async function runReconcile(): Promise<void> {
  await tdb.pool.query(`select graphile_worker.add_job('sms_reconcile')`);
}

async function reconcileErrors(): Promise<string[]> {
  const { rows } = await tdb.pool.query<{ last_error: string }>(
    `select last_error from graphile_worker.jobs where task_identifier = 'sms_reconcile' and last_error is not null`,
  );
  return rows.map((r) => r.last_error);
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'TestBrand'`);
  login = await createLogin(tdb.url, 'sms_worker');
  // A deliver_sm left unanswered 10 s (the simulator's default) would be sent again, and its
  // second answer would break the exact counts below: on a loaded machine the worker may take
  // that long (what is tested here is what it answers, not redelivery after a timeout).
  sim = await startSimulator({ receiptDelayMs: 10, redeliverDelayMs: 200, deliverTimeoutMs: 120_000 });
  ({ worker, metricsPort } = await startBoundWorker({
    DATABASE_URL: login.url,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_RECONNECT_MAX_S: '1',
  }));
});

after(async () => {
  await worker?.stop();
  await sim?.stop();
  await tdb?.drop();
  await login?.drop();
});

test('U+0000 and unpaired surrogates in incoming SMS and receipts: stored with U+FFFD and the bytes, nothing behind them waits', async () => {
  sim.clear();
  const latin1 = `${SECRETS[0]}\u0000!`;
  const ucs2 = `Код\u0000${SECRETS[1]}`;
  const long = `${'Часть первая. '.repeat(5)}\u0000${'часть вторая. '.repeat(5)}`;
  sim.sendMo({ source: '79991110001', destination: 'TestBrand', text: latin1, dataCoding: 0x03 });
  sim.sendMo({ source: '79991110002', destination: 'TestBrand', text: ucs2, dataCoding: 0x08 });
  sim.sendMo({ source: '79991110003', destination: 'TestBrand', text: long, dataCoding: 0x08, concat: { parts: 2 } });
  const receiptText = (id: string) => `id:${id} sub:001 dlvrd:001 submit date:2501010000 done date:2501010000 stat:DELIVRD err:000 text:a\u0000b`;
  sim.sendRawRequest(CMD.deliver_sm, deliverBody({ esm_class: 0x04, short_message: Buffer.from(receiptText('NUL0001'), 'latin1') }));
  sim.sendRawRequest(CMD.deliver_sm, deliverBody({ esm_class: 0x04, short_message: Buffer.from('id:12\u000034 stat:UNDELIV err:001', 'latin1') }));
  sim.sendRawRequest(CMD.deliver_sm, deliverBody({ esm_class: 0x04, data_coding: 0x08, short_message: encodeUcs2('id:A\uD800B stat:DELIVRD err:000 text:\uDC00') }));
  // Behind them: an ordinary incoming SMS and the receipt of a message the worker sends now.
  sim.sendMo({ source: '79991110004', destination: 'TestBrand', text: 'after the poison' });
  const id = await send('+79991110005', 'sent after the poison');
  await waitForStatuses(tdb.pool, [id], ['delivered'], 15_000);
  const statuses = await answered(9);
  assert.deepEqual(statuses, new Array(9).fill(0), 'every deliver_sm answered ESME_ROK');

  const [a] = await inbox('79991110001');
  assert.equal(a!.body, `${SECRETS[0]}\uFFFD!`);
  assert.equal(a!.body_replaced, true);
  assert.deepEqual(a!.payload, Buffer.from(latin1, 'latin1'), 'the bytes as received, NUL included');
  assert.equal(a!.encoding, 'latin1');
  const [b] = await inbox('79991110002');
  assert.equal(b!.body, `Код\uFFFD${SECRETS[1]}`);
  assert.deepEqual(b!.payload, encodeUcs2(ucs2));
  const [c] = await inbox('79991110003');
  assert.equal(c!.parts, 2);
  assert.equal(c!.body, long.replace('\u0000', '\uFFFD'));
  assert.equal(c!.body_replaced, true);
  assert.deepEqual(c!.payload, encodeUcs2(long), 'both parts\' bytes, joined');
  const [d] = await inbox('79991110004');
  assert.deepEqual([d!.body, d!.body_replaced, d!.payload], ['after the poison', false, encodeGsm7('after the poison')]);

  const { rows: receipts } = await tdb.pool.query<{ raw_message_id: string; text: string }>(
    `select raw_message_id, text from sms_receipt where matched_at is null order by id`,
  );
  assert.deepEqual(
    receipts.map((r) => r.raw_message_id),
    ['NUL0001', '12\uFFFD34', 'A\uFFFDB'],
  );
  assert.ok(receipts[0]!.text.endsWith('text:a\uFFFDb'));
  assert.deepEqual(await parked(), [], 'nothing needed parking');
});

test('a stale sms_inbox_part with a NUL: sms_reconcile assembles it, and the job succeeds', async () => {
  const payload = Buffer.from('stale\u0000part', 'latin1');
  await tdb.pool.query(
    `insert into sms_inbox_part (sender, recipient, ref, total, seq, data_coding, payload, received_at)
     values ('79991110010', 'TestBrand', 7, 2, 1, 3, $1, now() - interval '11 minutes')`,
    [payload],
  );
  await runReconcile();
  const [row] = await waitFor(
    'the stale set assembled',
    async () => {
      const errors = await reconcileErrors();
      assert.deepEqual(errors, [], 'sms_reconcile failed');
      const rows = await inbox('79991110010');
      return rows.length ? rows : undefined;
    },
    20_000,
  );
  assert.equal(row!.body, 'stale\uFFFDpart…');
  assert.equal(row!.missing_parts, 1);
  assert.equal(row!.body_replaced, true);
  assert.deepEqual(row!.payload, payload);
  const left = await tdb.pool.query(`select count(*)::int as n from sms_inbox_part where sender = '79991110010'`);
  assert.equal(left.rows[0].n, 0);
  assert.deepEqual(await reconcileErrors(), []);
});

test('a row Postgres refuses is parked with its error and acknowledged, the rest of its batch stored; replayed once the cause is fixed', async () => {
  sim.clear();
  const before = await scrape(metricsPort);
  await refuseBodiesContaining('REFUSE-ME');
  try {
    for (let i = 0; i < 30; i++) {
      const text = i === 13 ? `REFUSE-ME ${SECRETS[2]}` : `batch message ${i}`;
      sim.sendMo({ source: `7999222${String(i).padStart(4, '0')}`, destination: 'TestBrand', text });
    }
    const statuses = await answered(30);
    assert.deepEqual(statuses, new Array(30).fill(0), 'all 30 acknowledged, the refused one too (it is durable, parked)');
    const stored = await tdb.pool.query(`select count(*)::int as n from sms_inbox where sender like '7999222%'`);
    assert.equal(stored.rows[0].n, 29);
    const rows = await parked();
    assert.equal(rows.length, 1);
    const p = rows[0]!;
    assert.deepEqual([p.kind, p.error_code, p.error_message, p.attempts, p.sender, p.recipient], ['mo', '22023', 'the app refused this incoming SMS', 1, '79992220013', 'TestBrand']);
    assert.equal(p.command_id, CMD.deliver_sm);
    const event = decodeInboundPdu(p.pdu as Buffer);
    assert.ok(event.kind === 'mo' && event.part.text === `REFUSE-ME ${SECRETS[2]}`, 'the whole PDU is kept');
    const after = await scrape(metricsPort);
    assert.equal(after.value('smpp_inbound_parked_total', { kind: 'mo' }) - before.value('smpp_inbound_parked_total', { kind: 'mo' }), 1);
    // The log line comes through the worker's stdout, possibly after the row and the metric.
    const line = await waitFor('the parking logged', () => worker.logs.find((l) => /parked in sms_inbound_parked/.test(String(l.msg))));
    assert.deepEqual([line.parkedId, line.command, line.kind], [String(p.id), 'deliver_sm', 'mo']);

    // Replayed while the cause is still there: refused again, kept, one attempt more.
    await assert.rejects(tdb.pool.query('select sms_inbound_replay(-1)'), (err: Error & { code?: string }) => {
      assert.equal(err.code, '22023');
      assert.match(err.message, /parked_id -1: no such row in sms_inbound_parked/);
      return true;
    });
    assert.equal((await tdb.pool.query('select sms_inbound_replay($1) as n', [p.id])).rows[0].n, 1);
    const again = await waitFor('the replay to fail', async () => {
      const [r] = await parked();
      return r && r.attempts === 2 ? r : undefined;
    });
    assert.equal(again.replay_requested_at, null);
    assert.equal(again.error_code, '22023');
    assert.deepEqual(await reconcileErrors(), [], 'a refused replay does not fail the job');
  } finally {
    await stopRefusing();
  }
  // Fixed: replayed into sms_inbox, and gone from the parked rows.
  assert.equal((await tdb.pool.query('select sms_inbound_replay() as n')).rows[0].n, 1);
  await waitFor('the replay to store it', async () => (await parked()).length === 0);
  const [row] = await inbox('79992220013');
  assert.equal(row!.body, `REFUSE-ME ${SECRETS[2]}`);
});

test('a stale set whose assembly Postgres refuses is parked by sms_reconcile with its parts, the others assembled; replayed later', async () => {
  await refuseBodiesContaining('REFUSE-SET');
  try {
    const part = (sender: string, seq: number, text: string) =>
      tdb.pool.query(
        `insert into sms_inbox_part (sender, recipient, ref, total, seq, data_coding, payload, received_at)
         values ($1, 'TestBrand', 9, 3, $2, 0, $3, now() - interval '11 minutes')`,
        [sender, seq, encodeGsm7(text)],
      );
    await part('79993330001', 1, 'REFUSE-SET ');
    await part('79993330001', 3, SECRETS[3]!);
    await part('79993330002', 1, 'fine ');
    await part('79993330002', 2, 'set');
    await runReconcile();
    const [p] = await waitFor('the set parked', async () => {
      const rows = await parked();
      return rows.length ? rows : undefined;
    });
    assert.deepEqual([p!.kind, p!.sender, p!.concat_ref, p!.concat_total, p!.data_coding, p!.part_seqs, p!.error_code], ['mo_set', '79993330001', 9, 3, 0, [1, 3], '22023']);
    assert.deepEqual(p!.part_payloads, [encodeGsm7('REFUSE-SET '), encodeGsm7(SECRETS[3]!)]);
    const [fine] = await waitFor('the other set assembled', async () => {
      const rows = await inbox('79993330002');
      return rows.length ? rows : undefined;
    });
    assert.equal(fine!.body, 'fine set…');
    const left = await tdb.pool.query(`select count(*)::int as n from sms_inbox_part where sender like '7999333%'`);
    assert.equal(left.rows[0].n, 0, 'both sets left the staging table');
    assert.deepEqual(await reconcileErrors(), []);
    // The line comes from the worker's process, through its stdout: it may reach us after the row.
    await waitFor('the parking logged', async () => worker.logs.some((l) => /its parts are parked/.test(String(l.msg)) && l.parkedId === String(p!.id)));
  } finally {
    await stopRefusing();
  }
  await tdb.pool.query('select sms_inbound_replay()');
  await waitFor('the set replayed', async () => (await parked()).length === 0);
  const [row] = await inbox('79993330001');
  assert.deepEqual([row!.body, row!.parts, row!.missing_parts], [`REFUSE-SET …${SECRETS[3]}`, 3, 1]);
});

test('a transient failure (deadlock detected) retries the whole batch: nothing parked, stored once it clears', async () => {
  sim.clear();
  await tdb.pool.query('create table test_fail_switch (on_ boolean not null)');
  await tdb.pool.query('insert into test_fail_switch values (true)');
  await tdb.pool.query(`
    create function test_fail_transiently() returns trigger language plpgsql security definer set search_path = public as $$
    begin
      if (select on_ from test_fail_switch) then
        raise exception 'deadlock detected (simulated)' using errcode = '40P01';
      end if;
      return new;
    end $$`);
  await tdb.pool.query('create trigger test_fail_transiently before insert on sms_inbox for each row execute function test_fail_transiently()');
  try {
    for (let i = 0; i < 5; i++) sim.sendMo({ source: `7999444000${i}`, destination: 'TestBrand', text: `retry me ${i}` });
    await waitFor('the worker to retry', async () => worker.logs.filter((l) => /writing receipts and incoming SMS to Postgres failed; retrying/.test(String(l.msg))).length >= 2);
    assert.equal(sim.received.deliverResps.length, 0, 'nothing acknowledged while it cannot be stored');
    assert.deepEqual(await parked(), []);
    await tdb.pool.query('update test_fail_switch set on_ = false');
    assert.deepEqual(await answered(5), [0, 0, 0, 0, 0]);
    const stored = await tdb.pool.query(`select count(*)::int as n from sms_inbox where sender like '7999444%'`);
    assert.equal(stored.rows[0].n, 5);
    assert.deepEqual(await parked(), [], 'a transient error parks nothing');
    const retryLine = worker.logs.find((l) => /writing receipts and incoming SMS to Postgres failed/.test(String(l.msg)))!;
    assert.deepEqual(retryLine.error, { type: 'DatabaseError', message: 'deadlock detected (simulated)', code: '40P01' }, 'the error without its detail');
  } finally {
    await tdb.pool.query('drop trigger if exists test_fail_transiently on sms_inbox');
  }
});

test('malformed PDUs are answered and logged by their header, never their bytes', async () => {
  sim.clear();
  const pin = Buffer.from(`Your bank ${SECRETS[4]}, never share it`, 'latin1');
  // sm_length runs past the end of the PDU.
  const bad = deliverBody({ short_message: pin });
  bad[bad.length - pin.length - 1] = 250;
  sim.sendRawRequest(CMD.deliver_sm, bad);
  // A data_sm whose message_payload TLV claims more than there is.
  const data = encodePdu('data_sm', 1, { source_addr: '79990000000', destination_addr: 'TestBrand', message_payload: pin }).subarray(16);
  data.writeUInt16BE(pin.length + 40, data.length - pin.length - 2);
  sim.sendRawRequest(CMD.data_sm, data);
  assert.deepEqual(await answered(2), [0x02, 0x02], 'answered ESME_RINVCMDLEN');
  // The log lines come through the worker's stdout, possibly after the answers.
  const unreadable = await waitFor('both logged', async () => {
    const lines = worker.logs.filter((l) => /^unreadable (deliver_sm|data_sm) from the SMSC/.test(String(l.msg)));
    return lines.length >= 2 ? lines : undefined;
  });
  assert.equal(unreadable.length, 2);
  assert.deepEqual(
    unreadable.map((l) => [l.command, l.commandLength, l.problem]),
    [
      ['deliver_sm', 16 + bad.length, 'PduFormatError: short_message: sm_length 250 runs past the end of the PDU'],
      ['data_sm', 16 + data.length, `PduFormatError: TLV 0x0424: length ${pin.length + 40} runs past the end of the PDU`],
    ],
  );
  // Garbage where a header should be: framing is lost, the session reconnects.
  sim.sendRaw(Buffer.concat([pin, pin]));
  await worker.waitForLog(/garbage on the SMPP stream/);
  await waitFor('a new bind', async () => sim.boundSessions === 1 && sim.received.binds.length >= 1);
  sim.sendMo({ source: '79995550099', destination: 'TestBrand', text: 'still reading' });
  await waitFor('the next SMS stored', async () => (await inbox('79995550099')).length === 1);
});

test('no message text reached the log', () => {
  const output = `${worker.logs.map((l) => JSON.stringify(l)).join('\n')}\n${worker.stderr()}`;
  for (const secret of SECRETS) {
    for (const form of [secret, Buffer.from(secret, 'latin1').toString('hex'), encodeUcs2(secret).toString('hex'), Buffer.from(secret).toString('base64')]) {
      assert.ok(!output.includes(form), `the log holds "${secret}" (as ${form})`);
    }
  }
  assert.ok(worker.logs.length > 10, 'the worker did log');
});
