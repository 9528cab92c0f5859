/**
 * `sms-outbox bench --soak`: whether throughput holds after a lot of traffic. A million messages
 * (by default) go through sms_send, a worker process, the simulator and back as receipts, while
 * the housekeeping runs every few seconds instead of every minute or hour: the purge (with a
 * retention of seconds), the expiry sweep, the reconcile of unmatched receipts and the
 * redaction (sms_settings.redact_after of seconds). One message in a hundred is given an
 * expiry too short to make it, so the claim and the sweep expire some.
 *
 * The apps enqueue as fast as they can while fewer than `backlog` messages are unfinished, so the
 * queue stays bounded and the rate measured is the worker's. Every tenth of the messages
 * finished (delivered, expired or otherwise final), it records the rate of that slice, the size
 * of each table and its indexes, dead tuples and autovacuum runs: the last slice's rate should
 * be within 10% of the first's, and the sizes should level off, not grow with the total.
 *
 * The tasks run in this process, through the same functions the Graphile Worker tasks call
 * (src/tasks, src/db), as the role DATABASE_URL logs in with.
 */
import { loadavg } from 'node:os';
import type pg from 'pg';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { createDb } from '../db/pool.js';
import { startRig, unfinished, type BenchOptions } from './e2e.js';
import { processCpuSeconds } from './pg-costs.js';

export interface SoakOptions extends BenchOptions {
  /** Most messages unfinished at once (the apps wait above it). */
  backlog: number;
  /** How often each housekeeping task runs. */
  taskIntervalMs: number;
  /** Finished messages (and receipts) are purged this long after they finished. */
  retentionSeconds: number;
  /** sms_settings.redact_after. */
  redactAfterSeconds: number;
  /**
   * The housekeeping tasks (src/tasks), passed in by the command line, which wires them (bench/
   * stands below tasks/). Each runs on this database handle with a retention and a redaction age
   * of `retentionSeconds` and `redactAfterSeconds`.
   */
  housekeeping: SoakHousekeeping;
}

/** One run of each task; each returns how many rows it changed (receipts matched, for reconcile). */
export interface SoakHousekeeping {
  purge(db: Kysely<Database>, retentionSeconds: number): Promise<number>;
  expire(db: Kysely<Database>): Promise<number>;
  reconcile(db: Kysely<Database>): Promise<number>;
  redact(db: Kysely<Database>): Promise<number>;
}

export interface SoakSlice {
  /** 1..10 */
  slice: number;
  /** Messages finished in this slice per second. */
  perSecond: number;
  seconds: number;
  /** Bytes at the end of the slice. */
  outboxHeapBytes: number;
  outboxIndexBytes: number;
  partBytes: number;
  receiptBytes: number;
  /** The largest index of sms_outbox and its size. */
  largestIndex: string;
  /** Rows live and dead in sms_outbox at the end of the slice (pg_stat_user_tables). */
  outboxLive: number;
  outboxDead: number;
  /** Autovacuum / autoanalyze runs of sms_outbox so far. */
  autovacuums: number;
  autoanalyzes: number;
  /** WAL written during the slice per message finished (server-wide). */
  walBytesPerMessage: number;
  loadAverage1m: number;
}

export interface SoakResult {
  server: string;
  /** The server's autovacuum setting: with it off, nothing reclaims the dead rows of the queue. */
  autovacuum: string;
  /** The scratch database it ran in (dropped at the end). */
  scratchDatabase: string;
  messages: number;
  finished: { delivered: number; expired: number; other: number };
  seconds: number;
  perSecond: number;
  slices: SoakSlice[];
  /** Last slice's rate over the first's. */
  lastOverFirst: number;
  tasks: { purged: number; expired: number; reconciled: number; redacted: number; runs: number; failures: number };
  workerPeakRssMb: number;
  workerCpuMsPerMessage: number;
  duplicates: number;
  indexBytesAtEnd: Record<string, number>;
}

