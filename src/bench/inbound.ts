/**
 * `sms-outbox bench --inbound`: how many incoming SMS the worker stores per second, and what reply
 * handlers cost. The simulator (in a thread) sends N incoming SMS at once from N phones, each an
 * answer to a message the app sent that phone from its number (so each SMS is threaded and the
 * app's); the rate is N over the time until the last one is acknowledged (the worker answers
 * deliver_sm only once the SMS, and what its handlers did, is committed). Three runs, each with
 * phones of its own:
 *
 * 1. no reply rule: the SMS is stored, threaded, checked for a redelivery and a keyword;
 * 2. one rule, whose handler updates one row of the app's (the phone's customer row);
 * 3. 100 rules of the app with one keyword each, of which the SMS's first word matches one: the
 *    same handler call as in 2, with 99 more rules to match against.
 *
 * The three run in turn, --rounds times (default 3), and each figure is the median of its rounds:
 * on a machine others share, a run can lose a second to them, and the rotation spreads that over
 * all three. The cost of rule matching is 1 - rate(3) / rate(2). A small unmeasured run warms the
 * worker up first. The rules are the connecting role's (the handler runs with its rights).
 */
import { loadavg } from 'node:os';
import type pg from 'pg';
import { startRig, type BenchOptions } from './e2e.js';

export interface InboundBenchOptions extends BenchOptions {
  /** How many times the three runs are made, in turn (each figure is the median). */
  rounds: number;
}

export interface InboundRun {
  name: string;
  rules: number;
  messages: number;
  /** The median round's. */
  seconds: number;
  perSecond: number;
  /** Every round's rate, in the order they ran. */
  rounds: number[];
  /** Handler calls that ran (rows the handler updated), and failed ones (sms_handler_error). */
  handled: number;
  failed: number;
}

export interface InboundBenchResult {
  server: string;
  scratchDatabase: string;
  messages: number;
  runs: InboundRun[];
  /** 1 - rate with 100 rules / rate with one: what matching against 99 more rules costs. */
  ruleMatchingCost: number;
  /** Load average of the machine at the end (1, 5, 15 min). */
  loadAverage: number[];
}

/** The app's number at the carrier: its messages go out from it and the answers come to it. */
const OURS = '79001234567';
/** The phones of run r (of all rounds): 79 5xx 0000000 + i, 10 million numbers each. */
const firstPhone = (run: number) => 79_500_000_000 + run * 10_000_000;

const SETUP = `
  create schema bench;
  create table bench.customers (phone text primary key, answers integer not null default 0, last_answer text);
  create function bench.on_answer(inbox sms_inbox, in_reply_to uuid) returns void
  language sql set search_path = bench, pg_temp as $$
    update bench.customers set answers = answers + 1, last_answer = inbox.body where phone = ltrim(inbox.sender, '+')
  $$;`;

/** The app's messages to the phones of a run, already delivered, and their customers. */
async function seed(pool: pg.Pool, first: number, count: number): Promise<void> {
  await pool.query(
    `insert into sms_outbox (owner, recipient, sender, body, encoding, segments, send_at, expires_at, next_attempt_at,
                             status, attempts, submitted_at, done_at, receipt_state)
     select quote_ident(current_user), (${first}::bigint + i)::text, $1, 'Your order is ready. Reply K57 to confirm.', 'gsm7', 1,
            now(), now() + interval '1 day', now(), 'delivered', 1, now(), now(), 'DELIVRD'
       from generate_series(0, $2::integer - 1) i`,
    [OURS, count],
  );
  await pool.query(`insert into bench.customers (phone) select (${first}::bigint + i)::text from generate_series(0, $1::integer - 1) i`, [count]);
}

