/**
 * The SMSC simulator in a worker thread for the end-to-end benchmark: its own event loop (and
 * core), so it does not compete with the benchmark's clients. It records when each benchmark
 * message's (first) submit_sm arrived, epoch ms at microsecond resolution, by its destination
 * number, which the benchmark makes unique per message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startSimulator } from '../simulator/index.js';

const { receiptDelayMs } = workerData as { receiptDelayMs: number };
const arrivals = new Map<number, number>();
const sim = await startSimulator({ record: false, receiptDelayMs });
sim.on('arrival', (destination: string, at: number) => {
  const n = Number(destination.slice(-9));
  if (!arrivals.has(n)) arrivals.set(n, performance.timeOrigin + at);
});
parentPort!.postMessage({ kind: 'ready', port: sim.port });
parentPort!.on('message', async (msg: { kind: string }) => {
  if (msg.kind === 'arrivals') {
    parentPort!.postMessage({ kind: 'arrivals', arrivals: [...arrivals], counters: sim.counters });
  } else if (msg.kind === 'counts') {
    parentPort!.postMessage({ kind: 'counts', distinct: arrivals.size, counters: sim.counters });
  } else if (msg.kind === 'stop') {
    await sim.stop();
    parentPort!.close();
  }
});
