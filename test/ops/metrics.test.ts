/**
 * /metrics of a real worker process: scrape, send messages through the simulator, scrape again,
 * and check each counter and histogram moved by exactly what went over the wire.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STATUS } from '../../src/smpp/command-status.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { probe, scrape, waitFor, type Scrape } from './helpers.js';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let port: number;
const SMPP_PASSWORD = 'Metrics-Smpp-Pw-31';

async function send(recipient: string, body: string): Promise<string> {
  const { rows } = await tdb.pool.query<{ id: string }>('select sms_send($1, $2) as id', [recipient, body]);
  return rows[0]!.id;
}

/** `after - before` for one series. */
const delta = (a: Scrape, b: Scrape, name: string, labels: Record<string, string> = {}) => b.value(name, labels) - a.value(name, labels);

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Metrics'`);
  sim = await startSimulator({ receiptDelayMs: 20 });
  worker = startWorkerProcess({
    DATABASE_URL: tdb.url,
    SMPP_URL: `smpp://test:${SMPP_PASSWORD}@127.0.0.1:${sim.port}`,
    SMPP_WINDOW: '7',
    // A low account-wide rate, so the rate limiter makes submits wait (and says so).
    SMPP_TPS: '20',
    SMPP_RECONNECT_MAX_S: '1',
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    // The queue gauges read from Postgres on every scrape (not at most every 5 s): the test
    // waits for them to change, not for the cache to lapse.
  }, ['worker'], { hooks: { timing: { metricsCacheMs: 0 } } });
  const started = await worker.waitForLog(/worker started/);
  port = Number(started.metricsPort);
  assert.ok(port > 0, `the "worker started" line carries the bound metrics port (${started.metricsPort})`);
  await waitFor('readiness', async () => (await probe(port, '/readyz')).status === 200);
});

after(async () => {
  assert.equal(await worker?.stop(), 0, 'the worker stops cleanly');
  const output = `${JSON.stringify(worker.logs)}\n${worker.stderr()}`;
  assert.ok(!output.includes(SMPP_PASSWORD), 'the SMPP password never appears in the logs');
  const dbPassword = new URL(tdb.url).password;
  if (dbPassword) assert.ok(!output.includes(dbPassword), 'the database password never appears in the logs');
  await sim?.stop();
  await tdb?.drop();
});

