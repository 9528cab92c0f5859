/**
 * A replayable day of phone sign-ins with SMS pumping mixed in, run through the real Send SMS Hook
 * on a simulated clock (./pumping-support.ts: sms_private.pumping_now() reads a table), in a
 * Supabase-like database of its own. Deterministic for a seed: the same seed, the same events, the
 * same answers. No sleeping: a day takes as long as its calls.
 *
 * Legitimate traffic: `legit` sign-ins over 24 h with a diurnal rate (low at night, peak in the
 * afternoon), to numbers of Russia, Belarus, the UK and a few of Latvia; `confirmRate` of the codes
 * are confirmed 5-50 s later (within the code's 1-minute validity), the rest abandoned.
 * Attacks, codes never confirmed:
 *   fast-ru      5 a second to one 8-digit prefix of Russia, 10:00-10:10
 *   fast-by      2 a second to one prefix of Belarus, 20:00-20:30
 *   slow-uk      one every 40 s to one UK prefix, 02:00-18:00
 *   country-lv   one every 10 s to random numbers all over Latvia, 14:00-18:00
 *   thin-ru      one a minute to random numbers all over Russia, 06:00-14:00: what the defence
 *                cannot catch (one code per prefix, drowned in the country's real traffic);
 *                reported, and left out of the goals.
 *
 * Each call is Supabase Auth's: the hook is called by supabase_auth_admin, and a refused call is
 * rolled back (a savepoint per call, in a replay function that walks a batch of events in
 * order). Confirmations go through sms_verification_confirmed(phone).
 *
 *   DATABASE_URL=postgres://... npx tsx test/supabase/pumping-simulation.ts [--seed N] [--legit N] [--json]
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { installClock } from './pumping-support.js';
import { connectAsAuth, createSupabaseDatabase, sendSmsEvent, type SupabaseDatabase } from './support.js';

export interface SimulationOptions {
  seed?: number;
  /** Legitimate sign-ins over the day (default 12,000). */
  legit?: number;
  /** Share of legitimate codes confirmed (default 0.85). */
  confirmRate?: number;
  /** Events per round trip (default 400). */
  batch?: number;
  /** Settings of sms_pumping_settings to try (default: the defaults). */
  settings?: Record<string, unknown>;
}

export interface AttackReport {
  name: string;
  /** Left out of the goals: an attack the defence is not built to see. */
  outOfScope: boolean;
  attempts: number;
  sent: number;
  refusedByDefence: number;
  refusedByOtherLimits: number;
  refusedShare: number;
  /** Codes sent before the first one the defence refused. */
  sentBeforeEngaged: number;
  /** Seconds from the attack's first code to the first the defence refused (null: never). */
  secondsToEngage: number | null;
}

export interface SimulationReport {
  seed: number;
  legit: { attempts: number; sent: number; refusedByDefence: number; refusedByOtherLimits: number; refusedShare: number; confirmed: number };
  attacks: AttackReport[];
  /** The attacks in scope together. */
  attack: { attempts: number; sent: number; refused: number; refusedShare: number; sentBeforeEngaged: number };
  decisions: { action: string; level: string; n: number }[];
  /** Every decision: time of day, range, action, reason, the figures. */
  decisionLog: { at: string; range: string; action: string; reason: string; evidence: Record<string, unknown> }[];
  elapsedSeconds: number;
  events: number;
}

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Event =
  | { at: number; kind: 'code'; phone: string; who: string; confirmAfter: number | null }
  | { at: number; kind: 'confirm'; phone: string };

const DAY = 86_400;
const T0 = Date.parse('2026-01-05T00:00:00Z');

/** The day's events, in time order (seconds from midnight). */
export function dayOfEvents(seed: number, legit: number, confirmRate: number): Event[] {
  const rnd = prng(seed);
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
  const events: Event[] = [];
  // Diurnal: rate(h) proportional to 1 + 0.85 sin(2 pi (h - 9) / 24): 0.15 at 3:00, 1.85 at 15:00.
  const shape = (s: number) => 1 + 0.85 * Math.sin((2 * Math.PI * (s / 3600 - 9)) / 24);
  const peak = 1.85;
  const mean = legit / DAY;
  for (let s = 0; ; ) {
    s += -Math.log(1 - rnd()) / (mean * peak);
    if (s >= DAY) break;
    if (rnd() * peak > shape(s)) continue;
    const u = rnd();
    const phone =
      u < 0.7 ? `79${digits(9)}` : u < 0.85 ? `37529${digits(7)}` : u < 0.997 ? `447${digits(9)}` : `3712${digits(7)}`;
    const confirmAfter = rnd() < confirmRate ? 5 + rnd() * 45 : null;
    events.push({ at: s, kind: 'code', phone, who: 'legit', confirmAfter });
  }
  const attack = (who: string, from: number, to: number, every: number, phone: () => string) => {
    for (let s = from + rnd() * every; s < to; s += every * (0.5 + rnd())) {
      events.push({ at: s, kind: 'code', phone: phone(), who, confirmAfter: null });
    }
  };
  attack('fast-ru', 10 * 3600, 10 * 3600 + 600, 0.2, () => `79370012${digits(3)}`);
  attack('fast-by', 20 * 3600, 20 * 3600 + 1800, 0.5, () => `37533123${digits(4)}`);
  attack('slow-uk', 2 * 3600, 18 * 3600, 40, () => `44770090${digits(4)}`);
  attack('country-lv', 14 * 3600, 18 * 3600, 10, () => `371${digits(8)}`);
  attack('thin-ru', 6 * 3600, 14 * 3600, 60, () => `79${digits(9)}`);
  for (const e of [...events]) {
    if (e.kind === 'code' && e.confirmAfter !== null) events.push({ at: e.at + e.confirmAfter, kind: 'confirm', phone: e.phone });
  }
  return events.sort((a, b) => a.at - b.at);
}

