/**
 * Enqueue benchmark: `select sms_send(...)` calls per second from N connections, each call its
 * own transaction, beside a plain single-row INSERT into a table of the same shape (same
 * columns, defaults, constraints and indexes, no function) measured in the same run.
 *
 * It never touches the database it is pointed at: it creates a scratch database on the same
 * server, migrates it, measures, and drops it. Phases alternate (plain, send, plain, send, ...)
 * so that checkpoints, table growth and the machine's noise fall on both sides alike.
 *
 * Measured modes:
 *   plain       INSERT ... RETURNING id with the values sms_send would have computed
 *   send        sms_send(recipient, body) with the wake-up switch disarmed: a busy worker,
 *               the state that matters under load (the goal: >= 70% of plain)
 *   marketing   sms_send(recipient, body, category => 'marketing'), disarmed: the same with the
 *               opt-out check (sms_opt_out holds 10,000 numbers; one call in ten is to one of
 *               them and is stored rejected); run when `marketingMs` is not 0
 *   insert      INSERT INTO sms_outbox (recipient, body) VALUES (...) RETURNING id, disarmed: an
 *               app's plain INSERT, which the trigger sms_outbox_insert turns into what sms_send
 *               stores by the same rules (sms_private.new_message, sms_send's general path); run
 *               when `insertMs` is not 0
 *   sendArmed   sms_send with the switch armed: every commit NOTIFYs (an idle worker; the
 *               switch is disarmed as soon as a worker starts draining)
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../db/migrate.js';

export interface EnqueueBenchOptions {
  /** Any database on the server to use; the benchmark runs in a scratch database next to it. */
  url: string;
  /** Concurrent connections (default 16). */
  connections?: number;
  /** Measured time per mode in milliseconds (default 10 000), split over `rounds`. */
  durationMs?: number;
  /** Unmeasured warm-up per mode before the first round (default 2 000). */
  warmupMs?: number;
  /** Alternations of the modes (default 2). */
  rounds?: number;
  /** Measured time of the armed (NOTIFY on every commit) mode; 0 skips it (default 3 000). */
  armedMs?: number;
  /** Measured time of the marketing mode (the opt-out check), split over the rounds; 0 skips it (default: durationMs). */
  marketingMs?: number;
  /** Measured time of the INSERT INTO sms_outbox mode, split over the rounds; 0 skips it (default: durationMs). */
  insertMs?: number;
  log?: (message: string) => void;
}

export interface ModeResult {
  calls: number;
  seconds: number;
  perSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
}

export interface EnqueueBenchResult {
  server: string;
  serverVersion: string;
  settings: Record<string, string>;
  connections: number;
  rounds: number;
  plain: ModeResult;
  send: ModeResult;
  sendArmed: ModeResult | null;
  /** sms_send with category => 'marketing' (null when skipped). */
  marketing: ModeResult | null;
  /** INSERT INTO sms_outbox (recipient, body) by the app (null when skipped). */
  insert: ModeResult | null;
  /** send.perSecond / plain.perSecond */
  ratio: number;
  /** marketing.perSecond / plain.perSecond (null when skipped) */
  marketingRatio: number | null;
  /** insert.perSecond / plain.perSecond (null when skipped) */
  insertRatio: number | null;
}

type Mode = 'plain' | 'send' | 'sendArmed' | 'marketing' | 'insert';

/** Numbers in sms_opt_out during the marketing mode; one marketing call in ten goes to one of them. */
const OPTED_OUT = 10_000;

function optedOut(i: number): string {
  return `7988${String(i % OPTED_OUT).padStart(7, '0')}`;
}

const LATIN = ['Your code: %s. Do not share it with anyone.', 'MyShop: %s is your login code', 'Code %s'];
const CYRILLIC = ['Ваш код: %s. Никому его не сообщайте.', 'Код подтверждения: %s', 'МойМагазин: код входа %s'];

function otp(): string {
  return String(100000 + Math.floor(Math.random() * 900000));
}

