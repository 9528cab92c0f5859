/**
 * Inbound back-pressure, end to end: the worker as a real child process, Postgres locked for 10 s
 * (a test connection holds ACCESS EXCLUSIVE on the inbound tables), the simulator flooding
 * deliver_sm over TCP. The worker must stop reading at SMPP_INBOUND_WINDOW unanswered, and store
 * and acknowledge everything once the lock is gone.
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
import { scrape, sleep, waitFor } from '../ops/helpers.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { encodePdu } from '../../src/smpp/smpp-lib.js';
import { encodeGsm7 } from '../../src/smpp/gsm7.js';

const WINDOW = 200;
const FLOOD = 8000;
const LOCK_MS = 10_000;
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

/** Octets the process owning the TCP socket `localPort` → `remotePort` has read from it so far. */
function octetsRead(localPort: number, remotePort: number): number {
  const out = execFileSync('ss', ['-tinH', 'state', 'established', 'sport', '=', `:${localPort}`, 'dport', '=', `:${remotePort}`], { encoding: 'utf8' });
  const queued = /^\s*(\d+)\s/.exec(out);
  const received = /bytes_received:(\d+)/.exec(out);
  if (!queued) throw new Error(`no TCP socket ${localPort} -> ${remotePort} in: ${out}`);
  return Number(received?.[1] ?? 0) - Number(queued[1]);
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
  }));
});

after(async () => {
  await worker?.stop();
  await sim?.stop();
  await tdb?.drop();
});

test(`Postgres locked for 10 s under a flood of ${FLOOD} deliver_sm: at most SMPP_INBOUND_WINDOW=${WINDOW} held, all stored after`, async (t) => {
  const pduSize = encodePdu('deliver_sm', 1, { source_addr: '79990000001', destination_addr: 'TestBrand', message_payload: encodeGsm7(text(0)) }).length;
  // Node reads a socket 64 KiB at a time: what one read brought in beyond the window waits in
  // the worker's buffer as bytes (not as handlers), and the stream may hold one more read.
  const slack = Math.ceil((2 * 65536) / pduSize);

  const rssBefore = Math.round(peakRssKb(worker.child.pid!) / 1024);
  const locker = new pg.Client({ connectionString: tdb.url });
  await locker.connect();
  await locker.query('begin');
  await locker.query('lock table sms_inbox, sms_inbox_part, sms_receipt in access exclusive mode');
  const lockedAt = Date.now();

  sim.clear();
  const [socket] = sim.sockets();
  assert.ok(socket, 'the worker is connected');
  // The worker's end of the connection: from its port to the simulator's.
  const readBefore = octetsRead(socket.remotePort, socket.localPort);
  for (let i = 0; i < FLOOD; i++) sim.sendMo({ source: '79990000001', destination: 'TestBrand', text: text(i), messagePayload: true });

  let maxHeld = 0;
  let pendingMetric = -1;
  let pauses = -1;
  // Mid-lock, the metrics say the window is full and reading paused (looked at until they do,
  // at most until the lock ends; the assertions below then say what they last said).
  const scraped = waitFor(
    'the window full and reading paused, in the metrics',
    async () => {
      const s = await scrape(metricsPort);
      pendingMetric = s.has('smpp_inbound_pending') ? s.value('smpp_inbound_pending') : -1;
      pauses = s.has('smpp_inbound_read_pauses_total') ? s.value('smpp_inbound_read_pauses_total') : -1;
      return pendingMetric === WINDOW && pauses >= 1;
    },
    LOCK_MS - 1000,
  ).catch(() => {});
  while (Date.now() - lockedAt < LOCK_MS) {
    const readByWorker = Math.floor((octetsRead(socket.remotePort, socket.localPort) - readBefore) / pduSize);
    maxHeld = Math.max(maxHeld, readByWorker - sim.counters.deliverResps);
    await sleep(20);
  }
  await scraped;
  const peakDuringLock = peakRssKb(worker.child.pid!);
  const answeredDuringLock = sim.counters.deliverResps;
  await locker.query('commit');
  await locker.end();
  t.diagnostic(
    `window ${WINDOW}, PDU ${pduSize} octets: at most ${maxHeld} deliver_sm read and unanswered during the lock (bound ${WINDOW} + ${slack} for one socket read); ` +
      `smpp_inbound_pending ${pendingMetric} mid-lock; worker peak RSS (VmHWM) ${rssBefore} MB before the flood, ${Math.round(peakDuringLock / 1024)} MB at the end of the lock`,
  );
  assert.ok(maxHeld <= WINDOW + slack, `held ${maxHeld} > ${WINDOW} + ${slack}`);
  assert.ok(maxHeld >= WINDOW, `the flood filled the window (held at most ${maxHeld})`);
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
