/**
 * What reaches sms_inbox comes from the SMSC, once: a real Postgres, the worker as a real child
 * process logged in as a role that holds nothing but sms_worker, the SMSC simulator over TCP.
 *
 * - Opting in or out by SMS cannot be forged with the worker role's table rights: a second login
 *   granted sms_worker (as an operator might give a tool, or as the worker's own password would
 *   serve whoever took it) cannot insert a START or a STOP into sms_inbox, stage a part, or
 *   change a stored row; a real STOP and START through the worker still opt out and back in. The
 *   store function the worker calls stays open to the role (SMPP gives no proof of what the SMSC
 *   sent), and what a keyword stored through it does names the login that stored it.
 * - A part of a concatenated SMS delivered again after its set was assembled is counted on that
 *   SMS and never becomes a second, partial one, also once the reassembly timeout has passed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { startBoundWorker, type WorkerProcess } from '../support/worker-process.js';
import { rejectsWith, TestRoles } from '../sql/helpers.js';
import { scrape, waitFor } from '../ops/helpers.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let metricsPort: number;
/** A login holding nothing but sms_worker, other than the worker's own. */
let hostile: pg.Client;
let workerLogin: string;
let hostileLogin: string;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Shop'`);
  sim = await startSimulator({ receiptDelayMs: 10 });
  workerLogin = await roles.create({ login: password, memberOf: ['sms_worker'] });
  const u = new URL(tdb.url);
  u.username = workerLogin;
  u.password = password;
  ({ worker, metricsPort } = await startBoundWorker({
    DATABASE_URL: u.toString(),
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_RECONNECT_MAX_S: '1',
  }));
  hostileLogin = await roles.create({ login: password, memberOf: ['sms_worker'] });
  hostile = await connectAs(tdb.url, hostileLogin, password);
});

after(async () => {
  await hostile?.end();
  await worker?.stop();
  await sim?.stop();
  await tdb?.drop();
  await roles.dropAll();
});

const optedOut = async (phone: string) => (await tdb.pool.query('select source, keyword, actor from sms_opt_out where recipient = $1', [phone])).rows[0] ?? null;
const inboxOf = async (phone: string) =>
  (await tdb.pool.query('select body, parts, missing_parts, keyword_action, deliveries from sms_inbox where sender = $1 order by id', [phone])).rows;

/** An SMS from a phone through the simulator; resolves once the worker acknowledged every part. */
async function mo(from: string, text: string, concat?: { parts: number; ref: number; dropSeq?: number[] }): Promise<number[]> {
  const statuses: number[] = [];
  let expected = 1;
  const sent = sim.sendMo({ source: from, destination: '79001234567', text, concat, onResponse: (_seq, status) => statuses.push(status) });
  expected = sent.total - (concat?.dropSeq?.length ?? 0);
  await waitFor('the worker acknowledged the SMS', async () => (statuses.length >= expected ? true : undefined), 20_000);
  return statuses;
}

test('a login granted the worker role cannot opt anyone in or out: no INSERT, no UPDATE, no staged part', async () => {
  const victim = '79991110001';
  const bystander = '79991110002';
  // The victim opted out by a real STOP.
  assert.deepEqual(await mo(`+${victim}`, 'STOP'), [0]);
  assert.deepEqual(await optedOut(victim), { source: 'keyword', keyword: 'STOP', actor: workerLogin }, 'the login that stored it');

  // Undo that opt-out with a made-up START, or opt someone else out with a made-up STOP.
  await rejectsWith(
    hostile.query(`insert into sms_inbox (sender, recipient, body, encoding, parts) values ($1, '1234', 'START', 'gsm7', 1)`, [victim]),
    '42501',
  );
  await rejectsWith(
    hostile.query(`insert into sms_inbox (sender, recipient, body, encoding, parts) values ($1, '1234', 'STOP', 'gsm7', 1)`, [bystander]),
    '42501',
  );
  // Rewrite the stored STOP: its text, its sender, what it did.
  await rejectsWith(hostile.query(`update sms_inbox set body = 'START' where sender = $1`, [victim]), '42501');
  await rejectsWith(hostile.query(`update sms_inbox set sender = $1`, [bystander]), '42501');
  await rejectsWith(hostile.query(`update sms_inbox set keyword_action = 'opt_in'`), '42501');
  // Stage a part for the worker to assemble into a START, or change a staged one.
  await rejectsWith(
    hostile.query(`insert into sms_inbox_part (sender, recipient, ref, total, seq, data_coding, payload) values ($1, '1234', 9, 2, 1, 0, 'STA')`, [victim]),
    '42501',
  );
  await rejectsWith(hostile.query(`update sms_inbox_part set payload = 'START'`), '42501');
  // Nor through the opt-out list or the operator's function.
  await rejectsWith(hostile.query(`delete from sms_opt_out where recipient = $1`, [victim]), '42501');
  await rejectsWith(hostile.query(`select sms_opt_in($1)`, [victim]), '42501');

  assert.deepEqual(await optedOut(victim), { source: 'keyword', keyword: 'STOP', actor: workerLogin }, 'still opted out');
  assert.equal(await optedOut(bystander), null, 'nobody else opted out');
  assert.deepEqual(
    (await inboxOf(victim)).map((r) => [r.body, r.keyword_action]),
    [['STOP', 'opt_out']],
  );

  // What the role is for remains: handing over what the SMSC sent, which SMPP cannot prove. A
  // keyword relayed that way names the login that relayed it.
  await hostile.query(`select sms_inbound_store($1, '1234', 'STOP', false, null, 'gsm7', 1, 0)`, [bystander]);
  assert.deepEqual(await optedOut(bystander), { source: 'keyword', keyword: 'STOP', actor: hostileLogin });

  // The victim's own START, delivered by the SMSC, opts it back in.
  assert.deepEqual(await mo(victim, 'Start'), [0]);
  assert.equal(await optedOut(victim), null);
  assert.deepEqual(
    (await inboxOf(victim)).map((r) => [r.body, r.keyword_action]),
    [
      ['STOP', 'opt_out'],
      ['Start', 'opt_in'],
    ],
  );
});