const BODIES = ['Your code: %s. Do not share it.', 'Ваш код: %s. Никому его не сообщайте.', 'MyShop: %s is your login code'];
const body = (n: number) => BODIES[n % BODIES.length]!.replace('%s', String(1000 + (n % 9000)));
const destination = (n: number) => `+7988${String(n % 10_000_000).padStart(7, '0')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sizes {
  outboxHeapBytes: number;
  outboxIndexBytes: number;
  partBytes: number;
  receiptBytes: number;
  indexes: Record<string, number>;
  live: number;
  dead: number;
  autovacuums: number;
  autoanalyzes: number;
  lsn: string;
}

async function sizes(pool: pg.Pool): Promise<Sizes> {
  const client = await pool.connect();
  try {
    await client.query('select pg_stat_clear_snapshot()');
    const { rows } = await client.query<{
      heap: string;
      idx: string;
      part: string;
      receipt: string;
      indexes: Record<string, number>;
      live: string;
      dead: string;
      av: string;
      aa: string;
      lsn: string;
    }>(`
      select pg_relation_size('public.sms_outbox') as heap,
             pg_indexes_size('public.sms_outbox') as idx,
             pg_total_relation_size('public.sms_outbox_part') as part,
             pg_total_relation_size('public.sms_receipt') as receipt,
             (select json_object_agg(indexrelname, pg_relation_size(indexrelid)) from pg_stat_user_indexes where relname = 'sms_outbox') as indexes,
             s.n_live_tup as live, s.n_dead_tup as dead, s.autovacuum_count as av, s.autoanalyze_count as aa,
             pg_current_wal_insert_lsn()::text as lsn
        from pg_stat_user_tables s where s.relid = 'public.sms_outbox'::regclass`);
    const r = rows[0]!;
    return {
      outboxHeapBytes: Number(r.heap),
      outboxIndexBytes: Number(r.idx),
      partBytes: Number(r.part),
      receiptBytes: Number(r.receipt),
      indexes: Object.fromEntries(Object.entries(r.indexes).map(([k, v]) => [k, Number(v)])),
      live: Number(r.live),
      dead: Number(r.dead),
      autovacuums: Number(r.av),
      autoanalyzes: Number(r.aa),
      lsn: r.lsn,
    };
  } finally {
    client.release();
  }
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const progress = o.progress ?? (() => {});
  const rig = await startRig(o, 'soak', o.connections + 4, (p) =>
    p.query(`update public.sms_settings set redact_after = make_interval(secs => $1)`, [o.redactAfterSeconds]).then(() => {}),
  );
  const { pool, sim, worker, scratch } = rig;
  const db = createDb(pool);
  let stopping = false;
  try {
    // Housekeeping at short intervals, each task after the previous run ended.
    const tasks = { purged: 0, expired: 0, reconciled: 0, redacted: 0, runs: 0, failures: 0 };
    const every = (name: string, run: () => Promise<void>) => {
      const loop = async () => {
        while (!stopping) {
          await sleep(o.taskIntervalMs);
          if (stopping) break;
          try {
            await run();
            tasks.runs++;
          } catch (err) {
            tasks.failures++;
            log(`${name} failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      };
      return loop();
    };
    const h = o.housekeeping;
    const housekeeping = [
      every('purge', async () => {
        tasks.purged += await h.purge(db, o.retentionSeconds);
      }),
      every('expire', async () => {
        tasks.expired += await h.expire(db);
      }),
      every('reconcile', async () => {
        tasks.reconciled += await h.reconcile(db);
      }),
      every('redact', async () => {
        tasks.redacted += await h.redact(db);
      }),
    ];

    let committed = 0;
    /** Messages finished at least (committed before the count, less those unfinished). */
    const readFinished = async () => {
      const before = committed;
      return before - (await unfinished(pool));
    };

    const autovacuum = (await pool.query<{ a: string }>(`select current_setting('autovacuum') as a`)).rows[0]!.a;
    if (autovacuum !== 'on') log('autovacuum is off on this server: nothing reclaims the dead rows of sms_outbox, so its size grows and the rate falls with it');
    log(`soak: ${o.messages} messages from ${o.connections} connections, at most ${o.backlog} unfinished, window ${o.window}; housekeeping every ${o.taskIntervalMs} ms (retention ${o.retentionSeconds} s, redaction after ${o.redactAfterSeconds} s)`);
    const workerCpuBefore = processCpuSeconds(worker.pid!) ?? 0;
    let next = 0;
    let finished = 0;
    const producers = Promise.all(
      Array.from({ length: o.connections }, async () => {
        const client = await pool.connect();
        try {
          while (next < o.messages) {
            if (committed - finished > o.backlog) {
              await sleep(20);
              continue;
            }
            const n = next++;
            if (n % 100 === 99) {
              await client.query(`select sms_send($1, $2, expires_at => now() + interval '1 second')`, [destination(n), body(n)]);
            } else {
              await client.query('select sms_send($1, $2)', [destination(n), body(n)]);
            }
            committed++;
          }
        } finally {
          client.release();
        }
      }),
    );

    const slices: SoakSlice[] = [];
    const sliceSize = o.messages / 10;
    const started = performance.now();
    let sliceStarted = started;
    let sliceStart = await sizes(pool);
    while (finished < o.messages) {
      await sleep(250);
      finished = Math.max(finished, await readFinished());
      progress('soak', Math.min(finished, o.messages), o.messages);
      while (slices.length < 10 && finished >= (slices.length + 1) * sliceSize) {
        const t = performance.now();
        const s = await sizes(pool);
        const wal = await pool.query<{ d: string }>('select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text as d', [s.lsn, sliceStart.lsn]);
        const [largestIndex, largestBytes] = Object.entries(s.indexes).sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
        slices.push({
          slice: slices.length + 1,
          perSecond: Math.round(sliceSize / ((t - sliceStarted) / 1000)),
          seconds: Math.round(t - sliceStarted) / 1000,
          outboxHeapBytes: s.outboxHeapBytes,
          outboxIndexBytes: s.outboxIndexBytes,
          partBytes: s.partBytes,
          receiptBytes: s.receiptBytes,
          largestIndex: `${largestIndex} ${Math.round(largestBytes / 1024)} kB`,
          outboxLive: s.live,
          outboxDead: s.dead,
          autovacuums: s.autovacuums,
          autoanalyzes: s.autoanalyzes,
          walBytesPerMessage: Math.round(Number(wal.rows[0]!.d) / sliceSize),
          loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
        });
        log(formatSlice(slices.at(-1)!));
        sliceStarted = t;
        sliceStart = s;
      }
    }
    const ended = performance.now();
    await producers;
    const workerCpu = (processCpuSeconds(worker.pid!) ?? 0) - workerCpuBefore;
    stopping = true;
    await Promise.all(housekeeping);
    const counts = await sim.counts();
    const end = await sizes(pool);
    const { rows: fin } = await pool.query<{ status: string; n: string }>(`select status, count(*) as n from public.sms_outbox group by status`);
    const byStatus = Object.fromEntries(fin.map((r) => [r.status, Number(r.n)]));
    const first = slices[0]!.perSecond;
    const last = slices.at(-1)!.perSecond;
    return {
      server: o.url.replace(/\/\/[^@]*@/, '//'),
      scratchDatabase: scratch,
      autovacuum,
      messages: o.messages,
      // What is still in the table (the rest was purged): the expired ones are counted by the tasks too.
      finished: { delivered: byStatus.delivered ?? 0, expired: byStatus.expired ?? 0, other: Object.entries(byStatus).filter(([k]) => k !== 'delivered' && k !== 'expired').reduce((a, [, n]) => a + n, 0) },
      seconds: Math.round(ended - started) / 1000,
      perSecond: Math.round(o.messages / ((ended - started) / 1000)),
      slices,
      lastOverFirst: Math.round((last / first) * 1000) / 1000,
      tasks,
      workerPeakRssMb: Math.round(rig.peakRssMb()),
      workerCpuMsPerMessage: Math.round((workerCpu * 1e6) / o.messages) / 1000,
      // Submits accepted beyond one per message that reached the SMSC (each has its own number).
      duplicates: counts.accepted - counts.distinct,
      indexBytesAtEnd: end.indexes,
    };
  } finally {
    stopping = true;
    // The pool is the rig's: Kysely's destroy would end it before the rig is done with it.
    await rig.close();
  }
}

