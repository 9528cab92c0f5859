/**
 * The Send SMS Hook's latency with the pumping defence on and off, under an open-loop load of
 * sign-ins (default 100 a second), called as Supabase Auth calls it (supabase_auth_admin, its own
 * transaction per request, ./support.ts callSendSmsHook) from a pool of connections as Auth's
 * own pool. Before measuring, an hour of counted traffic is in the buckets and some ranges are
 * blocked, throttled and pinned; during it, 85% of the codes are confirmed 5-50 s later
 * (sms_verification_confirmed) and one call in ten goes to a blocked range. Latency: from the
 * moment a call was due to its answer (a call waiting for a free connection waits on the clock),
 * and the hook's own statement alone. --waits: what the sign-ins' statements were doing, from
 * pg_stat_activity sampled every few milliseconds (running, or the wait event: Lock:transactionid
 * is a wait for another request's row lock, IO:WALSync a commit's flush), as shares of samples.
 *
 *   flock /tmp/sms-bench.lock env DATABASE_URL=postgres://... npx tsx test/supabase/pumping-latency.ts [--rate 100] [--seconds 30] [--connections 10] [--waits] [--json]
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { testPool } from '../support/db.js';
import { AUTH_ADMIN, AUTH_ADMIN_PASSWORD, createSupabaseDatabase, randomOtp, sendSmsEvent, type SupabaseDatabase } from './support.js';

export interface LatencyResult {
  defence: boolean;
  rate: number;
  seconds: number;
  calls: number;
  queued: number;
  refused: number;
  /** Milliseconds from due to answer. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Milliseconds of the hook's statement alone. */
  hookP50: number;
  hookP99: number;
  /** With --waits: percent of the samples of sign-ins' statements, by statement (hook, commit) and wait event (CPU: none). */
  waits?: Record<string, number>;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

function phone(): string {
  const d = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 10)).join('');
  const u = Math.random();
  return u < 0.1 ? `79370012${d(3)}` : u < 0.7 ? `79${d(9)}` : u < 0.85 ? `37529${d(7)}` : `447${d(9)}`;
}

/** An hour of traffic already counted, and decisions in force, as a live system has. */
async function seed(db: SupabaseDatabase): Promise<void> {
  await db.pool.query(`
    insert into sms_private.pumping_bucket (range, bucket, sent, confirmed)
    select r.range, date_trunc('minute', now()) - m * interval '1 minute', r.per_minute, (r.per_minute * 0.85)::int
      from (values ('7', 60), ('375', 15), ('44', 15)) r(range, per_minute), generate_series(1, 60) m;
    insert into sms_private.pumping_bucket (range, bucket, sent, confirmed)
    select '79' || lpad(p::text, 6, '0'), date_trunc('minute', now()) - (p % 60) * interval '1 minute', 1, 1
      from generate_series(1, 5000) p;
    insert into sms_private.pumping_range (range, blocked_until, throttled_until, judged_since, strikes)
    values ('79370012', now() + interval '1 hour', now() + interval '90 minutes', now() + interval '1 hour', 1),
           ('44770090', now() - interval '1 minute', now() + interval '29 minutes', now() - interval '1 minute', 1);
    select sms_pumping_pin('37529999', 'open', 'bench');
    update sms_auth_hook_settings set per_minute_limit = null;`);
}

