/**
 * The sign-in hook's SMS pumping defence as metrics: its decisions since the install, and the
 * number ranges under one now, read from Postgres (sms_pumping_decision, sms_pumping_decisions;
 * a few rows per attack), cached like the queue gauges, so every worker reports the same figures.
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Database } from '../db/schema.js';

/** What the defence decides on a number range (sms_pumping_decision.action, migration 0027). */
export const PUMPING_DECISION_ACTIONS = ['block', 'throttle', 'release', 'pin_open', 'pin_closed', 'unpin'] as const;
/** The decisions that can be in force (sms_pumping_decisions.in_force). */
const IN_FORCE_ACTIONS = ['block', 'throttle', 'pin_open', 'pin_closed'] as const;

type Counts = Record<string, number>;

export function registerPumpingMetrics(registry: Registry, db: Kysely<Database>, options: { cacheMs: number; timeoutMs: number }): void {
  let last = { at: 0, decisions: {} as Counts, inForce: {} as Counts };
  let inflight: Promise<typeof last> | undefined;
  const read = (): Promise<typeof last> => {
    if (Date.now() - last.at < options.cacheMs) return Promise.resolve(last);
    inflight ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const query = sql<{ decisions: Counts | null; in_force: Counts | null }>`
          select
            (select json_object_agg(d.action, d.n) from (select action, count(*) as n from public.sms_pumping_decision
               group by action) d) as decisions,
            (select json_object_agg(d.action, d.n) from (select action, count(*) as n from public.sms_pumping_decisions
               where in_force group by action) d) as in_force`.execute(db);
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), options.timeoutMs);
        });
        const r = (await Promise.race([query, timeout])).rows[0];
        last = { at: Date.now(), decisions: r?.decisions ?? {}, inForce: r?.in_force ?? {} };
      } catch {
        // Keep the last values (sms_database_up says the database did not answer).
        last = { ...last, at: 0 };
      } finally {
        clearTimeout(timer);
        inflight = undefined;
      }
      return last;
    })();
    return inflight;
  };
  new Counter({
    name: 'sms_pumping_decisions_total',
    help: "Decisions of the sign-in hook's SMS pumping defence since the install, by action (block, throttle, release, pin_open, pin_closed, unpin); read from Postgres, the same on every worker",
    labelNames: ['action'] as const,
    registers: [registry],
    async collect() {
      const r = await read();
      this.reset();
      for (const action of PUMPING_DECISION_ACTIONS) this.inc({ action }, Math.max(0, Number(r.decisions[action] ?? 0)));
    },
  });
  new Gauge({
    name: 'sms_pumping_ranges_in_force',
    help: 'Number ranges under a decision of the SMS pumping defence now, by action (block, throttle, pin_open, pin_closed)',
    labelNames: ['action'] as const,
    registers: [registry],
    async collect() {
      const r = await read();
      for (const action of IN_FORCE_ACTIONS) this.set({ action }, Number(r.inForce[action] ?? 0));
    },
  });
}