export function formatSlice(s: SoakSlice): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
  return (
    `slice ${String(s.slice).padStart(2)}: ${String(s.perSecond).padStart(5)}/s (${s.seconds} s)  ` +
    `outbox heap ${mb(s.outboxHeapBytes)} indexes ${mb(s.outboxIndexBytes)} (largest ${s.largestIndex}), parts ${mb(s.partBytes)}, receipts ${mb(s.receiptBytes)}; ` +
    `live ${s.outboxLive} dead ${s.outboxDead}; autovacuum ${s.autovacuums} autoanalyze ${s.autoanalyzes}; WAL ${s.walBytesPerMessage} B/msg; load ${s.loadAverage1m}`
  );
}

export function formatSoak(r: SoakResult): string {
  return [
    `server                  ${r.server} (autovacuum ${r.autovacuum})`,
    `messages                ${r.messages} in ${r.seconds} s: ${r.perSecond}/s`,
    ...r.slices.map(formatSlice),
    `last slice / first      ${(r.lastOverFirst * 100).toFixed(1)}% (goal: at least 90%)`,
    `housekeeping            ${r.tasks.runs} runs (${r.tasks.failures} failed): purged ${r.tasks.purged}, expired by the sweep ${r.tasks.expired}, receipts reconciled ${r.tasks.reconciled}, redacted ${r.tasks.redacted}`,
    `left in sms_outbox      delivered ${r.finished.delivered}, expired ${r.finished.expired}, other ${r.finished.other}`,
    `worker peak RSS         ${r.workerPeakRssMb} MB; worker CPU ${r.workerCpuMsPerMessage} ms per message`,
    `duplicate submits       ${r.duplicates}`,
    `sms_outbox indexes      ${Object.entries(r.indexBytesAtEnd).map(([k, v]) => `${k} ${Math.round(v / 1024)} kB`).join(', ')}`,
  ].join('\n');
}
