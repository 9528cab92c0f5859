/**
 * The names of the metrics a worker exports (Node's default process metrics aside), read from a
 * real WorkerMetrics with every collector attached: the list the docs and the alerts are checked
 * against.
 */
import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import type { SmppSession } from '../../src/smpp/session.js';
import { WorkerMetrics } from '../../src/worker/metrics.js';

export function workerMetricNames(): string[] {
  const metrics = new WorkerMetrics();
  const fakeSession = Object.assign(new EventEmitter(), { state: 'bound', isBound: true, windowInUse: 0, currentWindow: 10, queuedParts: 0 });
  metrics.attachSession(fakeSession as unknown as SmppSession, 10);
  metrics.attachDatabase({} as Kysely<Database>);
  return metrics.registry
    .getMetricsAsArray()
    .map((m) => (m as unknown as { name: string }).name)
    .filter((n) => /^(sms|smpp)_/.test(n))
    .sort();
}
