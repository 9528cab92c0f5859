/**
 * Prometheus metrics of one worker (prom-client), fed by the pump, the store and the session's
 * events, plus two gauges read from Postgres on scrape (cheaply: bounded index scans, cached).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../db/schema.js';
import type { SmppSession } from '../smpp/session.js';
import type { ClaimedMessage } from '../db/outbox.js';
import type { PumpEvents } from './pump.js';
import type { FlushSummary, StoreEvents } from './store.js';

const SESSION_STATES = ['disconnected', 'connecting', 'binding', 'bound', 'unbinding', 'closed'] as const;

export class WorkerMetrics {
  readonly registry = new Registry();

  readonly messages = new Counter({
    name: 'sms_messages_total',
    help: 'Messages this worker moved to a status: sent, failed (permanent or attempts exhausted), retried (back to queued), and the final receipt statuses',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly submits = new Counter({
    name: 'smpp_submit_sm_total',
    help: 'submit_sm responses by command_status name (one per PDU, so per part)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly submitRtt = new Histogram({
    name: 'smpp_submit_sm_rtt_seconds',
    help: 'Round trip of a submit_sm to its response',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly dispatchDelay = new Histogram({
    name: 'sms_due_to_submit_seconds',
    help: 'From a message falling due (its commit, or send_at) to its submission',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300],
    registers: [this.registry],
  });
  readonly receipts = new Counter({
    name: 'smpp_receipts_total',
    help: 'Delivery receipts received, by whether they matched a submitted part on arrival',
    labelNames: ['matched'] as const,
    registers: [this.registry],
  });
  readonly inbox = new Counter({ name: 'sms_inbox_messages_total', help: 'Incoming SMS stored in sms_inbox', registers: [this.registry] });
  readonly throttled = new Counter({
    name: 'smpp_throttled_total',
    help: 'ESME_RTHROTTLED / ESME_RMSGQFUL responses (the session slows down and resubmits)',
    registers: [this.registry],
  });
  readonly reconnects = new Counter({ name: 'smpp_reconnects_total', help: 'SMPP reconnect attempts', registers: [this.registry] });
  readonly bindFailures = new Counter({
    name: 'smpp_bind_failures_total',
    help: 'Binds refused by the SMSC, by command_status name',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly rateWaits = new Counter({
    name: 'sms_rate_limit_wait_seconds_total',
    help: 'Time submits spent waiting for the account-wide rate limit (SMPP_TPS)',
    registers: [this.registry],
  });
  readonly fenced = new Counter({
    name: 'sms_results_fenced_total',
    help: 'Submit results not applied because another worker had taken the message over (lease expired): possible duplicates',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Gauges read from the session on scrape. */
  attachSession(session: SmppSession): void {
    new Gauge({
      name: 'smpp_window_in_use',
      help: 'Outstanding submit_sm PDUs',
      registers: [this.registry],
      collect() {
        this.set(session.windowInUse);
      },
    });
    new Gauge({
      name: 'smpp_session_state',
      help: '1 for the current SMPP session state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        for (const s of SESSION_STATES) this.set({ state: s }, session.state === s ? 1 : 0);
      },
    });
    new Gauge({
      name: 'smpp_session_bound',
      help: '1 while the SMPP session is bound',
      registers: [this.registry],
      collect() {
        this.set(session.isBound ? 1 : 0);
      },
    });
    session.on('submit_resp', (e: { commandStatus: number; statusName?: string; rttMs: number }) => {
      this.submits.inc({ status: e.statusName ?? `0x${e.commandStatus.toString(16).padStart(8, '0')}` });
      this.submitRtt.observe(e.rttMs / 1000);
    });
    session.on('throttled', () => this.throttled.inc());
    session.on('reconnect', () => this.reconnects.inc());
    session.on('bind_failed', (e: { statusName?: string; commandStatus?: number }) =>
      this.bindFailures.inc({ status: e.statusName ?? String(e.commandStatus ?? 'connect') }),
    );
  }

  /** Queue gauges read from Postgres on scrape, at most every `cacheMs`. */
  attachDatabase(db: Kysely<Database>, cacheMs = 5000): void {
    let cached: { at: number; depth: number; oldest: number; unmatched: number } | undefined;
    let inflight: Promise<typeof cached> | undefined;
    const read = async () => {
      if (cached && Date.now() - cached.at < cacheMs) return cached;
      inflight ??= (async () => {
        // Bounded: counting stops at 1,000,000 due rows; the per-priority probe finds the oldest.
        const { rows } = await sql<{ depth: number; oldest: number | null; unmatched: number }>`
          select
            (select count(*)::int from (select 1 from public.sms_outbox
               where status = 'queued' and next_attempt_at <= now() limit 1000000) d) as depth,
            (select extract(epoch from now() - min(c.next_attempt_at))::float8
               from generate_series(10, -10, -1) p(priority)
               cross join lateral (select next_attempt_at from public.sms_outbox
                  where status = 'queued' and priority = p.priority and next_attempt_at <= now()
                  order by next_attempt_at limit 1) c) as oldest,
            (select count(*)::int from public.sms_receipt where matched_at is null) as unmatched
        `.execute(db);
        const r = rows[0]!;
        cached = { at: Date.now(), depth: r.depth, oldest: r.oldest ?? 0, unmatched: r.unmatched };
        return cached;
      })().finally(() => (inflight = undefined));
      return inflight;
    };
    new Gauge({
      name: 'sms_queue_depth',
      help: 'Queued messages that are due (capped at 1,000,000)',
      registers: [this.registry],
      async collect() {
        this.set((await read())?.depth ?? 0);
      },
    });
    new Gauge({
      name: 'sms_oldest_queued_age_seconds',
      help: 'Age of the oldest due, unsent message (0 when none): the alert that the outbox is not draining',
      registers: [this.registry],
      async collect() {
        this.set((await read())?.oldest ?? 0);
      },
    });
    new Gauge({
      name: 'sms_unmatched_receipts',
      help: 'Receipts kept in sms_receipt that matched no message',
      registers: [this.registry],
      async collect() {
        this.set((await read())?.unmatched ?? 0);
      },
    });
  }

  /** Hooks for the pump and the store. */
  hooks(): { pump: PumpEvents; store: StoreEvents } {
    return {
      pump: {
        onDispatch: (m: ClaimedMessage) => this.dispatchDelay.observe(Math.max(0, Date.now() - m.nextAttemptAt.getTime()) / 1000),
      },
      store: {
        onCommitted: (s: FlushSummary) => {
          if (s.sent) this.messages.inc({ status: 'sent' }, s.sent);
          if (s.failed + s.exhausted) this.messages.inc({ status: 'failed' }, s.failed + s.exhausted);
          if (s.retried) this.messages.inc({ status: 'retried' }, s.retried);
          for (const [status, n] of Object.entries(s.finalFromReceipts)) this.messages.inc({ status }, n);
          if (s.receiptsMatched) this.receipts.inc({ matched: 'yes' }, s.receiptsMatched);
          if (s.receiptsUnmatched) this.receipts.inc({ matched: 'no' }, s.receiptsUnmatched);
          if (s.inbox) this.inbox.inc(s.inbox);
          if (s.fenced) this.fenced.inc(s.fenced);
        },
      },
    };
  }
}