function recipient(): string {
  return `79${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;
}

function body(i: number): { text: string; encoding: 'gsm7' | 'ucs2' } {
  // Half Latin (GSM-7), half Cyrillic (UCS-2), as OTP traffic to Russian numbers tends to be.
  const latin = i % 2 === 0;
  const list = latin ? LATIN : CYRILLIC;
  const template = list[Math.floor(i / 2) % list.length] ?? 'Code %s';
  return { text: template.replace('%s', otp()), encoding: latin ? 'gsm7' : 'ucs2' };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round((sorted[i] ?? 0) * 1000) / 1000;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function runPhase(clients: pg.Client[], mode: Mode, ms: number, latencies: number[] | null): Promise<number> {
  const deadline = performance.now() + ms;
  let calls = 0;
  await Promise.all(
    clients.map(async (client, c) => {
      let i = c;
      while (performance.now() < deadline) {
        const b = body(i++);
        const start = performance.now();
        if (mode === 'plain') {
          // What sms_send stores, computed by the "app": the same row, no function.
          await client.query({
            name: 'bench_plain',
            text: `insert into public.bench_plain_outbox
                     (recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at)
                   values ($1, 'Bench', $2, $3, 1, 0, now(), now() + interval '24 hours', now())
                   returning id`,
            values: [recipient(), b.text, b.encoding],
          });
        } else if (mode === 'marketing') {
          const to = i % 10 === 0 ? optedOut(i * 7919) : recipient();
          await client.query({ name: 'bench_marketing', text: `select public.sms_send($1, $2, category => 'marketing') as id`, values: [`+${to}`, b.text] });
        } else if (mode === 'insert') {
          await client.query({
            name: 'bench_insert',
            text: 'insert into public.sms_outbox (recipient, body) values ($1, $2) returning id',
            values: [`+${recipient()}`, b.text],
          });
        } else {
          await client.query({ name: 'bench_send', text: 'select public.sms_send($1, $2) as id', values: [`+${recipient()}`, b.text] });
        }
        if (latencies) latencies.push(performance.now() - start);
        calls++;
      }
    }),
  );
  return calls;
}

export async function benchEnqueue(options: EnqueueBenchOptions): Promise<EnqueueBenchResult> {
  const connections = options.connections ?? 16;
  const durationMs = options.durationMs ?? 10_000;
  const warmupMs = options.warmupMs ?? 2_000;
  const rounds = Math.max(1, options.rounds ?? 2);
  const armedMs = options.armedMs ?? 3_000;
  const marketingMs = options.marketingMs ?? durationMs;
  const insertMs = options.insertMs ?? durationMs;
  const log = options.log ?? (() => {});

  const scratch = `sms_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: options.url, application_name: 'sms-outbox bench' });
  await admin.connect();
  const clients: pg.Client[] = [];
  try {
    await admin.query(`create database ${scratch} encoding 'UTF8' template template0`);
    const url = withDatabase(options.url, scratch);
    log(`scratch database ${scratch}: migrating`);
    await migrate(url, { skipGraphile: true, settings: { defaultSender: 'Bench' } });
    const setup = new pg.Client({ connectionString: url });
    await setup.connect();
    let serverVersion = '';
    const settings: Record<string, string> = {};
    try {
      await setup.query('create table public.bench_plain_outbox (like public.sms_outbox including all)');
      // sms_outbox has no defaults for the columns sms-outbox sets (an app's INSERT leaves them
      // NULL and the trigger sms_outbox_insert fills them in); the plain table gets them back, so
      // its INSERT writes the same row sms_send does with no function at all.
      await setup.query(
        `alter table public.bench_plain_outbox
           alter column id set default public.sms_uuidv7(), alter column created_at set default now(),
           alter column updated_at set default now(), alter column status set default 'queued',
           alter column attempts set default 0, alter column owner set default quote_ident(current_user),
           alter column replaced_chars set default 0, alter column retries set default 0,
           alter column attempts_at_retry set default 0`,
      );
      await setup.query(`insert into public.sms_opt_out (recipient, source) select '7988' || lpad(i::text, 7, '0'), 'operator' from generate_series(0, $1 - 1) i`, [OPTED_OUT]);
      await setup.query('analyze public.sms_opt_out');
      serverVersion = (await setup.query<{ v: string }>('select current_setting($$server_version$$) as v')).rows[0]?.v ?? '';
      const r = await setup.query<{ name: string; setting: string }>(
        `select name, setting from pg_settings
          where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'wal_level', 'max_wal_size', 'commit_delay')`,
      );
      for (const row of r.rows) settings[row.name] = row.setting;
    } finally {
      await setup.end();
    }

    for (let i = 0; i < connections; i++) {
      const c = new pg.Client({ connectionString: url, application_name: 'sms-outbox bench' });
      await c.connect();
      clients.push(c);
    }
    const setArmed = (armed: boolean) => clients[0]!.query(`update public.sms_wakeup set armed_until = case when $1 then now() + interval '1 hour' end`, [armed]);
    const checkpoint = () => admin.query('checkpoint').catch(() => {}); // needs superuser or pg_checkpoint; optional

    await setArmed(false);
    log(`warming up (${warmupMs} ms per mode, ${connections} connections)`);
    await runPhase(clients, 'plain', warmupMs, null);
    await runPhase(clients, 'send', warmupMs, null);
    if (marketingMs > 0) await runPhase(clients, 'marketing', warmupMs, null);
    if (insertMs > 0) await runPhase(clients, 'insert', warmupMs, null);

    type Measured = 'plain' | 'send' | 'marketing' | 'insert';
    const totals: Record<Measured, { calls: number; ms: number; lat: number[] }> = {
      plain: { calls: 0, ms: 0, lat: [] },
      send: { calls: 0, ms: 0, lat: [] },
      marketing: { calls: 0, ms: 0, lat: [] },
      insert: { calls: 0, ms: 0, lat: [] },
    };
    const modeMs: Record<Measured, number> = { plain: durationMs, send: durationMs, marketing: marketingMs, insert: insertMs };
    const modes = (['plain', 'send', 'insert', 'marketing'] as const).filter((m) => modeMs[m] > 0);
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
        await checkpoint();
        const t0 = performance.now();
        const calls = await runPhase(clients, mode, modeMs[mode] / rounds, totals[mode].lat);
        totals[mode].ms += performance.now() - t0;
        totals[mode].calls += calls;
        log(`round ${r + 1}/${rounds} ${mode}: ${Math.round((calls / (performance.now() - t0)) * 1000)}/s`);
      }
    }

    let sendArmed: ModeResult | null = null;
    if (armedMs > 0) {
      await setArmed(true);
      await checkpoint();
      const lat: number[] = [];
      const t0 = performance.now();
      const calls = await runPhase(clients, 'sendArmed', armedMs, lat);
      sendArmed = summarise(calls, performance.now() - t0, lat);
      log(`sendArmed: ${Math.round(sendArmed.perSecond)}/s`);
    }

    const plain = summarise(totals.plain.calls, totals.plain.ms, totals.plain.lat);
    const send = summarise(totals.send.calls, totals.send.ms, totals.send.lat);
    const marketing = marketingMs > 0 ? summarise(totals.marketing.calls, totals.marketing.ms, totals.marketing.lat) : null;
    const insert = insertMs > 0 ? summarise(totals.insert.calls, totals.insert.ms, totals.insert.lat) : null;
    const u = new URL(options.url);
    return {
      server: `${u.hostname}:${u.port || 5432}`,
      serverVersion,
      settings,
      connections,
      rounds,
      plain,
      send,
      sendArmed,
      marketing,
      insert,
      ratio: Math.round((send.perSecond / plain.perSecond) * 1000) / 1000,
      marketingRatio: marketing ? Math.round((marketing.perSecond / plain.perSecond) * 1000) / 1000 : null,
      insertRatio: insert ? Math.round((insert.perSecond / plain.perSecond) * 1000) / 1000 : null,
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await admin.query(`drop database if exists ${scratch} with (force)`).catch(() => {});
    await admin.end();
  }
}