const OUT_OF_SCOPE = new Set(['thin-ru']);

/** The replay functions, in a schema of the simulation's own. */
async function installReplay(db: SupabaseDatabase): Promise<void> {
  await db.pool.query(`
    create schema sim;
    -- The clock, and a confirmation as the app reports it (owner's rights).
    create function sim.confirm(at timestamptz, phone text) returns boolean
    language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
    begin
      update sms_private.test_clock set at = confirm.at;
      return public.sms_verification_confirmed(phone);
    end $$;
    create function sim.set_clock(at timestamptz) returns void
    language sql security definer set search_path = pg_catalog, pg_temp as $$
      update sms_private.test_clock set at = set_clock.at
    $$;
    -- Walks the events in order, one transaction each (as Auth's requests); a code event calls
    -- the hook as its caller (supabase_auth_admin) and, when the answer is an error, rolls the
    -- call back as Auth rolls its transaction back.
    create procedure sim.replay(events jsonb, inout answers text[] default null)
    language plpgsql as $$
    declare
      e jsonb;
      answer jsonb;
    begin
      answers := '{}';
      for e in select x from pg_catalog.jsonb_array_elements(events) x loop
        if e ->> 'kind' = 'confirm' then
          perform sim.confirm((e ->> 'at')::timestamptz, e ->> 'phone');
        else
          perform sim.set_clock((e ->> 'at')::timestamptz);
          commit;
          begin
            answer := public.sms_auth_send_sms_hook(e -> 'event');
            if answer ? 'error' then
              raise exception using errcode = 'P0099', message = 'refused: rolled back';
            end if;
          exception when sqlstate 'P0099' then
            null;
          end;
          answers := answers || coalesce(answer -> 'error' ->> 'reason',
                                         case when answer ? 'error' then 'limit:' || (answer -> 'error' ->> 'message') else 'ok' end);
        end if;
        commit;
      end loop;
    end $$;
    grant usage on schema sim to supabase_auth_admin;
    grant execute on all functions in schema sim to supabase_auth_admin;
    grant execute on all procedures in schema sim to supabase_auth_admin;`);
}

