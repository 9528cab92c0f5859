/**
 * The SMSC simulator in a worker thread for the benchmarks: its own event loop (and core), so it
 * does not compete with the benchmark's clients. It records when each benchmark message's (first)
 * submit_sm arrived, epoch ms at microsecond resolution, by its destination number, which the
 * benchmark makes unique per message; and, asked to, sends incoming SMS and times their answers
 * (`bench --inbound`). Nothing is redelivered: an answer that comes late is still the answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startSimulator } from '../simulator/index.js';

const { receiptDelayMs, responseDelayMs } = workerData as { receiptDelayMs: number; responseDelayMs?: number };
const arrivals = new Map<number, number>();
const sim = await startSimulator({ record: false, receiptDelayMs, responseDelayMs: responseDelayMs ?? 0, redeliver: false });
sim.on('arrival', (destination: string, at: number) => {
  const n = Number(destination.slice(-9));
  if (!arrivals.has(n)) arrivals.set(n, performance.timeOrigin + at);
});

/** Incoming SMS from `count` phones (first + i) to `to`, all at once; resolves when every one is answered. */
function sendMo(first: number, count: number, to: string, text: string): Promise<{ ms: number; refused: number }> {
  const started = performance.now();
  let answered = 0;
  let refused = 0;
  return new Promise((resolve) => {
    for (let i = 0; i < count; i++) {
      sim.sendMo({
        source: String(first + i),
        destination: to,
        text: text.replace('%i', String(i)),
        onResponse: (_seq, status) => {
          if (status !== 0) refused++;
          if (++answered === count) resolve({ ms: performance.now() - started, refused });
        },
      });
    }
  });
}

parentPort!.postMessage({ kind: 'ready', port: sim.port });
parentPort!.on('message', async (msg: { kind: string; first?: number; count?: number; to?: string; text?: string }) => {
  if (msg.kind === 'arrivals') {
    parentPort!.postMessage({ kind: 'arrivals', arrivals: [...arrivals], counters: sim.counters });
  } else if (msg.kind === 'counts') {
    parentPort!.postMessage({ kind: 'counts', distinct: arrivals.size, counters: sim.counters });
  } else if (msg.kind === 'mo') {
    const done = await sendMo(msg.first!, msg.count!, msg.to!, msg.text!);
    parentPort!.postMessage({ kind: 'mo', ...done });
  } else if (msg.kind === 'stop') {
    await sim.stop();
    parentPort!.close();
  }
});
