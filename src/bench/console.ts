/**
 * `npm run bench:console`: the console's pages over a large sms_outbox. Seeds `rows` messages
 * (30 days of traffic, time-ordered ids, 95 % delivered, the rest failed, undelivered, expired,
 * sent or queued; a tenth marketing; three owners; 200,000 numbers), runs VACUUM ANALYZE, starts
 * the console in this process, signs in as a reader login, and times each page by its
 * Server-Timing (the console's own time: queries and rendering) over `repeats` requests after a
 * warm-up; then EXPLAIN (ANALYZE, BUFFERS) of each list query as that login, with the indexes
 * the plan reads.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { createDb } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import { messageListQuery, type MessageFilter, type PageRequest } from '../db/console/messages.js';
import { startConsole } from '../console/server.js';

export interface ConsoleBenchOptions {
  url: string;
  rows: number;
  repeats: number;
  log: (message: string) => void;
}

export interface PageTiming {
  name: string;
  path: string;
  /** Server time (Server-Timing app;dur), ms. */
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  /** Rows on the page. */
  rowsShown: number;
}

export interface PlanReport {
  name: string;
  executionMs: number;
  planningMs: number;
  indexes: string[];
  sharedHit: number;
  sharedRead: number;
  plan: string;
}

export interface ConsoleBenchResult {
  rows: number;
  seedSeconds: number;
  pages: PageTiming[];
  plans: PlanReport[];
}