async function setRules(pool: pg.Pool, count: number): Promise<void> {
  await pool.query('select sms_off_inbound(id) from sms_inbound_rule');
  // One keyword each, K0 .. K{count-1}; the SMS start with K57 (or, with one rule, it is K57's).
  const keywords = count === 1 ? ['K57'] : Array.from({ length: count }, (_, i) => `K${i}`);
  for (const k of keywords) await pool.query(`select sms_on_inbound('bench.on_answer(sms_inbox, uuid)', keywords => array[$1])`, [k]);
}

export async function runInboundBench(o: InboundBenchOptions): Promise<InboundBenchResult> {
  const log = o.log ?? (() => {});
  const rig = await startRig(o, 'inbound', 4, async (pool) => {
    await pool.query(SETUP);
  });
  const { pool, sim, scratch } = rig;
  try {
    const plan = [
      { name: 'no reply rule', rules: 0 },
      { name: 'one rule, its handler updating one row', rules: 1 },
      { name: '100 rules, one of them matching', rules: 100 },
    ];
    const warmup = Math.min(500, Math.max(10, Math.round(o.messages / 10)));
    const steps = [{ name: 'warm-up', rules: 1, count: warmup }, ...Array.from({ length: o.rounds }, () => plan.map((p) => ({ ...p, count: o.messages }))).flat()];
    const samples = plan.map(() => [] as { ms: number; handled: number; failed: number }[]);
    for (const [index, step] of steps.entries()) {
      const first = firstPhone(index);
      await seed(pool, first, step.count);
      await setRules(pool, step.rules);
      log(`${step.name}: ${step.count} incoming SMS`);
      const { ms, refused } = await sim.incoming(first, step.count, OURS, 'K57 yes, confirm #%i');
      if (refused) throw new Error(`${refused} incoming SMS were refused by the worker (see its log)`);
      const { rows } = await pool.query<{ stored: number; handled: number; failed: number }>(
        `select (select count(*)::int from sms_inbox where ltrim(sender, '+')::bigint between $1 and $1 + $2 - 1) as stored,
                (select count(*)::int from bench.customers where phone::bigint between $1 and $1 + $2 - 1 and answers > 0) as handled,
                (select count(*)::int from sms_handler_error) as failed`,
        [first, step.count],
      );
      const { stored, handled, failed } = rows[0]!;
      if (stored !== step.count) throw new Error(`${step.name}: ${stored} of ${step.count} incoming SMS stored`);
      if (index > 0) samples[(index - 1) % plan.length]!.push({ ms, handled, failed });
    }
    const runs: InboundRun[] = plan.map((p, i) => {
      const byRate = [...samples[i]!].sort((a, b) => a.ms - b.ms);
      const median = byRate[Math.floor(byRate.length / 2)]!;
      return {
        name: p.name,
        rules: p.rules,
        messages: o.messages,
        seconds: Math.round(median.ms) / 1000,
        perSecond: Math.round((o.messages * 1000) / median.ms),
        rounds: samples[i]!.map((x) => Math.round((o.messages * 1000) / x.ms)),
        handled: median.handled,
        failed: median.failed,
      };
    });
    const [, one, hundred] = runs;
    return {
      server: o.url.replace(/\/\/[^@]*@/, '//'),
      scratchDatabase: scratch,
      messages: o.messages,
      runs,
      ruleMatchingCost: Math.round((1 - hundred!.perSecond / one!.perSecond) * 1000) / 1000,
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    };
  } finally {
    await rig.close();
  }
}

export function formatInboundBench(r: InboundBenchResult): string {
  return [
    `server                        ${r.server}`,
    ...r.runs.map((x) => `${x.name.padEnd(40)} ${String(x.perSecond).padStart(6)}/s  (median of ${x.rounds.join(', ')}; ${x.messages} SMS each; handler calls ${x.handled}, failed ${x.failed})`),
    `rule matching, 100 rules vs 1           ${Math.round(r.ruleMatchingCost * 1000) / 10}% of the rate`,
    `load average (1/5/15 min)     ${r.loadAverage.join(' ')} at the end`,
  ].join('\n');
}