/** Samples what the sign-ins' statements are doing until `done` is set; counts by statement and wait event. */
async function sampleWaits(db: SupabaseDatabase, done: { value: boolean }): Promise<Record<string, number>> {
  const c = new pg.Client({ connectionString: db.adminUrl });
  await c.connect();
  const counts = new Map<string, number>();
  let total = 0;
  try {
    while (!done.value) {
      const r = await c.query<{ statement: string; wait: string }>(`
        select case when a.query like '%sms_auth_send_sms_hook%' then 'hook' else lower(split_part(a.query, ' ', 1)) end as statement,
               coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU') as wait
          from pg_stat_activity a
         where a.datname = current_database() and a.usename = $1 and a.state = 'active'`, [AUTH_ADMIN]);
      for (const row of r.rows) {
        const key = `${row.statement} ${row.wait}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        total++;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await c.end();
  }
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, Math.round((1000 * n) / total) / 10]));
}

async function run(db: SupabaseDatabase, defence: boolean, rate: number, seconds: number, connections: number, waits: boolean): Promise<LatencyResult> {
  await db.pool.query('update sms_pumping_settings set enabled = $1', [defence]);
  const u = new URL(db.adminUrl);
  u.username = AUTH_ADMIN;
  u.password = AUTH_ADMIN_PASSWORD;
  const pool = testPool({ connectionString: u.toString(), max: connections });
  const confirmer = testPool({ connectionString: db.ownerUrl, max: 2 });
  // Warm the pool.
  await Promise.all(Array.from({ length: connections }, async () => (await pool.connect()).release()));
  const total: number[] = [];
  const hook: number[] = [];
  let queued = 0;
  let refused = 0;
  const pending: Promise<void>[] = [];
  const done = { value: false };
  const sampled = waits ? sampleWaits(db, done) : undefined;
  const start = performance.now();
  const n = Math.round(rate * seconds);
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      (async () => {
        const to = phone();
        const c = await pool.connect();
        try {
          await c.query('begin isolation level read committed');
          await c.query('select now()');
          await c.query(`set local statement_timeout to '2000'`);
          const h0 = performance.now();
          const r = await c.query<{ answer: { error?: unknown } }>('select "public"."sms_auth_send_sms_hook"($1) as answer', [
            JSON.stringify(sendSmsEvent({ userId: randomUUID(), phone: to, otp: randomOtp() })),
          ]);
          hook.push(performance.now() - h0);
          await c.query(r.rows[0]!.answer.error ? 'rollback' : 'commit');
          if (r.rows[0]!.answer.error) refused++;
          else {
            queued++;
            if (Math.random() < 0.85) {
              setTimeout(() => void confirmer.query('select sms_verification_confirmed($1)', [to]).catch(() => {}), 5000 + Math.random() * 45_000).unref();
            }
          }
        } finally {
          c.release();
        }
        total.push(performance.now() - due);
      })(),
    );
  }
  await Promise.all(pending);
  done.value = true;
  const waitShares = await sampled;
  await pool.end();
  await confirmer.end();
  total.sort((a, b) => a - b);
  hook.sort((a, b) => a - b);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    defence,
    rate,
    seconds,
    calls: n,
    queued,
    refused,
    p50: r2(quantile(total, 0.5)),
    p95: r2(quantile(total, 0.95)),
    p99: r2(quantile(total, 0.99)),
    max: r2(total[total.length - 1] ?? 0),
    hookP50: r2(quantile(hook, 0.5)),
    hookP99: r2(quantile(hook, 0.99)),
    ...(waitShares ? { waits: waitShares } : {}),
  };
}

export async function latency(options: { rate?: number; seconds?: number; connections?: number; waits?: boolean } = {}): Promise<LatencyResult[]> {
  const db = await createSupabaseDatabase();
  try {
    await seed(db);
    const rate = options.rate ?? 100;
    const seconds = options.seconds ?? 30;
    const connections = options.connections ?? 10;
    const results = [];
    for (const defence of [false, true]) results.push(await run(db, defence, rate, seconds, connections, options.waits ?? false));
    return results;
  } finally {
    await db.drop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const results = await latency({ rate: arg('rate'), seconds: arg('seconds'), connections: arg('connections'), waits: process.argv.includes('--waits') });
  if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      console.log(
        `defence ${r.defence ? 'on ' : 'off'}: ${r.calls} sign-ins at ${r.rate}/s (${r.queued} queued, ${r.refused} refused): ` +
          `due-to-answer p50 ${r.p50} ms, p95 ${r.p95} ms, p99 ${r.p99} ms, max ${r.max} ms; hook statement p50 ${r.hookP50} ms, p99 ${r.hookP99} ms`,
      );
      if (r.waits) console.log(`  samples of the sign-ins' statements: ${Object.entries(r.waits).map(([k, v]) => `${k} ${v}%`).join(', ')}`);
    }
  }
}