function summarise(calls: number, ms: number, latencies: number[]): ModeResult {
  const sorted = latencies.sort((a, b) => a - b);
  return {
    calls,
    seconds: Math.round(ms) / 1000,
    perSecond: Math.round((calls / ms) * 1000),
    latencyMs: {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: percentile(sorted, 100),
    },
  };
}

/** A human-readable report of a result. */
export function formatEnqueueBench(r: EnqueueBenchResult): string {
  const row = (label: string, m: ModeResult) =>
    `  ${label.padEnd(34)} ${String(m.perSecond).padStart(7)}/s   p50 ${m.latencyMs.p50.toFixed(2)} ms   p99 ${m.latencyMs.p99.toFixed(2)} ms   (${m.calls} calls in ${m.seconds} s)`;
  const lines = [
    `enqueue benchmark: PostgreSQL ${r.serverVersion} at ${r.server}, ${r.connections} connections, each call its own transaction`,
    `  settings: ${Object.entries(r.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    row('plain INSERT (same table shape)', r.plain),
    row('sms_send (worker busy, no NOTIFY)', r.send),
  ];
  if (r.insert) lines.push(row('INSERT INTO sms_outbox (app, no NOTIFY)', r.insert));
  if (r.marketing) lines.push(row('sms_send marketing (opt-out check)', r.marketing));
  if (r.sendArmed) lines.push(row('sms_send (worker idle, NOTIFY)', r.sendArmed));
  lines.push(`  sms_send / plain INSERT = ${(r.ratio * 100).toFixed(1)}% (goal: at least 70%)`);
  if (r.insertRatio !== null) lines.push(`  INSERT INTO sms_outbox / plain INSERT = ${(r.insertRatio * 100).toFixed(1)}%, / sms_send = ${((r.insertRatio / r.ratio) * 100).toFixed(1)}%`);
  if (r.marketingRatio !== null) lines.push(`  sms_send marketing / plain INSERT = ${(r.marketingRatio * 100).toFixed(1)}% (goal: at least 70%)`);
  return `${lines.join('\n')}\n`;
}