test('a part delivered again after its set was assembled is counted on the SMS, and never assembled into a second one', async () => {
  const phone = '79991110003';
  const text = 'Please deliver my order to the back door, the front one is being painted today. '.repeat(3).trim();
  assert.deepEqual(await mo(phone, text, { parts: 2, ref: 0x42 }), [0, 0]);
  assert.deepEqual(await inboxOf(phone), [{ body: text, parts: 2, missing_parts: 0, keyword_action: null, deliveries: 1 }]);

  // The SMSC delivers the last part again (the acknowledgement of it was lost).
  assert.deepEqual(await mo(phone, text, { parts: 2, ref: 0x42, dropSeq: [1] }), [0], 'acknowledged');

  // Past the reassembly timeout, sms_reconcile finds nothing to assemble.
  await tdb.pool.query(`update sms_inbox_part set received_at = now() - interval '1 hour'`);
  await tdb.pool.query(`select graphile_worker.add_job('sms_reconcile', job_key => 'inbound-trust')`);
  await waitFor(
    'sms_reconcile ran',
    async () => ((await tdb.pool.query(`select 1 from graphile_worker.jobs where key = 'inbound-trust'`)).rowCount === 0 ? true : undefined),
    20_000,
  );
  assert.deepEqual(await inboxOf(phone), [{ body: text, parts: 2, missing_parts: 0, keyword_action: null, deliveries: 1 }], 'still one SMS, whole');
  const staged = await tdb.pool.query('select seq from sms_inbox_part where sender = $1', [phone]);
  assert.deepEqual(staged.rows, [], 'the duplicate was never staged');
  const counted = await tdb.pool.query('select duplicate_parts from sms_inbox where sender = $1', [phone]);
  assert.deepEqual(counted.rows, [{ duplicate_parts: 1 }], 'counted on the SMS');
  assert.equal((await scrape(metricsPort)).value('sms_inbox_duplicate_parts_total'), 1);

  // The same reference with other text later is a new SMS, assembled as usual.
  const next = 'A new message that happens to reuse the concatenation reference of the one before it, as phones do.';
  assert.deepEqual(await mo(phone, next, { parts: 2, ref: 0x42 }), [0, 0]);
  assert.deepEqual(
    (await tdb.pool.query('select body, missing_parts, duplicate_parts from sms_inbox where sender = $1 order by id', [phone])).rows.map((r) => [r.body, r.missing_parts, r.duplicate_parts]),
    [
      [text, 0, 1],
      [next, 0, 0],
    ],
  );
});

test('a concatenated STOP whose acknowledgements were lost: the SMSC sends both parts again, and the number is opted out once', async () => {
  const phone = '79991110004';
  sim.configure({ deliverTimeoutMs: 500 });
  try {
    sim.sendMo({ source: phone, destination: '79001234567', text: 'STOP', concat: { parts: 2, ref: 0x43 }, loseAcks: 1 });
    const counted = await waitFor(
      'both parts delivered again and counted',
      async () => {
        const { rows } = await tdb.pool.query('select body, parts, keyword_action, duplicate_parts, deliveries from sms_inbox where sender = $1', [phone]);
        return rows.length === 1 && rows[0].duplicate_parts === 2 ? rows : undefined;
      },
      20_000,
    );
    assert.deepEqual(counted, [{ body: 'STOP', parts: 2, keyword_action: 'opt_out', duplicate_parts: 2, deliveries: 1 }]);
    const log = await tdb.pool.query('select action, changed from sms_opt_out_log where recipient = $1', [phone]);
    assert.deepEqual(log.rows, [{ action: 'opt_out', changed: true }], 'one keyword action');
    assert.equal((await tdb.pool.query('select 1 from sms_inbox_part where sender = $1', [phone])).rowCount, 0);
  } finally {
    sim.configure({ deliverTimeoutMs: 10_000 });
  }
});
