/**
 * The simulator's control port as an operator uses it: `sms-outbox simulator --control-port 0`
 * as a real process, a real worker process bound to it, and plain HTTP requests. Incoming SMS
 * (short, long, Cyrillic) land in sms_inbox; a receipt with a chosen state, a forced disconnect
 * and injected submit errors reach the messages; bad requests get a 400 naming the field, and
 * requests that need a bound worker get a 409 before one is bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { ROOT, runCli, waitFor } from '../ops/helpers.js';
import { cliArgs } from '../support/cli.js';
import { startSimulatorProcess } from '../support/simulator-process.js';

let tdb: TestDatabase;
let simulator: ChildProcess;
let simulatorExit: Promise<number | null>;
let smppPort: number;
let control: string;
let worker: WorkerProcess | undefined;

interface Answer {
  status: number;
  body: Record<string, any>;
}

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${control}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function send(recipient: string, body: string): Promise<string> {
  const { rows } = await tdb.pool.query<{ id: string }>('select sms_send($1, $2) as id', [recipient, body]);
  return rows[0]!.id;
}

async function startWorker(): Promise<WorkerProcess> {
  const w = startWorkerProcess({
    DATABASE_URL: tdb.url,
    SMPP_URL: `smpp://ctl:ctl@127.0.0.1:${smppPort}`,
    SMPP_RECONNECT_MAX_S: '1',
  });
  await w.waitForLog(/SMPP session bound/);
  return w;
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Control'`);
  simulator = spawn(process.execPath, cliArgs(['simulator', '--port', '0', '--control-port', '0', '--receipt-delay-ms', '20']), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  simulatorExit = new Promise((resolve) => simulator.on('exit', (code) => resolve(code)));
  let out = '';
  simulator.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor('the simulator to print its ports', async () => /control port listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 20_000);
  smppPort = Number(/SMSC simulator listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  control = `http://127.0.0.1:${/control port listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]}`;
});

after(async () => {
  await worker?.stop();
  simulator?.kill('SIGTERM');
  assert.equal(await simulatorExit, 0, 'the simulator stops cleanly on SIGTERM');
  await tdb?.drop();
});

describe('before a worker is bound', () => {
  test('GET / lists the endpoints and GET /state shows no session', async () => {
    const index = await call('GET', '/');
    assert.equal(index.status, 200);
    for (const e of ['GET /state', 'POST /mo', 'POST /auto-reply', 'POST /receipt', 'POST /disconnect', 'POST /fail-next', 'POST /config']) assert.ok(e in index.body.endpoints, e);
    const state = await call('GET', '/state');
    assert.equal(state.status, 200);
    assert.deepEqual(state.body.smpp, { host: '127.0.0.1', port: smppPort });
    assert.deepEqual(state.body.sessions, []);
  });

  test('an incoming SMS or a receipt with nobody bound is 409, saying to start the worker', async () => {
    const mo = await call('POST', '/mo', { from: '+79991234567', to: '1234', text: 'hello' });
    assert.equal(mo.status, 409);
    assert.match(mo.body.error, /no SMPP session is bound to receive it: start the worker/);
    const receipt = await call('POST', '/receipt', { message_id: 'ABC' });
    assert.equal(receipt.status, 409);
    const disconnect = await call('POST', '/disconnect', {});
    assert.equal(disconnect.status, 409);
  });

  test('bad requests are 400 naming the field', async () => {
    const cases: [string, unknown, string, RegExp][] = [
      ['/mo', { to: '1234', text: 'x' }, 'from', /^from: expected a phone number .*got nothing$/],
      ['/mo', { from: '+7999', to: '1234', text: '' }, 'text', /^text: expected a non-empty string, got ""$/],
      ['/mo', { from: '+7999', to: '1234', text: 42 }, 'text', /^text: expected a non-empty string, got 42$/],
      ['/mo', { from: '+7999', to: 'twelve chars', text: 'x' }, 'to', /^to: expected .*alphanumeric name of 1 to 11/],
      ['/mo', { from: '+7999', to: '1234', text: 'x', txt: 'y' }, 'txt', /^txt: unknown field; this endpoint takes from, to, text, lose_ack$/],
      ['/mo', { from: '+7999', to: '1234', text: 'x', lose_ack: 'yes' }, 'lose_ack', /^lose_ack: expected true or false, got "yes"$/],
      ['/auto-reply', { number: 'Shop', text: 'Away' }, 'number', /^number: expected a phone number/],
      ['/auto-reply', { number: '+79990000016', text: '' }, 'text', /^text: expected a non-empty string, or null/],
      ['/mo', { from: '+7999', to: '1234', text: 'x'.repeat(153 * 255 + 1) }, 'text', /^text: needs 256 parts; one concatenated SMS has at most 255$/],
      ['/receipt', { message_id: '' }, 'message_id', /^message_id: expected the SMSC message id/],
      ['/receipt', { message_id: 'A1', state: 'LOST' }, 'state', /^state: expected DELIVRD, UNDELIV, .*got "LOST"$/],
      ['/fail-next', { command_status: 'ESME_NOPE' }, 'command_status', /^command_status: expected an SMPP command_status/],
      ['/fail-next', { command_status: 0 }, 'command_status', /ESME_ROK is what the simulator answers anyway/],
      ['/fail-next', { command_status: 11, count: -1 }, 'count', /^count: expected a whole number/],
      ['/disconnect', { how: 'slam' }, 'how', /^how: expected "close" .* or "unbind"/],
      ['/config', { response_delay_ms: -1 }, 'response_delay_ms', /^response_delay_ms: expected milliseconds from 0 to 86400000, got -1$/],
      ['/config', { throttle_rate: 2 }, 'throttle_rate', /^throttle_rate: expected a share of submit_sm from 0 to 1, got 2$/],
      ['/config', { refuse_validity_period: 'yes' }, 'refuse_validity_period', /^refuse_validity_period: expected true .* or false, got "yes"$/],
    ];
    for (const [path, body, field, message] of cases) {
      const r = await call('POST', path, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, field);
      assert.match(r.body.error, message);
    }
    const notJson = await call('POST', '/mo', '{"from": ');
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.error, /^the body is not JSON .*send e\.g\. \{"from": \.\.\., "to": \.\.\., "text": \.\.\., "lose_ack": \.\.\.\}$/);
    const array = await call('POST', '/mo', '[]');
    assert.equal(array.status, 400);
    assert.equal(array.body.error, 'the body must be a JSON object');
    const limit = await call('GET', '/submits?limit=0');
    assert.equal(limit.status, 400);
    assert.equal(limit.body.field, 'limit');
  });

  test('unknown paths are 404 with the endpoints, wrong methods 405', async () => {
    const missing = await call('GET', '/nope');
    assert.equal(missing.status, 404);
    assert.ok(missing.body.endpoints);
    const wrong = await call('GET', '/mo');
    assert.equal(wrong.status, 405);
    assert.match(wrong.body.error, /use POST/);
  });
});

describe('with a worker bound', () => {
  before(async () => {
    worker = await startWorker();
  });

  test('POST /mo: a short Latin SMS is acknowledged and stored', async () => {
    const r = await call('POST', '/mo', { from: '+79991234567', to: '1234', text: 'Hello from a handset' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { parts: 1, encoding: 'gsm7', data_coding: 0, acknowledged: [{ part: 1, command_status: 'ESME_ROK' }] });
    // The answer comes after the worker's deliver_sm_resp, which comes after the commit.
    const { rows } = await tdb.pool.query(`select sender, recipient, body, encoding, parts, missing_parts from sms_inbox where body = 'Hello from a handset'`);
    assert.deepEqual(rows, [{ sender: '79991234567', recipient: '1234', body: 'Hello from a handset', encoding: 'gsm7', parts: 1, missing_parts: 0 }]);
  });

  test('POST /mo: a long Cyrillic SMS goes as concatenated UCS-2 parts and is stored as one row', async () => {
    const text = 'Здравствуйте! Подтверждаю запись на приём в пятницу в 15:00. Если что-то изменится, напишу заранее. Спасибо!';
    assert.ok(text.length > 70);
    const r = await call('POST', '/mo', { from: '79990001122', to: 'MyShop', text });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.parts, 2);
    assert.equal(r.body.encoding, 'ucs2');
    assert.equal(r.body.data_coding, 8);
    assert.equal(typeof r.body.reference, 'number');
    assert.deepEqual(r.body.acknowledged.map((a: { command_status: string }) => a.command_status), ['ESME_ROK', 'ESME_ROK']);
    const { rows } = await tdb.pool.query(`select sender, recipient, body, encoding, parts, missing_parts from sms_inbox where sender = '79990001122'`);
    assert.deepEqual(rows, [{ sender: '79990001122', recipient: 'MyShop', body: text, encoding: 'ucs2', parts: 2, missing_parts: 0 }]);
  });

  test('POST /mo lose_ack: the worker\'s answer is taken as lost, the SMS comes again after a reconnect and is stored once', async () => {
    const before = (await call('GET', '/state')).body.counters;
    const answered = call('POST', '/mo', { from: '+79991230099', to: '79000000001', text: 'ДА', lose_ack: true });
    await waitFor('the SMS to be stored', async () => (await tdb.pool.query(`select 1 from sms_inbox where sender = '79991230099'`)).rowCount === 1);
    await waitFor('its answer to be taken as lost', async () => (await call('GET', '/state')).body.counters.acks_lost > before.acks_lost);
    await call('POST', '/disconnect', {});
    const r = await answered;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.acknowledged, [{ part: 1, command_status: 'ESME_ROK' }], 'the copy was answered');
    const after = (await call('GET', '/state')).body.counters;
    assert.equal(after.redeliveries, before.redeliveries + 1);
    const { rows } = await tdb.pool.query(`select body, deliveries from sms_inbox where sender = '79991230099'`);
    assert.deepEqual(rows, [{ body: 'ДА', deliveries: 2 }]);
  });

  test('POST /auto-reply: the number answers every message it gets, until removed', async () => {
    const set = await call('POST', '/auto-reply', { number: '+79990000016', text: 'I am away until Monday' });
    assert.deepEqual(set.body, { auto_replies: { '79990000016': 'I am away until Monday' } });
    assert.deepEqual((await call('GET', '/state')).body.auto_replies, { '79990000016': 'I am away until Monday' });
    const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+79990000016', 'Your table is booked', sender => '79000000001') as id`);
    const answer = await waitFor('the auto-reply to be stored', async () =>
      (await tdb.pool.query(`select sender, recipient, body, in_reply_to from sms_inbox where sender = '79990000016'`)).rows[0],
    );
    assert.deepEqual(answer, { sender: '79990000016', recipient: '79000000001', body: 'I am away until Monday', in_reply_to: rows[0]!.id });
    assert.deepEqual((await call('POST', '/auto-reply', { number: '79990000016', text: null })).body, { auto_replies: {} });
  });

  test('GET /submits shows what the worker submitted, with the SMSC ids', async () => {
    const id = await send('+79990000011', 'Seen on the wire');
    await waitForStatuses(tdb.pool, [id], ['delivered']);
    const r = await call('GET', '/submits?limit=1');
    assert.equal(r.status, 200);
    assert.equal(r.body.submits.length, 1);
    const [s] = r.body.submits;
    const { rows } = await tdb.pool.query('select message_ids from sms_status($1)', [id]);
    assert.equal(s.destination, '79990000011');
    assert.equal(s.source, 'Control');
    assert.equal(s.text, 'Seen on the wire');
    assert.equal(s.command_status, 'ESME_ROK');
    assert.deepEqual([s.message_id], rows[0].message_ids);
    assert.ok(!Number.isNaN(Date.parse(s.at)));
  });

  test('POST /receipt: a receipt with a chosen state for a message id decides its status', async () => {
    const off = await call('POST', '/config', { receipts: false });
    assert.equal(off.status, 200);
    assert.equal(off.body.receipts.on, false);
    try {
      const id = await send('+79990000012', 'Waiting for a receipt');
      await waitForStatuses(tdb.pool, [id], ['sent']);
      const { rows } = await tdb.pool.query<{ message_ids: string[] }>('select message_ids from sms_status($1)', [id]);
      const r = await call('POST', '/receipt', { message_id: rows[0]!.message_ids[0], state: 'undeliv', err: '012' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { message_id: rows[0]!.message_ids[0], state: 'UNDELIV', acknowledged: 'ESME_ROK' });
      const after = await tdb.pool.query('select status, receipt_state, receipt_error from sms_status($1)', [id]);
      assert.deepEqual(after.rows[0], { status: 'undelivered', receipt_state: 'UNDELIV', receipt_error: '012' });
    } finally {
      await call('POST', '/config', { receipts: true });
    }
  });

  test('POST /fail-next: the next submit is refused with the chosen command_status', async () => {
    const r = await call('POST', '/fail-next', { command_status: 'ESME_RINVDSTADR' });
    assert.deepEqual(r.body, { count: 1, command_status: 'ESME_RINVDSTADR', kind: 'permanent' });
    assert.deepEqual((await call('GET', '/state')).body.fail_next, { count: 1, command_status: 'ESME_RINVDSTADR' });
    const id = await send('+79990000013', 'Refused once');
    await waitForStatuses(tdb.pool, [id], ['failed']);
    const { rows } = await tdb.pool.query('select error_code from sms_status($1)', [id]);
    assert.equal(rows[0].error_code, 'ESME_RINVDSTADR');
    assert.equal((await call('GET', '/state')).body.fail_next, null, 'used up');
    // A transient one given by number: retried, then delivered.
    assert.equal((await call('POST', '/fail-next', { command_status: '0x08' })).body.command_status, 'ESME_RSYSERR');
    const retried = await send('+79990000014', 'Refused, then retried');
    await waitForStatuses(tdb.pool, [retried], ['delivered'], 30_000);
    const attempts = await tdb.pool.query('select attempts from sms_status($1)', [retried]);
    assert.equal(attempts.rows[0].attempts, 2);
  });

  test('POST /disconnect: the worker reconnects and binds again', async () => {
    const before = (await call('GET', '/state')).body;
    assert.equal(before.sessions.length, 1);
    assert.deepEqual(before.sessions[0], { system_id: 'ctl', bind: 'transceiver', bound: true, unanswered_submits: 0 });
    const r = await call('POST', '/disconnect', {});
    assert.deepEqual(r.body, { how: 'close', connections: 1 });
    const rebound = await waitFor('the worker to bind again', async () => {
      const s = (await call('GET', '/state')).body;
      return s.counters.binds > before.counters.binds && s.sessions.some((x: { bound: boolean }) => x.bound) ? s : undefined;
    });
    assert.equal(rebound.counters.connections, before.counters.connections + 1);
    const id = await send('+79990000015', 'After the reconnect');
    await waitForStatuses(tdb.pool, [id], ['delivered']);
  });

  test('POST /config refuse_binds: the next bind is refused with that status until cleared', async () => {
    await call('POST', '/config', { refuse_binds: 'ESME_RINVPASWD' });
    try {
      const binds = (await call('GET', '/state')).body.counters.binds;
      await call('POST', '/disconnect', { how: 'unbind' });
      await worker!.waitForLog(/SMSC refused the bind/, 20_000);
      const s = (await call('GET', '/state')).body;
      assert.equal(s.refuse_binds, 'ESME_RINVPASWD');
      assert.ok(s.counters.binds > binds);
      assert.ok(!s.sessions.some((x: { bound: boolean }) => x.bound));
    } finally {
      assert.equal((await call('POST', '/config', { refuse_binds: null })).body.refuse_binds, null);
    }
    await waitFor('the worker to bind again', async () => (await call('GET', '/state')).body.sessions.some((x: { bound: boolean }) => x.bound), 30_000);
  });
});

describe('a carrier\'s round trip', () => {
  test('POST /config response_delay_ms holds each submit_sm_resp that long; the message is sent after it', async () => {
    const set = await call('POST', '/config', { response_delay_ms: 300 });
    assert.equal(set.status, 200);
    assert.equal(set.body.response_delay_ms, 300);
    try {
      const id = await send('+79990000021', 'After a round trip');
      await waitForStatuses(tdb.pool, [id], ['sent', 'delivered']);
      const arrived = (await call('GET', '/submits?limit=1')).body.submits[0];
      assert.equal(arrived.destination, '79990000021');
      // The outcome is written once the response is in: at least the delay after the arrival.
      const { rows } = await tdb.pool.query<{ submitted_at: Date }>('select submitted_at from sms_outbox where id = $1', [id]);
      const waited = rows[0]!.submitted_at.getTime() - Date.parse(arrived.at);
      assert.ok(waited >= 299, `sent ${waited} ms after the submit_sm arrived`);
    } finally {
      assert.equal((await call('POST', '/config', { response_delay_ms: 0 })).body.response_delay_ms, 0);
    }
  });

  test('--response-delay-ms sets it at start; a bad value is a usage error (64)', async () => {
    const sim = await startSimulatorProcess(['--response-delay-ms', '50']);
    try {
      assert.equal((await sim.call('GET', '/state')).body.response_delay_ms, 50);
    } finally {
      assert.equal(await sim.stop(), 0);
    }
    const bad = await runCli({}, ['simulator', '--response-delay-ms', 'soon']);
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /--response-delay-ms/);
  });
});

describe('the command line', () => {
  test('a bad --control-port is a usage error (64); a taken one says so (78)', async () => {
    const bad = await runCli({}, ['simulator', '--control-port', 'x']);
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /^sms-outbox simulator: --control-port expects a whole number from 0 to 65535, got "x"$/m);
    const taken = new URL(control).port;
    const busy = await runCli({}, ['simulator', '--port', '0', '--control-port', taken]);
    assert.equal(busy.code, 78);
    assert.equal(busy.stderr.trim(), `sms-outbox simulator: --control-port: cannot listen on 127.0.0.1:${taken}: the port is already in use (EADDRINUSE)`);
  });
});