const OWNERS = ['bench_app_a', 'bench_app_b', 'bench_app_c'];

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Seeds `rows` messages in batches, as the worker would have left them. */
async function seed(pool: pg.Pool, rows: number, log: (m: string) => void): Promise<void> {
  const batch = 100_000;
  for (let start = 1; start <= rows; start += batch) {
    const end = Math.min(rows, start + batch - 1);
    await pool.query(
      `insert into sms_outbox (id, created_at, updated_at, owner, recipient, sender, body, encoding, segments, send_at, expires_at,
                               next_attempt_at, status, attempts, submitted_at, done_at, category, error_code, error_message,
                               receipt_state, message_ids, smsc_message_id, replaced_chars, retries, attempts_at_retry)
       select (lpad(to_hex((extract(epoch from x.ts) * 1000)::bigint), 12, '0') || '7' || substr(x.h, 1, 3) || '8' || substr(x.h, 4, 15))::uuid,
              x.ts, x.ts, ($3::text[])[1 + x.i % 3], (79000000000 + (x.i::bigint * 7919) % 200000)::text, 'Bench',
              'Your order ' || x.i || ' has shipped', 'gsm7', 1, x.ts, x.ts + interval '1 day', x.ts,
              s.status, case when s.status = 'queued' then 0 else 1 end,
              case when s.status in ('sent', 'delivered', 'undelivered') then x.ts + interval '1 second' end,
              case when s.status not in ('queued', 'sent') then x.ts + interval '5 seconds' end,
              case when x.i % 10 = 0 then 'marketing' else 'transactional' end,
              case s.status when 'failed' then 'ESME_RINVDSTADR' when 'undelivered' then '001' end,
              case s.status when 'failed' then 'Invalid destination address' when 'undelivered' then 'receipt: UNDELIV' end,
              case s.status when 'delivered' then 'DELIVRD' when 'undelivered' then 'UNDELIV' end,
              case when s.status in ('sent', 'delivered', 'undelivered') then array[upper(to_hex(x.i))] end,
              case when s.status in ('sent', 'delivered', 'undelivered') then lower(to_hex(x.i)) end, 0, 0, 0
         from (select i, now() - interval '30 days' + (i * (30 * 86400.0 / $4::int)) * interval '1 second' as ts, md5(i::text) as h
                 from generate_series($1::int, $2::int) i) x
         cross join lateral (select case when x.i % 1000 < 950 then 'delivered' when x.i % 1000 < 970 then 'failed'
                                         when x.i % 1000 < 980 then 'undelivered' when x.i % 1000 < 990 then 'expired'
                                         when x.i % 1000 < 995 then 'sent' else 'queued' end as status) s`,
      [start, end, OWNERS, rows],
    );
    log(`seeded ${end} of ${rows}`);
  }
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function benchConsole(o: ConsoleBenchOptions): Promise<ConsoleBenchResult> {
  const scratch = `sms_bench_console_${process.pid}_${randomBytes(3).toString('hex')}`;
  const login = `sms_bench_console_reader_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const admin = new pg.Client({ connectionString: o.url });
  await admin.connect();
  await admin.query(`create database ${scratch}`);
  o.log(`scratch database ${scratch}`);
  const url = withDatabase(o.url, scratch);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {});
  let handle: Awaited<ReturnType<typeof startConsole>> | undefined;
  let readerPool: pg.Pool | undefined;
  try {
    await migrate(url);
    const roles = (await pool.query<{ reader: string }>('select reader from sms_private.roles')).rows[0]!;
    await admin.query(`create role ${login} login password '${password}' in role ${roles.reader}`);
    const t0 = performance.now();
    await seed(pool, o.rows, o.log);
    o.log('vacuum analyze');
    await pool.query('vacuum analyze sms_outbox');
    const seedSeconds = (performance.now() - t0) / 1000;

    // Trust-authenticated servers (a CI machine) do not ask for the password.
    const asked = await new Promise<boolean>((resolve) => {
      let yes = false;
      const c = new pg.Client({ ...(new URL(url).hostname ? { connectionString: url } : {}), user: login, password: () => ((yes = true), password) } as pg.ClientConfig);
      c.connect().then(
        () => c.end().then(() => resolve(yes)),
        () => resolve(true),
      );
    });
    handle = await startConsole({ databaseUrl: url, host: '127.0.0.1', port: 0, logger: pino({ level: 'warn' }), allowPasswordless: !asked, statementTimeoutMs: 30_000 });
    const base = handle.url;
    let cookie = '';
    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
      const dur = Number(/app;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
      return { dur, text };
    };
    const form = await fetch(`${base}/sign-in`);
    const pre = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signed = await fetch(`${base}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
      body: new URLSearchParams({ csrf, user: login, password, next: '' }),
    });
    cookie = signed.headers.getSetCookie().find((c) => c.startsWith('sms_console='))!.split(';')[0]!;

    const ids = (await pool.query<{ mid: string; late: string; recipient: string; failed: string; one: string; day: string }>(
      `select (select id from sms_outbox order by id offset ${Math.floor(o.rows / 2)} limit 1) as mid,
              (select id from sms_outbox where status = 'failed' order by id desc offset 50 limit 1) as failed,
              (select recipient from sms_outbox order by id desc limit 1) as recipient,
              (select id from sms_outbox order by id desc offset 5 limit 1) as one,
              to_char((now() - interval '14 days') at time zone 'UTC', 'YYYY-MM-DD') as day`,
    )).rows[0]!;
    const day = ids.day;
    const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const lists: { name: string; filter: MessageFilter; page: PageRequest; path: string }[] = [
      { name: 'first page', filter: {}, page: { limit: 50 }, path: '/messages' },
      { name: 'page at the middle of the table', filter: {}, page: { before: ids.mid, limit: 50 }, path: `/messages?before=${ids.mid}` },
      { name: 'recipient', filter: { recipient: ids.recipient }, page: { limit: 50 }, path: `/messages?recipient=%2B${ids.recipient}` },
      { name: 'status failed', filter: { status: 'failed' }, page: { limit: 50 }, path: '/messages?status=failed' },
      { name: 'status failed, second page', filter: { status: 'failed' }, page: { before: ids.failed, limit: 50 }, path: `/messages?status=failed&before=${ids.failed}` },
      { name: 'one day, two weeks ago', filter: { from: new Date(`${day}T00:00:00Z`), to: new Date(`${next}T00:00:00Z`) }, page: { limit: 50 }, path: `/messages?from=${day}T00%3A00&to=${next}T00%3A00` },
      { name: 'recipient and status', filter: { recipient: ids.recipient, status: 'delivered' }, page: { limit: 50 }, path: `/messages?recipient=%2B${ids.recipient}&status=delivered` },
      { name: 'category marketing', filter: { category: 'marketing' }, page: { limit: 50 }, path: '/messages?category=marketing' },
      { name: 'owner', filter: { owner: 'bench_app_b' }, page: { limit: 50 }, path: '/messages?owner=bench_app_b' },
      { name: 'status queued', filter: { status: 'queued' }, page: { limit: 50 }, path: '/messages?status=queued' },
    ];
    const others = [
      { name: 'failures page', path: '/failures' },
      { name: 'overview', path: '/' },
      { name: 'one message', path: `/messages/${ids.one}` },
    ];
    const pages: PageTiming[] = [];
    for (const p of [...lists, ...others]) {
      await get(p.path); // warm-up
      const durs: number[] = [];
      let shown = 0;
      for (let i = 0; i < o.repeats; i++) {
        const r = await get(p.path);
        durs.push(r.dur);
        shown = (r.text.match(/<tr data-id=/g) ?? []).length;
      }
      durs.sort((a, b) => a - b);
      pages.push({ name: p.name, path: p.path, medianMs: quantile(durs, 0.5), p95Ms: quantile(durs, 0.95), maxMs: durs.at(-1)!, rowsShown: shown });
      o.log(`${p.name}: median ${quantile(durs, 0.5).toFixed(1)} ms`);
    }

    // The plans, as the reader login runs them (its row-level security policy included).
    const u = new URL(url);
    u.username = login;
    u.password = password;
    readerPool = new pg.Pool({ connectionString: u.toString(), max: 1 });
    readerPool.on('error', () => {});
    const readerDb = createDb(readerPool);
    const plans: PlanReport[] = [];
    for (const l of lists) {
      const compiled = messageListQuery(readerDb, l.filter, l.page).compile();
      const { rows } = await readerPool.query<{ 'QUERY PLAN': unknown }>(`explain (analyze, buffers, format json) ${compiled.sql}`, compiled.parameters as unknown[]);
      const json = rows[0]!['QUERY PLAN'] as [{ Plan: Record<string, any>; 'Execution Time': number; 'Planning Time': number }];
      const indexes = new Set<string>();
      const walk = (n: Record<string, any>) => {
        if (n['Index Name']) indexes.add(`${n['Node Type']} ${n['Index Name']}`);
        for (const c of n.Plans ?? []) walk(c);
      };
      walk(json[0].Plan);
      const text = (await readerPool.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${compiled.sql}`, compiled.parameters as unknown[])).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      plans.push({
        name: l.name,
        executionMs: json[0]['Execution Time'],
        planningMs: json[0]['Planning Time'],
        indexes: [...indexes],
        sharedHit: Number(json[0].Plan['Shared Hit Blocks'] ?? 0),
        sharedRead: Number(json[0].Plan['Shared Read Blocks'] ?? 0),
        plan: text,
      });
    }
    return { rows: o.rows, seedSeconds, pages, plans };
  } finally {
    await handle?.close();
    await readerPool?.end();
    await pool.end();
    await admin.query(`drop database if exists ${scratch} with (force)`).catch(() => {});
    await admin.query(`drop role if exists ${login}`).catch(() => {});
    await admin.end();
  }
}

export function formatConsoleBench(r: ConsoleBenchResult, withPlans = false): string {
  const lines = [`console pages over ${r.rows.toLocaleString('en')} messages (seeded in ${r.seedSeconds.toFixed(0)} s); server time (Server-Timing), ms`, ''];
  lines.push(`  ${'page'.padEnd(34)}${'median'.padStart(8)}${'p95'.padStart(8)}${'max'.padStart(8)}  rows`);
  for (const p of r.pages) lines.push(`  ${p.name.padEnd(34)}${p.medianMs.toFixed(1).padStart(8)}${p.p95Ms.toFixed(1).padStart(8)}${p.maxMs.toFixed(1).padStart(8)}  ${p.rowsShown}`);
  lines.push('', '  list query plans (EXPLAIN ANALYZE, BUFFERS, as the reader login):');
  for (const p of r.plans) {
    lines.push(`  ${p.name.padEnd(34)}${p.executionMs.toFixed(2).padStart(8)} ms  buffers hit ${p.sharedHit} read ${p.sharedRead}  ${p.indexes.join(', ') || 'NO INDEX'}`);
  }
  if (withPlans) for (const p of r.plans) lines.push('', `-- ${p.name}`, p.plan);
  return `${lines.join('\n')}\n`;
}