test('an idle worker exposes every series, with known labels at zero', async () => {
  const s = await scrape(port);
  for (const status of ['sent', 'delivered', 'undelivered', 'expired', 'rejected', 'failed']) {
    assert.ok(s.samples.some((x) => x.name === 'sms_messages_total' && x.labels.status === status), `sms_messages_total{status="${status}"} is exported`);
  }
  assert.equal(s.value('smpp_session_bound'), 1);
  assert.equal(s.value('smpp_session_state', { state: 'bound' }), 1);
  assert.equal(s.value('smpp_session_state', { state: 'disconnected' }), 0);
  assert.equal(s.value('smpp_window_limit'), 7);
  assert.equal(s.value('smpp_window_size'), 7);
  assert.equal(s.value('smpp_window_in_use'), 0);
  assert.equal(s.value('smpp_tps_limit'), 20, 'SMPP_TPS as configured');
  for (const what of ['results', 'inbound']) {
    assert.ok(s.samples.some((x) => x.name === 'sms_write_retries_total' && x.labels.what === what && x.value === 0), `sms_write_retries_total{what="${what}"} is 0`);
  }
  assert.equal(s.value('sms_submit_to_receipt_seconds_count'), 0);
  assert.equal(s.value('sms_database_up'), 1);
  assert.equal(s.value('sms_queue_depth'), 0);
  assert.equal(s.value('sms_oldest_queued_age_seconds'), 0);
  const build = s.samples.find((x) => x.name === 'sms_outbox_build_info');
  assert.equal(build?.value, 1);
  assert.match(build!.labels.version!, /^\d+\.\d+\.\d+/);
  assert.ok(s.has('process_resident_memory_bytes'), 'the default process metrics are there');
  assert.match(s.text, /# HELP sms_oldest_queued_age_seconds .+\n# TYPE sms_oldest_queued_age_seconds gauge/);
});

test('counters and histograms move by what went over the wire', async () => {
  sim.configure({ rejectDestinations: { '79990000404': STATUS.ESME_RINVDSTADR }, receiptStates: { '79990000500': 'UNDELIV' } });
  const before = await scrape(port);
  const submitsBefore = sim.counters.submits;

  const delivered = [await send('+79990000001', 'metrics one'), await send('+79990000002', 'metrics two'), await send('+79990000003', 'metrics three')];
  const long = await send('+79990000004', 'x'.repeat(153 * 2 + 10)); // 3 parts
  const failed = await send('+79990000404', 'metrics to a bad number');
  const undelivered = await send('+79990000500', 'metrics phone off');
  await waitForStatuses(tdb.pool, [...delivered, long], ['delivered']);
  await waitForStatuses(tdb.pool, [failed], ['failed']);
  await waitForStatuses(tdb.pool, [undelivered], ['undelivered']);
  // One receipt that surely arrives after its message's submit result committed, so that one is
  // timed whatever the machine's load: the receipts above come 20 ms after their submit_sm_resp
  // and may all overtake their results' commit (then they are matched later, untimed). This one
  // is sent by hand once the message is `sent`.
  sim.configure({ receipts: false });
  const afterResult = await send('+79990000005', 'metrics receipt after the result');
  await waitForStatuses(tdb.pool, [afterResult], ['sent']);
  sim.configure({ receipts: true });
  sim.sendReceipt({ messageId: sim.received.submits.find((x) => x.text === 'metrics receipt after the result')!.messageId!, state: 'DELIVRD' });
  await waitForStatuses(tdb.pool, [afterResult], ['delivered']);
  const pdus = sim.counters.submits - submitsBefore;
  assert.equal(pdus, 3 + 3 + 1 + 1 + 1, 'the simulator saw one PDU per part');

  // The store's commit and its metrics hook are not one atomic step: wait for the counters.
  const after = await waitFor('the counters to catch up', async () => {
    const s = await scrape(port);
    return delta(before, s, 'sms_messages_total', { status: 'delivered' }) === 5 && delta(before, s, 'sms_messages_total', { status: 'undelivered' }) === 1 ? s : undefined;
  });

  assert.equal(delta(before, after, 'sms_messages_total', { status: 'sent' }), 6, 'six messages accepted');
  assert.equal(delta(before, after, 'sms_messages_total', { status: 'failed' }), 1);
  assert.equal(delta(before, after, 'sms_messages_total', { status: 'delivered' }), 5);
  assert.equal(delta(before, after, 'sms_messages_total', { status: 'undelivered' }), 1);
  assert.equal(delta(before, after, 'sms_message_retries_total'), 0);

  assert.equal(delta(before, after, 'smpp_submit_sm_total', { status: 'ESME_ROK', kind: 'ok' }), 8);
  assert.equal(delta(before, after, 'smpp_submit_sm_total', { status: 'ESME_RINVDSTADR', kind: 'permanent' }), 1);
  assert.equal(delta(before, after, 'smpp_submit_sm_total'), pdus);
  assert.equal(delta(before, after, 'smpp_submit_sm_rtt_seconds_count'), pdus, 'one round trip observed per PDU');
  assert.ok(delta(before, after, 'smpp_submit_sm_rtt_seconds_sum') > 0);
  assert.equal(delta(before, after, 'smpp_submit_sm_rtt_seconds_bucket', { le: '+Inf' }), pdus);
  assert.equal(delta(before, after, 'sms_due_to_submit_seconds_count'), 7, 'one dispatch per message');

  // One receipt per accepted part: 3 + 3 + 1 + 1.
  assert.equal(delta(before, after, 'smpp_receipts_total'), 8);
  assert.equal(
    delta(before, after, 'smpp_receipts_total', { matched: 'true' }) + delta(before, after, 'smpp_receipts_total', { matched: 'false' }),
    8,
  );
  // Each receipt that ended its part on arrival is timed from the part's stored submit result
  // (one that raced its own result is matched later and not timed).
  const timed = delta(before, after, 'sms_submit_to_receipt_seconds_count');
  assert.equal(timed, delta(before, after, 'smpp_receipts_total', { matched: 'true' }));
  assert.ok(timed >= 1, 'at least one receipt was timed (the one sent after its result)');
  const timedSum = delta(before, after, 'sms_submit_to_receipt_seconds_sum');
  assert.ok(timedSum > 0 && timedSum / timed < 10, `receipt latency ${timedSum / timed} s on average (the simulator answers in 20 ms)`);
  assert.equal(delta(before, after, 'sms_submit_to_receipt_seconds_bucket', { le: '+Inf' }), timed);
  assert.ok(delta(before, after, 'sms_rate_limit_waits_total') > 0, 'SMPP_TPS=20 made some submits wait');
  assert.ok(delta(before, after, 'sms_rate_limit_wait_seconds_total') > 0);
  assert.equal(after.value('smpp_window_in_use'), 0, 'nothing outstanding once every result is in');
  assert.equal(delta(before, after, 'smpp_throttled_total'), 0);
  assert.equal(delta(before, after, 'smpp_reconnects_total'), 0);

  // Queue gauges are read from Postgres: back to empty.
  const drained = await waitFor('the queue gauges to read empty', async () => {
    const s = await scrape(port);
    return s.value('sms_queue_depth') === 0 && s.value('sms_sending_messages') === 0 && s.value('sms_awaiting_receipt_messages') === 0 ? s : undefined;
  });
  assert.equal(drained.value('sms_oldest_queued_age_seconds'), 0);
  assert.equal(drained.value('sms_database_up'), 1);
});

test('throttling responses are counted once each, by status and as throttled', async () => {
  // Throttle everything until a few throttling responses went out, then nothing.
  sim.configure({ throttleRate: 1, rejectDestinations: {}, receiptStates: {} });
  try {
    const before = await scrape(port);
    const throttledBefore = sim.counters.throttled;
    const { rows } = await tdb.pool.query<{ id: string }>(
      `select sms_send('+7999000100' || i, 'metrics throttled ' || i) as id from generate_series(1, 5) i`,
    );
    await waitFor('three throttling responses', async () => sim.counters.throttled - throttledBefore >= 3, 20_000, 10);
    sim.configure({ throttleRate: 0 });
    await waitForStatuses(tdb.pool, rows.map((r) => r.id), ['delivered'], 30_000);
    const throttled = sim.counters.throttled - throttledBefore;
    const after = await waitFor('the delivered counter', async () => {
      const s = await scrape(port);
      return delta(before, s, 'sms_messages_total', { status: 'delivered' }) === 5 ? s : undefined;
    });
    assert.equal(delta(before, after, 'smpp_throttled_total'), throttled);
    const pauses = delta(before, after, 'smpp_throttle_pauses_total');
    assert.ok(pauses >= 1 && pauses <= throttled, `${pauses} pauses for ${throttled} throttling responses`);
    assert.equal(delta(before, after, 'smpp_submit_sm_total', { status: 'ESME_RTHROTTLED', kind: 'transient' }), throttled);
    assert.equal(delta(before, after, 'smpp_submit_sm_total', { status: 'ESME_ROK' }), 5);
    assert.equal(delta(before, after, 'sms_message_retries_total'), 0, 'throttling is absorbed by the session, not retried');
  } finally {
    sim.configure({ throttleRate: 0 });
  }
});

test('unmatched receipts are counted and exposed as a gauge', async () => {
  const before = await scrape(port);
  sim.sendReceipt({ messageId: 'DEADBEEF01', state: 'DELIVRD' });
  // The gauge is read from Postgres, the counter is the worker's once the receipt's write
  // returned: a scrape between the two sees the row but not yet the count. Wait for both.
  const after = await waitFor('the unmatched receipt counted and in the gauge', async () => {
    const s = await scrape(port);
    return delta(before, s, 'smpp_receipts_total', { matched: 'false' }) >= 1 && s.value('sms_unmatched_receipts') >= 1 ? s : undefined;
  });
  assert.equal(delta(before, after, 'smpp_receipts_total', { matched: 'false' }), 1);
  assert.equal(after.value('sms_unmatched_receipts'), 1);
});

test('a write to Postgres that fails is retried, counted, and nothing is lost', async () => {
  const before = await scrape(port);
  // The inbox table goes away for a moment (in this test's own database): storing an incoming
  // SMS fails until it is back, and the group commit retries the batch with back-off.
  await tdb.pool.query('alter table sms_inbox rename to sms_inbox_away');
  try {
    sim.sendMo({ source: '79990007777', destination: '1234', text: 'metrics retried write' });
    await waitFor('a retried write in the metrics', async () => {
      const s = await scrape(port);
      return delta(before, s, 'sms_write_retries_total', { what: 'inbound' }) >= 1 ? s : undefined;
    });
  } finally {
    await tdb.pool.query('alter table sms_inbox_away rename to sms_inbox');
  }
  await waitFor('the incoming SMS stored once the table is back', async () => {
    const { rows } = await tdb.pool.query(`select 1 from sms_inbox where body = 'metrics retried write'`);
    return rows.length === 1;
  });
  const after = await scrape(port);
  assert.equal(delta(before, after, 'sms_write_retries_total', { what: 'results' }), 0);
  assert.ok(worker.logs.some((l) => /writing receipts and incoming SMS to Postgres failed; retrying/.test(String(l.msg))));
});