export async function simulate(options: SimulationOptions = {}): Promise<SimulationReport> {
  const seed = options.seed ?? 1;
  const events = dayOfEvents(seed, options.legit ?? 12_000, options.confirmRate ?? 0.85);
  const db = await createSupabaseDatabase();
  let auth: pg.Client | undefined;
  try {
    await installClock(db.pool, new Date(T0));
    // Installed at midnight: volume spikes are judged from 01:00 on.
    await db.pool.query(`update sms_pumping_settings set watching_since = $1`, [new Date(T0)]);
    const settings = options.settings ?? {};
    for (const [k, v] of Object.entries(settings)) await db.pool.query(`update sms_pumping_settings set ${k} = $1`, [v]);
    await installReplay(db);
    auth = await connectAsAuth(db.adminUrl);
    // One commit per event: not waiting for the disk at each keeps a day's replay short, and
    // changes nothing the defence sees.
    await auth.query('set synchronous_commit = off');
    const started = Date.now();
    const codes = events.filter((e) => e.kind === 'code');
    const answers: string[] = [];
    const batch = options.batch ?? 400;
    for (let i = 0; i < events.length; i += batch) {
      const slice = events.slice(i, i + batch).map((e) => {
        const at = new Date(T0 + e.at * 1000).toISOString();
        if (e.kind === 'confirm') return { kind: 'confirm', at, phone: e.phone };
        const otp = String(Math.floor(e.at * 1000) % 1_000_000).padStart(6, '0');
        return { kind: 'code', at, event: sendSmsEvent({ userId: randomUUID(), phone: e.phone, otp }) };
      });
      const r = await auth.query<{ answers: string[] }>('call sim.replay($1::jsonb, null)', [JSON.stringify(slice)]);
      answers.push(...r.rows[0]!.answers);
    }
    const elapsedSeconds = (Date.now() - started) / 1000;
    if (answers.length !== codes.length) throw new Error(`${answers.length} answers for ${codes.length} codes`);

    const defence = (a: string) => a === 'range_blocked' || a === 'range_throttled';
    const legitIdx = codes.map((c, i) => [c, answers[i]!] as const).filter(([c]) => c.who === 'legit');
    const legitSent = legitIdx.filter(([, a]) => a === 'ok').length;
    const legitDefence = legitIdx.filter(([, a]) => defence(a)).length;
    const confirmed = (await db.pool.query<{ n: number }>('select count(*)::int as n from sms_auth_code where confirmed_at is not null')).rows[0]!.n;
    const attacks: AttackReport[] = [];
    for (const name of ['fast-ru', 'fast-by', 'slow-uk', 'country-lv', 'thin-ru']) {
      const mine = codes.map((c, i) => [c, answers[i]!] as const).filter(([c]) => c.who === name);
      const firstRefused = mine.findIndex(([, a]) => defence(a));
      const sent = mine.filter(([, a]) => a === 'ok').length;
      const byDefence = mine.filter(([, a]) => defence(a)).length;
      attacks.push({
        name,
        outOfScope: OUT_OF_SCOPE.has(name),
        attempts: mine.length,
        sent,
        refusedByDefence: byDefence,
        refusedByOtherLimits: mine.length - sent - byDefence,
        refusedShare: mine.length ? (mine.length - sent) / mine.length : 0,
        sentBeforeEngaged: firstRefused < 0 ? sent : mine.slice(0, firstRefused).filter(([, a]) => a === 'ok').length,
        secondsToEngage: firstRefused < 0 ? null : Math.round(mine[firstRefused]![0].at - mine[0]![0].at),
      });
    }
    const inScope = attacks.filter((a) => !a.outOfScope);
    const sum = (f: (a: AttackReport) => number) => inScope.reduce((n, a) => n + f(a), 0);
    const decisions = (
      await db.pool.query<{ action: string; level: string; n: number }>(
        'select action, level, count(*)::int as n from sms_pumping_decisions group by 1, 2 order by 1, 2',
      )
    ).rows;
    const decisionLog = (
      await db.pool.query<{ at: string; range: string; action: string; reason: string; evidence: Record<string, unknown> }>(
        `select to_char(decided_at at time zone 'UTC', 'HH24:MI:SS') as at, range, action, reason, evidence from sms_pumping_decisions order by id`,
      )
    ).rows;
    return {
      seed,
      decisionLog,
      legit: {
        attempts: legitIdx.length,
        sent: legitSent,
        refusedByDefence: legitDefence,
        refusedByOtherLimits: legitIdx.length - legitSent - legitDefence,
        refusedShare: (legitIdx.length - legitSent) / legitIdx.length,
        confirmed,
      },
      attacks,
      attack: {
        attempts: sum((a) => a.attempts),
        sent: sum((a) => a.sent),
        refused: sum((a) => a.attempts - a.sent),
        refusedShare: sum((a) => a.attempts - a.sent) / sum((a) => a.attempts),
        sentBeforeEngaged: sum((a) => a.sentBeforeEngaged),
      },
      decisions,
      elapsedSeconds,
      events: events.length,
    };
  } finally {
    await auth?.end();
    await db.drop();
  }
}

/** The report as a few lines of text. */
export function formatReport(r: SimulationReport, verbose = false): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  const lines = [
    `seed ${r.seed}: ${r.events} events replayed in ${r.elapsedSeconds.toFixed(1)} s`,
    `legit: ${r.legit.attempts} codes asked, ${r.legit.sent} sent, ${r.legit.refusedByDefence} refused by the defence, ` +
      `${r.legit.refusedByOtherLimits} by the other limits (${pct(r.legit.refusedShare)} refused); ${r.legit.confirmed} confirmed`,
    `attacks in scope: ${r.attack.attempts} codes asked, ${r.attack.sent} sent (${r.attack.sentBeforeEngaged} before the defence engaged), ` +
      `${pct(r.attack.refusedShare)} refused`,
    ...r.attacks.map(
      (a) =>
        `  ${a.name.padEnd(10)} ${String(a.attempts).padStart(5)} asked ${String(a.sent).padStart(4)} sent ` +
        `${String(a.sentBeforeEngaged).padStart(4)} before engaging, engaged after ${a.secondsToEngage ?? '-'} s, ` +
        `${pct(a.refusedShare)} refused${a.outOfScope ? ' (out of scope: spread thin over a busy country)' : ''}`,
    ),
    `decisions: ${r.decisions.map((d) => `${d.level} ${d.action} ${d.n}`).join(', ')}`,
  ];
  if (verbose) for (const d of r.decisionLog) lines.push(`  ${d.at} ${d.range.padEnd(9)} ${d.action} ${d.reason} ${JSON.stringify(d.evidence)}`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const report = await simulate({ seed: Number(arg('seed') ?? 1), legit: arg('legit') ? Number(arg('legit')) : undefined });
  console.log(process.argv.includes('--json') ? JSON.stringify(report, null, 2) : formatReport(report, process.argv.includes('--decisions')));
}
