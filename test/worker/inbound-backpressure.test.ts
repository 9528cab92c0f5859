/**
 * Inbound back-pressure, end to end: the worker as a real child process, Postgres locked (a test
 * connection holds ACCESS EXCLUSIVE on the inbound tables) until the worker has paused reading,
 * the simulator flooding deliver_sm over TCP. The worker must stop reading at
 * SMPP_INBOUND_WINDOW unanswered, and store and acknowledge everything once the lock is gone.
 *
 * What the worker holds is observed from outside it: the octets its socket has handed to the
 * process (the kernel's bytes_received less its receive queue, read with `ss` from iproute2), in
 * flood PDUs, less the deliver_sm_resp the simulator received.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startBoundWorker, type WorkerProcess } from '../support/worker-process.js';
import { probe, scrape, waitFor } from '../ops/helpers.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { encodePdu } from '../../src/smpp/smpp-lib.js';
import { encodeGsm7 } from '../../src/smpp/gsm7.js';

const WINDOW = 200;
/**
 * The worker may read WINDOW + slack of them (below: 264 PDUs of 2057 octets, 0.5 MB). The bound
 * means something only if more was there to read: what it leaves waits in its socket's receive
 * queue (asserted non-empty below), and further back in the simulator's send buffers. 2000 PDUs
 * (4 MB) are more than seven times what it may read, so the window fills and octets are left
 * over whatever the Node.js and kernel buffers take in at the worker's end.
 */
const FLOOD = 2000;
/**
 * Each flood SMS carries 2000 characters in message_payload, so every PDU has the same size; each
 * text is its own (a copy of one already stored would be counted as the SMSC delivering it again,
 * sms_settings.redelivery_window).
 */
const text = (i: number) => 'x'.repeat(1994) + String(i).padStart(6, '0');

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let metricsPort: number;

/**
 * The TCP socket `localPort` → `remotePort`: octets the process owning it has read from it so
 * far, and octets the kernel holds for it unread (its receive queue).
 */
function socketReads(localPort: number, remotePort: number): { read: number; unread: number } {
  const out = execFileSync('ss', ['-tinH', 'state', 'established', 'sport', '=', `:${localPort}`, 'dport', '=', `:${remotePort}`], { encoding: 'utf8' });
  const queued = /^\s*(\d+)\s/.exec(out);
  const received = /bytes_received:(\d+)/.exec(out);
  if (!queued) throw new Error(`no TCP socket ${localPort} -> ${remotePort} in: ${out}`);
  return { read: Number(received?.[1] ?? 0) - Number(queued[1]), unread: Number(queued[1]) };
}

function peakRssKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

before(async () => {
  tdb = await createTestDatabase();
  // No redelivery during the test: an unanswered deliver_sm must wait, not be sent twice.
  sim = await startSimulator({ deliverTimeoutMs: 600_000, record: false });
  ({ worker, metricsPort } = await startBoundWorker({
    DATABASE_URL: tdb.url,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_INBOUND_WINDOW: String(WINDOW),
    // The session logs its read pause at debug (src/smpp/inbound-window.ts): what the test waits for.
    LOG_LEVEL: 'debug',
  }));
});

after(async () => {
  await worker?.stop();
  await sim?.stop();
  await tdb?.drop();
});

