/**
 * Prometheus metrics of one worker (prom-client), fed by the pump, the store and the session's
 * events, plus gauges read on scrape: the session's state and window from memory, the queue from
 * Postgres (cheaply: bounded index scans, at most one query per `cacheMs` however often it is
 * scraped, on the worker's own probe connections, and never failing the scrape).
 *
 * Names follow the Prometheus conventions: `_total` counters, base units (`_seconds`), one
 * `status` label with a closed set of values. docs/reference/metrics.md lists them all.
 */
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { FINAL_STATUSES, type Database, type MessageStatus } from '../db/schema.js';
import type { SessionState, SmppSession } from '../smpp/session.js';
import { classifyStatus, isThrottle, STATUS } from '../smpp/command-status.js';
import { PRIORITY_MAX, PRIORITY_MIN, type ClaimedMessage } from '../db/outbox.js';
import type { PumpEvents } from './pump.js';
import type { FlushSummary, StoreEvents } from './store.js';
import { registerPumpingMetrics } from './pumping-metrics.js';

const SESSION_STATES: readonly SessionState[] = ['disconnected', 'connecting', 'binding', 'bound', 'unbinding', 'closed'];

/** Statuses this worker moves messages to: sent, and the final ones but cancelled (the SQL API's cancel is not the worker's). */
const WORKER_STATUSES: readonly MessageStatus[] = ['sent', ...FINAL_STATUSES.filter((s) => s !== 'cancelled')];

/** Why the Supabase Auth Send SMS Hook refused a code (public.sms_auth_hook_refusals(), migration 0012). */
export const AUTH_HOOK_REFUSAL_REASONS = ['bad_event', 'bad_phone', 'country', 'phone_limit', 'global_limit', 'busy', 'error', 'range_blocked', 'range_throttled'] as const;

/** Queue counts stop at this many rows: beyond it the number matters less than the cost. */
const COUNT_CAP = 1_000_000;

/** How the SMPP session is doing, for /readyz. */
export interface SessionStatus {
  bound: boolean;
  /** The state right now; while not bound it moves between disconnected, connecting and binding. */
  state: SessionState;
  /**
   * Bound: seconds since it bound. Not bound: seconds since it was last bound, or since the worker
   * started when it never was; reconnect attempts do not reset it.
   */
  forSeconds: number;
  /** Not bound: when it was last bound (ISO 8601), or null when it never was since the start. */
  lastBoundAt?: string | null;
  /** Why the session last went down or a bind was refused, if it did. */
  lastProblem?: string;
}

export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A bounded label for a command_status: its SMPP name; unknown codes share one value. */
function statusLabel(code: number): { status: string; kind: string } {
  const info = classifyStatus(code);
  return { status: info.name.startsWith('ESME_UNKNOWN_') ? 'ESME_UNKNOWN' : info.name, kind: info.kind };
}

export class WorkerMetrics {
  readonly registry = new Registry();

  readonly messages = new Counter({
    name: 'sms_messages_total',
    help: 'Messages this worker moved to a status: sent (accepted by the SMSC), then the final ones (delivered, undelivered, expired, rejected, failed)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'sms_message_retries_total',
    help: 'Messages put back in the queue after a transient error or an unknown outcome (response timeout, connection lost)',
    registers: [this.registry],
  });
  readonly submits = new Counter({
    name: 'smpp_submit_sm_total',
    help: 'submit_sm responses by command_status name and kind (ok, transient, permanent); one per PDU, so per message part',
    labelNames: ['status', 'kind'] as const,
    registers: [this.registry],
  });
  readonly submitTimeouts = new Counter({
    name: 'smpp_submit_sm_timeouts_total',
    help: 'submit_sm PDUs with no response within SMPP_RESPONSE_TIMEOUT_S: outcome unknown, the message is retried and may be duplicated',
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
    help: 'From a message falling due (its commit, or send_at, or its retry time) to its first part going out',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300],
    registers: [this.registry],
  });
  readonly receipts = new Counter({
    name: 'smpp_receipts_total',
    help: 'Delivery receipts stored, by whether they matched a submitted part on arrival (unmatched ones are retried by sms_reconcile)',
    labelNames: ['matched'] as const,
    registers: [this.registry],
  });
  readonly lateMatches = new Counter({ name: 'smpp_receipts_late_matched_total', help: 'Receipts stored unmatched earlier that matched once their submit result was written', registers: [this.registry] });
  readonly inbox = new Counter({ name: 'sms_inbox_messages_total', help: 'Incoming SMS stored in sms_inbox', registers: [this.registry] });
  readonly inboxDuplicateParts = new Counter({ name: 'sms_inbox_duplicate_parts_total', help: 'Parts of concatenated incoming SMS delivered again after their set was assembled: counted in sms_inbox.duplicate_parts, not stored', registers: [this.registry] });
  readonly handlerCalls = new Counter({ name: 'sms_reply_handler_calls_total', help: 'Reply handler calls for incoming SMS, by outcome (failed: rolled back alone, its error kept in sms_handler_error)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly inboundErrors = new Counter({
    name: 'smpp_inbound_errors_total',
    help: 'deliver_sm (receipts, incoming SMS) that could not be stored: answered with a temporary error so the SMSC redelivers',
    registers: [this.registry],
  });
  readonly inboundParked = new Counter({
    name: 'smpp_inbound_parked_total',
    help: 'deliver_sm / data_sm that Postgres refused to store (a constraint, a trigger, a value it cannot hold): kept in sms_inbound_parked and acknowledged',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly inboundReadPauses = new Counter({
    name: 'smpp_inbound_read_pauses_total',
    help: 'Times the session stopped reading from the SMSC because SMPP_INBOUND_WINDOW deliver_sm were held unanswered (Postgres slow or locked)',
    registers: [this.registry],
  });
  readonly throttled = new Counter({
    name: 'smpp_throttled_total',
    help: 'ESME_RTHROTTLED / ESME_RMSGQFUL responses (the session slows down and resubmits the part)',
    registers: [this.registry],
  });
  readonly throttlePauses = new Counter({
    name: 'smpp_throttle_pauses_total',
    help: 'Times the session paused sending and halved its window because the SMSC throttled (responses to PDUs sent before a pause do not add one)',
    registers: [this.registry],
  });
  readonly validityRefusals = new Counter({
    name: 'smpp_validity_period_refusals_total',
    help: 'Binds on which the SMSC refused validity_period (ESME_RINVEXPIRY and kin) and took the message without it; the rest of that bind sends none',
    registers: [this.registry],
  });
  readonly reconnects = new Counter({ name: 'smpp_reconnects_total', help: 'SMPP reconnect attempts (after a lost session or a failed connect or bind)', registers: [this.registry] });
  readonly disconnects = new Counter({ name: 'smpp_disconnects_total', help: 'SMPP connections lost, or connects that failed (stop() not counted)', registers: [this.registry] });
  readonly bindFailures = new Counter({
    name: 'smpp_bind_failures_total',
    help: 'Binds refused by the SMSC, by command_status name (ESME_RINVPASWD / ESME_RINVSYSID: check SMPP_URL and SMPP_PASSWORD)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly enquireLinkTimeouts = new Counter({
    name: 'smpp_enquire_link_timeouts_total',
    help: 'enquire_link without a response in time: the link was declared dead and reconnected',
    registers: [this.registry],
  });
  readonly pduErrors = new Counter({
    name: 'smpp_pdu_errors_total',
    help: 'Malformed or unexpected PDUs from the SMSC (generic_nack, framing lost, undecodable bodies)',
    registers: [this.registry],
  });
  readonly lateResponses = new Counter({
    name: 'smpp_late_responses_total',
    help: 'submit_sm_resp that arrived after the submit had timed out (that message may be sent twice)',
    registers: [this.registry],
  });
  readonly rateWaits = new Counter({
    name: 'sms_rate_limit_waits_total',
    help: 'Times submits had to wait for the account-wide rate limit (SMPP_TPS)',
    registers: [this.registry],
  });
  readonly rateWaitSeconds = new Counter({
    name: 'sms_rate_limit_wait_seconds_total',
    help: 'Time submits spent waiting for the account-wide rate limit (SMPP_TPS)',
    registers: [this.registry],
  });
  readonly receiptLatency = new Histogram({
    name: 'sms_submit_to_receipt_seconds',
    help: "From a part's submit result being stored to the receipt that ended it (DELIVRD, UNDELIV, ...) arriving: the carrier's delivery time",
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400],
    registers: [this.registry],
  });
  readonly writeRetries = new Counter({
    name: 'sms_write_retries_total',
    help: 'Group-commit writes to Postgres that failed and were retried (what: results = submit results, inbound = receipts and incoming SMS); nothing is acknowledged until written',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });
  readonly fenced = new Counter({
    name: 'sms_results_fenced_total',
    help: 'Submit results not applied because another worker had taken the message over (lease expired): possible duplicates',
    registers: [this.registry],
  });

  /**
   * The session's state and since when (ms, Date.now()); since when it is bound or not bound (a
   * reconnect attempt changes the state, not that); when it last stopped being bound (null: never bound).
   */
  private session: { state: SessionState; since: number; boundOrNotSince: number; lastBoundAt: number | null; lastProblem?: string } = {
    state: 'disconnected',
    since: Date.now(),
    boundOrNotSince: Date.now(),
    lastBoundAt: null,
  };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'sms_outbox_build_info',
      help: 'Always 1; the labels say which sms-outbox and Node.js run',
      labelNames: ['version', 'nodejs'] as const,
      registers: [this.registry],
    }).set({ version: packageVersion(), nodejs: process.version }, 1);
    // Known label values start at 0, so rate() and alerts see a series before the first event.
    for (const status of WORKER_STATUSES) this.messages.inc({ status }, 0);
    for (const matched of ['true', 'false']) this.receipts.inc({ matched }, 0);
    for (const what of ['results', 'inbound']) this.writeRetries.inc({ what }, 0);
    // The credential refusals the "bind refused" alert watches: a series born at 1 is invisible
    // to increase(), so the first refused bind would never fire it.
    for (const code of [STATUS.ESME_RINVPASWD, STATUS.ESME_RINVSYSID, STATUS.ESME_RBINDFAIL]) this.bindFailures.inc({ status: statusLabel(code).status }, 0);
    for (const kind of ['receipt', 'mo']) this.inboundParked.inc({ kind }, 0);
    this.submits.inc(statusLabel(0), 0);
  }

  /** Seconds the session has been in its current state (smpp_session_state_seconds). */
  stateSeconds(): number {
    return (Date.now() - this.session.since) / 1000;
  }

  onRateWait(seconds: number): void {
    this.rateWaits.inc();
    this.rateWaitSeconds.inc(seconds);
  }

  sessionStatus(): SessionStatus {
    const s = this.session;
    const bound = s.state === 'bound';
    return {
      bound,
      state: s.state,
      forSeconds: (Date.now() - s.boundOrNotSince) / 1000,
      ...(bound ? {} : { lastBoundAt: s.lastBoundAt === null ? null : new Date(s.lastBoundAt).toISOString() }),
      ...(s.lastProblem ? { lastProblem: s.lastProblem } : {}),
    };
  }

  /** A session's counters (attachSession's, and with SMPP_BINDS above 1 each other bind's): the gauges show the first. */
  attachCounters(session: SmppSession): void {
    session.on('bind_failed', (e: { commandStatus: number }) => this.bindFailures.inc({ status: statusLabel(e.commandStatus).status }));
    session.on('submit_resp', (e: { commandStatus: number; rttMs: number }) => {
      this.submits.inc(statusLabel(e.commandStatus));
      if (isThrottle(e.commandStatus)) this.throttled.inc();
      this.submitRtt.observe(e.rttMs / 1000);
    });
    session.on('disconnected', () => void (session.state !== 'unbinding' && session.state !== 'closed' && this.disconnects.inc()));
    const counted = [
      ['response_timeout', this.submitTimeouts], ['late_response', this.lateResponses], ['enquire_link_timeout', this.enquireLinkTimeouts],
      ['pdu_error', this.pduErrors], ['inbound_error', this.inboundErrors], ['inbound_paused', this.inboundReadPauses],
      ['throttled', this.throttlePauses], ['reconnect', this.reconnects], ['validity_refused', this.validityRefusals],
    ] as const;
    for (const [event, counter] of counted) session.on(event, () => counter.inc());
  }

  /** Session counters from its events, and gauges read from it on scrape. `configuredTps` is SMPP_TPS (0: unlimited). */
  attachSession(session: SmppSession, configuredWindow: number, configuredTps = 0): void {
    const attached = Date.now();
    this.session = { state: session.state, since: attached, boundOrNotSince: attached, lastBoundAt: null };
    session.on('state', (state: SessionState) => {
      const s = this.session;
      if (state === s.state) return;
      const now = Date.now();
      const wasBound = s.state === 'bound';
      const isBound = state === 'bound';
      s.state = state;
      s.since = now;
      if (wasBound !== isBound) s.boundOrNotSince = now;
      if (wasBound) s.lastBoundAt = now;
    });
    session.on('bound', () => {
      delete this.session.lastProblem;
    });
    session.on('disconnected', (e: { reason: string }) => {
      this.session.lastProblem = e.reason;
    });
    session.on('bind_failed', (e: { statusName: string }) => void (this.session.lastProblem = `bind refused: ${e.statusName}`));
    this.attachCounters(session);

    new Gauge({
      name: 'smpp_window_in_use',
      help: 'Outstanding submit_sm PDUs (sent, response not yet received)',
      registers: [this.registry],
      collect() {
        this.set(session.windowInUse);
      },
    });
    new Gauge({
      name: 'smpp_window_size',
      help: 'Outstanding submit_sm allowed now: SMPP_WINDOW, less while recovering from throttling',
      registers: [this.registry],
      collect() {
        this.set(session.currentWindow);
      },
    });
    new Gauge({
      name: 'smpp_window_limit',
      help: 'SMPP_WINDOW as configured',
      registers: [this.registry],
    }).set(configuredWindow);
    new Gauge({
      name: 'smpp_tps_limit',
      help: 'SMPP_TPS as configured: submit_sm per second allowed for the whole account, shared by every worker (0 = unlimited)',
      registers: [this.registry],
    }).set(configuredTps);
    new Gauge({
      name: 'smpp_inbound_pending',
      help: 'deliver_sm / data_sm received and not yet answered (being written to Postgres); at most SMPP_INBOUND_WINDOW',
      registers: [this.registry],
      collect() {
        this.set(session.inboundInFlight);
      },
    });
    new Gauge({
      name: 'smpp_queued_parts',
      help: 'Message parts handed to the session and waiting for a window slot, rate tokens or a bound session',
      registers: [this.registry],
      collect() {
        this.set(session.queuedParts);
      },
    });
    new Gauge({
      name: 'smpp_session_state',
      help: '1 for the current SMPP session state, 0 for the others',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        for (const s of SESSION_STATES) this.set({ state: s }, session.state === s ? 1 : 0);
      },
    });
    new Gauge({
      name: 'smpp_validity_period_sent',
      help: '1 while submit_sm carry validity_period; 0 when SMPP_VALIDITY_PERIOD=off or the SMSC refused it on this bind',
      registers: [this.registry],
      collect() {
        this.set(session.sendsValidityPeriod ? 1 : 0);
      },
    });
    new Gauge({
      name: 'smpp_session_bound',
      help: '1 while the SMPP session is bound (alert when 0 for minutes)',
      registers: [this.registry],
      collect() {
        this.set(session.isBound ? 1 : 0);
      },
    });
    const metrics = this;
    new Gauge({
      name: 'smpp_session_state_seconds',
      help: 'Seconds the SMPP session has been in its current state',
      registers: [this.registry],
      collect() {
        this.set(metrics.stateSeconds());
      },
    });
  }

  /**
   * Queue gauges read from Postgres on scrape, at most once per `cacheMs`. A failed or slow read
   * (over `timeoutMs`) sets sms_database_up to 0 and keeps the last values; the scrape itself
   * always succeeds, so the session metrics stay visible while the database is down.
   */
  attachDatabase(db: Kysely<Database>, options: { cacheMs?: number; timeoutMs?: number } = {}): void {
    const cacheMs = options.cacheMs ?? 5000;
    const timeoutMs = options.timeoutMs ?? 3000;
    type Reading = { at: number; ok: boolean; depth: number; sending: number; awaiting: number; overdue: number; oldest: number; unmatched: number; refusals: Record<string, number> };
    let last: Reading = { at: 0, ok: false, depth: 0, sending: 0, awaiting: 0, overdue: 0, oldest: 0, unmatched: 0, refusals: {} };
    let inflight: Promise<Reading> | undefined;
    const query = async (): Promise<Reading> => {
      // Each figure reads a partial index, and counting stops at COUNT_CAP rows. The oldest due
      // message is found by one probe per priority (-10..10) of sms_outbox_due_idx. The Auth
      // hook's refusals are sequence reads.
      const { rows } = await sql<{ depth: number; sending: number; awaiting: number; overdue: number; oldest: number | null; unmatched: number; refusals: Record<string, number> }>`
        select
          (select count(*)::int from (select 1 from public.sms_outbox
             where status = 'queued' and next_attempt_at <= now()
               and not exists (select from sms_private.outbox_lease l where l.outbox_id = sms_outbox.id) limit ${COUNT_CAP}) d) as depth,
          (select count(*)::int from (select 1 from sms_private.outbox_lease limit ${COUNT_CAP}) s) as sending,
          (select count(*)::int from (select 1 from public.sms_outbox
             where status = 'sent' limit ${COUNT_CAP}) a) as awaiting,
          (select count(*)::int from (select 1 from public.sms_outbox o cross join public.sms_settings s
             where o.status = 'sent' and o.expires_at + s.receipt_grace < now() limit ${COUNT_CAP}) v) as overdue,
          (select extract(epoch from now() - min(c.next_attempt_at))::float8
             from generate_series(${PRIORITY_MAX}::int, ${PRIORITY_MIN}::int, -1) p(priority)
             cross join lateral (select next_attempt_at from public.sms_outbox
                where status = 'queued' and priority = p.priority and next_attempt_at <= now()
                  and not exists (select from sms_private.outbox_lease l where l.outbox_id = sms_outbox.id)
                order by next_attempt_at limit 1) c) as oldest,
          (select count(*)::int from (select 1 from public.sms_receipt
             where matched_at is null limit ${COUNT_CAP}) u) as unmatched,
          (select json_object_agg(f.reason, f.refusals) from public.sms_auth_hook_refusals() f) as refusals
      `.execute(db);
      const r = rows[0]!;
      return {
        at: Date.now(),
        ok: true,
        depth: r.depth,
        sending: r.sending,
        awaiting: r.awaiting,
        overdue: r.overdue,
        oldest: Math.max(0, r.oldest ?? 0),
        unmatched: r.unmatched,
        refusals: r.refusals ?? {},
      };
    };
    const read = (): Promise<Reading> => {
      if (Date.now() - last.at < cacheMs) return Promise.resolve(last);
      inflight ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
        });
        try {
          last = await Promise.race([query(), timeout]);
        } catch {
          // Keep the last values; say the database did not answer. Retry on the next scrape.
          last = { ...last, at: 0, ok: false };
        } finally {
          clearTimeout(timer);
          inflight = undefined;
        }
        return last;
      })();
      return inflight;
    };
    const gauge = (name: string, help: string, pick: (r: Reading) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          this.set(pick(await read()));
        },
      });
    gauge('sms_database_up', '1 when the last read of the queue gauges from Postgres succeeded, 0 when it failed or timed out', (r) => (r.ok ? 1 : 0));
    gauge('sms_queue_depth', `Queued messages that are due now (counted up to ${COUNT_CAP})`, (r) => r.depth);
    gauge('sms_sending_messages', 'Messages a worker has claimed and is submitting (status sending: a lease in sms_private.outbox_lease)', (r) => r.sending);
    gauge('sms_awaiting_receipt_messages', 'Messages accepted by the SMSC and waiting for a delivery receipt (status sent)', (r) => r.awaiting);
    gauge(
      'sms_receipts_overdue',
      `Messages still waiting for their receipt past expires_at plus sms_settings.receipt_grace (counted up to ${COUNT_CAP}): none is coming any more`,
      (r) => r.overdue,
    );
    gauge(
      'sms_oldest_queued_age_seconds',
      'Age of the oldest due, unsent message (0 when none): rising means the outbox is not draining',
      (r) => r.oldest,
    );
    gauge('sms_unmatched_receipts', 'Receipts kept in sms_receipt that matched no message (yet)', (r) => r.unmatched);
    // Counted in SQL (they survive the rollback of Auth's transaction), shared by every worker.
    new Counter({
      name: 'sms_auth_hook_refusals_total',
      help: 'Sign-in codes the Supabase Auth Send SMS Hook refused since the install, by reason (bad_event, bad_phone, country, phone_limit, global_limit, busy, error, range_blocked, range_throttled); read from Postgres, the same on every worker',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      async collect() {
        const r = await read();
        this.reset();
        for (const reason of AUTH_HOOK_REFUSAL_REASONS) this.inc({ reason }, Math.max(0, Number(r.refusals[reason] ?? 0)));
      },
    });
    registerPumpingMetrics(this.registry, db, { cacheMs, timeoutMs });
  }

  /** Hooks for the pump and the store. */
  hooks(): { pump: PumpEvents; store: StoreEvents } {
    return {
      pump: {
        onDispatch: (m: ClaimedMessage) => this.dispatchDelay.observe(Math.max(0, Date.now() - m.nextAttemptAt.getTime()) / 1000),
        onClaimed: (_count: number, expired: number) => {
          if (expired) this.messages.inc({ status: 'expired' }, expired);
        },
      },
      store: {
        onCommitted: (s: FlushSummary) => {
          if (s.sent) this.messages.inc({ status: 'sent' }, s.sent);
          if (s.failed + s.exhausted) this.messages.inc({ status: 'failed' }, s.failed + s.exhausted);
          if (s.retried) this.retries.inc(s.retried);
          for (const [status, n] of Object.entries(s.finalFromReceipts)) if (n) this.messages.inc({ status }, n);
          if (s.receiptsMatched) this.receipts.inc({ matched: 'true' }, s.receiptsMatched);
          if (s.receiptsUnmatched) this.receipts.inc({ matched: 'false' }, s.receiptsUnmatched);
          if (s.lateMatches) this.lateMatches.inc(s.lateMatches);
          if (s.inbox) this.inbox.inc(s.inbox);
          if (s.duplicateParts) this.inboxDuplicateParts.inc(s.duplicateParts);
          if (s.handlerCalls > s.handlerFailures) this.handlerCalls.inc({ outcome: 'ok' }, s.handlerCalls - s.handlerFailures);
          if (s.handlerFailures) this.handlerCalls.inc({ outcome: 'failed' }, s.handlerFailures);
          if (s.fenced) this.fenced.inc(s.fenced);
          for (const seconds of s.receiptLatencies) this.receiptLatency.observe(Math.max(0, seconds));
        },
        onWriteRetry: (what) => this.writeRetries.inc({ what }),
        onParked: (p) => this.inboundParked.inc({ kind: p.kind }),
      },
    };
  }
}