test(`Postgres locked under a flood of ${FLOOD} deliver_sm until the worker pauses reading: at most SMPP_INBOUND_WINDOW=${WINDOW} held, all stored after`, async (t) => {
  const pduSize = encodePdu('deliver_sm', 1, { source_addr: '79990000001', destination_addr: 'TestBrand', message_payload: encodeGsm7(text(0)) }).length;
  // Node reads a socket 64 KiB at a time: what the read that filled the window brought in beyond
  // it waits in the worker's buffer as bytes (not as handlers), under 64 KiB. After pause() Node
  // goes on reading into the stream's buffer until it holds readableHighWaterMark octets; the
  // worker's socket has that at 1 (src/smpp/link.ts), so one more read of at most 64 KiB, on every
  // Node version. (With the default, 64 KiB from Node 22, a short read could be followed by
  // another: up to 64 + 64 + 64 KiB, as seen on Node 26: held 269.)
  const slack = Math.ceil((2 * 65536) / pduSize);

  const rssBefore = Math.round(peakRssKb(worker.child.pid!) / 1024);
  const locker = new pg.Client({ connectionString: tdb.url });
  await locker.connect();
  await locker.query('begin');
  await locker.query('lock table sms_inbox, sms_inbox_part, sms_receipt in access exclusive mode');

  sim.clear();
  const [socket] = sim.sockets();
  assert.ok(socket, 'the worker is connected');
  // The worker's end of the connection: from its port to the simulator's.
  const reads = () => socketReads(socket.remotePort, socket.localPort);
  const readBefore = reads().read;
  const paused = worker.waitForLog(/inbound window full/);
  for (let i = 0; i < FLOOD; i++) sim.sendMo({ source: '79990000001', destination: 'TestBrand', text: text(i), messagePayload: true });

  // The session pauses reading once the window is full (and logs it); the metrics say so too.
  // A scrape takes up to 3 s mid-lock: the queue gauges read the locked sms_receipt.
  await paused;
  let pendingMetric = -1;
  let pauses = -1;
  const scraped = waitFor('the window full and reading paused, in the metrics', async () => {
    const s = await scrape(metricsPort);
    pendingMetric = s.has('smpp_inbound_pending') ? s.value('smpp_inbound_pending') : -1;
    pauses = s.has('smpp_inbound_read_pauses_total') ? s.value('smpp_inbound_read_pauses_total') : -1;
    return pendingMetric === WINDOW && pauses >= 1;
  });

  // Paused, the stream may still take in one more read; then the worker reads the socket again
  // only once half the window is answered, which the lock prevents. That it has stopped is shown
  // by events, not by time: with octets waiting in its receive queue, an HTTP request answered
  // (a turn of the worker's event loop, which reads every socket it is reading) took none.
  let maxHeld = 0;
  let last = reads();
  const held = (octets: number) => Math.floor((octets - readBefore) / pduSize) - sim.counters.deliverResps;
  await waitFor('the worker to leave waiting octets unread while it answers a request', async () => {
    const before = reads();
    await probe(metricsPort, '/healthz');
    last = reads();
    maxHeld = Math.max(maxHeld, held(before.read), held(last.read));
    return before.unread > 0 && last.read === before.read;
  });
  await scraped;
  const peakDuringLock = peakRssKb(worker.child.pid!);
  const answeredDuringLock = sim.counters.deliverResps;
  await locker.query('commit');
  await locker.end();
  t.diagnostic(
    `window ${WINDOW}, PDU ${pduSize} octets: at most ${maxHeld} deliver_sm read and unanswered during the lock (bound ${WINDOW} + ${slack}: the rest of the read that filled the window and one more read), ` +
      `${last.unread} octets left unread in its receive queue; ` +
      `smpp_inbound_pending ${pendingMetric} mid-lock; worker peak RSS (VmHWM) ${rssBefore} MB before the flood, ${Math.round(peakDuringLock / 1024)} MB at the end of the lock`,
  );
  assert.ok(maxHeld <= WINDOW + slack, `held ${maxHeld} > ${WINDOW} + ${slack}`);
  assert.ok(maxHeld >= WINDOW, `the flood filled the window (held at most ${maxHeld})`);
  assert.ok(last.unread > 0, 'the flood left octets the worker did not read');
  assert.equal(pendingMetric, WINDOW, 'the worker holds exactly the window while Postgres is locked');
  assert.ok(pauses >= 1, 'the pause is counted');
  assert.equal(answeredDuringLock, 0, 'nothing acknowledged while Postgres is locked');

  await waitFor(`all ${FLOOD} acknowledged`, async () => sim.counters.deliverResps >= FLOOD, 180_000);
  const { rows } = await tdb.pool.query<{ rows: number; texts: number; deliveries: number }>(
    `select count(*)::int as rows, count(distinct body)::int as texts, sum(deliveries)::int as deliveries
       from sms_inbox where sender = '79990000001' and body like 'xxx%'`,
  );
  assert.deepEqual(rows[0], { rows: FLOOD, texts: FLOOD, deliveries: FLOOD }, 'every SMS stored once');
  assert.equal(sim.counters.redeliveries, 0);
  const after = await scrape(metricsPort);
  assert.equal(after.value('smpp_inbound_pending'), 0);
  t.diagnostic(`worker peak RSS (VmHWM) ${Math.round(peakRssKb(worker.child.pid!) / 1024)} MB after storing the flood`);
});
