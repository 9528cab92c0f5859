/**
 * The drain of the outbox through this worker's SMPP session:
 *
 *   claim due rows (queued → sending)  →  session.submit  →  store.recordResult (sent | queued | failed)
 *
 * - At most `window` messages await their submit_sm_resp (SMPP_WINDOW): a slot is freed when the
 *   response arrives, so the carrier's window is spent on the wire, not on our commits.
 * - At most `maxUncommitted` messages are in flight: submitted and not yet durably resolved,
 *   whether awaiting their response or their commit (SMS_MAX_UNCOMMITTED, at least the window).
 *   That is the most a crash can repeat (the SMSC may have accepted any of them).
 * - Up to `window` more rows are claimed ahead so the session never waits on a claim; those were
 *   not sent, so a crash only delays them by the lease.
 * - Waking: an idle pump waits for the `sms_outbox_wakeup` NOTIFY (which apps send only while the
 *   wake-up lease in sms_wakeup is armed; idle workers renew it), for a kick, or for its timer: set
 *   for the next scheduled row when it goes idle, and brought forward by `wakeIn` whenever a row
 *   is put back in the queue for later (a retry's back-off, from this worker's store or another
 *   worker's NOTIFY), so a retry goes out at its time whatever the pump was doing. While messages
 *   keep arriving (a backlog, or more than ~300 a second) it disarms the lease, so enqueuing costs
 *   apps nothing extra (a NOTIFY serialises their commits), and looks again every few
 *   milliseconds; when the flow stops it re-arms, checks once more for rows committed in between,
 *   and again a second later (for app transactions that spanned the re-arming). An idle pump
 *   never polls.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from '../logger.js';
import type { Database } from '../db/schema.js';
import { armWakeup, claimDue, disarmWakeup, nextDueInMs, releaseUnsent, WAKEUP_LEASE_SECONDS, type ClaimedMessage } from '../db/outbox.js';
import type { SmppSession } from '../smpp/session.js';
import type { OutboxStore } from './store.js';
import { Signal } from './signal.js';
import { workerTiming, type WorkerTiming } from './timing.js';

/*
 * Above an arrival rate (timing.flowRows claimed within timing.flowWindowMs, about 300 a second
 * by default) the pump stays disarmed between claims and looks again every timing.flowPollMs:
 * apps then pay no NOTIFY, and a message waits at most that long. Below it, the pump arms the
 * wake-up and sleeps until a NOTIFY.
 */

export interface PumpOptions {
  workerId: string;
  /** Messages awaiting their submit_sm_resp at most (SMPP_WINDOW), and rows claimed ahead. */
  window: number;
  /** Messages submitted and not yet durably resolved at most (SMS_MAX_UNCOMMITTED; default 2 x window, at least window). */
  maxUncommitted?: number;
  leaseSeconds: number;
  /** Largest single claim. */
  maxClaim?: number;
  /** A re-check this long after re-arming catches rows whose app transaction spanned the re-arm (timing.rearmRecheckMs). */
  rearmRecheckMs?: number;
  /** Flow detection, the pause after a database error, the wake-up renewal (src/worker/timing.ts). */
  timing?: Partial<WorkerTiming>;
}

export interface PumpEvents {
  /** After each claim: rows now held, and rows found past expires_at (marked expired, not sent). */
  onClaimed?: (count: number, expired: number) => void;
  /** Time from the row's due time (its commit, for unscheduled rows) to its submit_sm going out. */
  onDispatch?: (message: ClaimedMessage) => void;
  /** The session's outcome for a message, before the store writes it. */
  onSubmitted?: (message: ClaimedMessage, outcome: 'accepted' | 'rejected' | 'retry') => void;
  /** Out of due work: nothing claimed left, the wake-up armed, the timer for the next scheduled row set; `quiet` as Pump.quiet. */
  onIdle?: (idle: { quiet: boolean }) => void;
  /** Postgres said when the next queued row falls due (ms from now; null: none queued), for the idle pump's timer. */
  onDueLookup?: (dueInMs: number | null) => void;
}

export class Pump {
  private readonly signal = new Signal();
  private readonly queue: ClaimedMessage[] = [];
  /** Submitted, outcome not yet committed (awaiting the response, or the commit). */
  private inFlight = 0;
  /** Submitted, response not yet in. */
  private awaitingResponse = 0;
  private readonly maxUncommitted: number;
  private mayHaveWork = true;
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private dueTimer: NodeJS.Timeout | undefined;
  /** When dueTimer fires (performance.now() time). */
  private dueTimerAt = 0;
  /** Aborted by stop(): ends the pauses after a database error at once. */
  private readonly stopped = new AbortController();
  private recheckTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private idle = false;
  private dbErrorLogged = 0;
  private readonly maxClaim: number;
  private claims = { count: 0, rows: 0, ms: 0 };
  /** Time messages spent in the session (submit to outcome) and the store (outcome to commit). */
  private stages = { count: 0, sessionMs: 0, storeMs: 0 };
  private statsTimer: NodeJS.Timeout | undefined;
  private wakeupTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly timing: WorkerTiming;
  /** (time, rows) of the claims of the last timing.flowWindowMs that found rows. */
  private recentClaims: [number, number][] = [];
  /**
   * Whether this worker last armed (true) or disarmed (false) the wake-up. Assumed armed at
   * start (a previous worker's lease may still hold), so a backlog found at start disarms it.
   */
  private armed = true;
  /** The last claim found nothing although a row was due by Postgres's clock (scheduleNextDue). */
  private dueNowMissed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly session: Pick<SmppSession, 'submit' | 'isBound'>,
    private readonly store: OutboxStore,
    private readonly logger: Logger,
    private readonly options: PumpOptions,
    private readonly events: PumpEvents = {},
  ) {
    this.maxClaim = options.maxClaim ?? Math.max(50, options.window);
    this.maxUncommitted = Math.max(options.maxUncommitted ?? 2 * options.window, options.window);
    this.timing = workerTiming({ ...options.timing, ...(options.rearmRecheckMs !== undefined ? { rearmRecheckMs: options.rearmRecheckMs } : {}) });
    store.onRetriesQueued((ms) => this.wakeIn(ms));
  }

  /**
   * Idle with no re-check or flow poll pending: only a NOTIFY, a kick, wakeIn or the timer of
   * the next scheduled row makes it claim again.
   */
  get quiet(): boolean {
    return this.idle && !this.stopping && !this.mayHaveWork && this.recheckTimer === undefined && this.pollTimer === undefined && this.queue.length === 0 && this.inFlight === 0;
  }

  /** Messages claimed but not yet submitted, and submitted but not yet durably resolved. */
  get held(): { queued: number; inFlight: number } {
    return { queued: this.queue.length, inFlight: this.inFlight };
  }

  start(): void {
    if (this.logger.isLevelEnabled('debug')) {
      this.statsTimer = setInterval(() => this.logStats(), 1000);
      this.statsTimer.unref();
    }
    this.wakeupTimer = setInterval(() => void this.renewWakeup(), Math.min(this.timing.wakeupRenewMs, (WAKEUP_LEASE_SECONDS * 1000) / 3));
    this.wakeupTimer.unref();
    this.loopDone ??= this.loop().catch((err) => {
      this.logger.fatal({ err }, 'the drain loop crashed');
      throw err;
    });
  }

  /** Something may be due: a NOTIFY, a reclaimed lease, a reconnect, the sms_drain task. */
  kick(): void {
    this.mayHaveWork = true;
    this.signal.notify();
  }

  /**
   * A row falls due in `ms` milliseconds (0: now): a retry put back in the queue, a wake-up with
   * a due time. Kicks now, or arms the timer for then unless it is already set for earlier.
   */
  wakeIn(ms: number): void {
    if (this.stopping) return;
    if (ms <= 0) {
      this.kick();
      return;
    }
    const at = performance.now() + ms;
    if (this.dueTimer && this.dueTimerAt <= at) return;
    clearTimeout(this.dueTimer);
    this.dueTimerAt = at;
    this.dueTimer = setTimeout(() => {
      this.dueTimer = undefined;
      this.kick();
    }, Math.min(ms, 2 ** 31 - 1));
    this.dueTimer.unref();
  }

  /** The session state changed (bound or not): re-evaluate. */
  poke(): void {
    this.signal.notify();
  }

  /**
   * Kicks the pump and resolves when it next runs out of due work (for the sms_drain task), or at
   * once when it is stopping (it claims nothing more, so there is nothing to wait for).
   */
  drainOnce(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.kick();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops claiming, returns claimed-but-unsent rows to the queue, and waits (bounded) for the
   * messages in flight to be resolved and written.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    for (const w of this.idleWaiters.splice(0)) w();
    clearInterval(this.statsTimer);
    clearInterval(this.wakeupTimer);
    clearTimeout(this.pollTimer);
    clearTimeout(this.dueTimer);
    clearTimeout(this.recheckTimer);
    this.signal.notify();
    await this.loopDone;
    const unsent = this.queue.splice(0);
    if (unsent.length) {
      try {
        const n = await releaseUnsent(this.db, this.options.workerId, unsent);
        this.logger.info({ released: n }, 'returned claimed, unsent messages to the queue');
      } catch (err) {
        this.logger.warn({ err, count: unsent.length }, 'could not return unsent messages now; they return to the queue when their lease expires');
      }
    }
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await this.signal.wait(deadline - Date.now());
    if (this.inFlight > 0) this.logger.warn({ inFlight: this.inFlight }, 'stopped with messages still in flight; their leases will expire and they will be retried');
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async loop(): Promise<void> {
    const { window } = this.options;
    while (!this.stopping) {
      // Submit what is claimed, as far as the window allows.
      this.fill();

      const room = window - this.queue.length;
      if (this.mayHaveWork && room > 0 && this.session.isBound) {
        this.idle = false;
        this.mayHaveWork = false; // a wake-up during the claim sets it again
        const asked = Math.min(room, this.maxClaim);
        let claimed: ClaimedMessage[];
        try {
          const claimStarted = performance.now();
          const r = await claimDue(this.db, this.options.workerId, asked, this.options.leaseSeconds);
          this.claims.count++;
          this.claims.rows += r.messages.length;
          this.claims.ms += performance.now() - claimStarted;
          claimed = r.messages;
          this.dbErrorLogged = 0;
          this.events.onClaimed?.(claimed.length, r.expired);
          if (r.expired) this.logger.info({ count: r.expired }, 'messages expired before they could be sent');
          this.noteFlow(claimed.length + r.expired);
          if (claimed.length + r.expired > 0) this.dueNowMissed = false;
          if (claimed.length + r.expired >= asked) {
            // A backlog: keep claiming, and spare the apps their NOTIFYs while we drain.
            this.mayHaveWork = true;
            this.disarm();
          }
        } catch (err) {
          this.onDbError(err, 'claiming due messages');
          this.mayHaveWork = true;
          await this.pause(this.timing.dbErrorPauseMs);
          continue;
        }
        this.queue.push(...claimed);
        this.fill();
        if (this.mayHaveWork) continue;
        if (this.flowing()) {
          // Messages keep arriving: stay disarmed (a NOTIFY per app commit would serialise the
          // apps' commits) and look again shortly instead.
          this.disarm();
          this.schedulePoll();
        } else if (await this.arm()) {
          // Out of due work: the wake-up is armed again. If it was off, rows committed meanwhile
          // sent no NOTIFY: look again now, and once more a little later.
          this.mayHaveWork = true;
          this.scheduleRecheck();
          continue;
        }
      }

      if (!this.mayHaveWork && this.queue.length === 0) {
        await this.goIdle();
        continue;
      }
      await this.signal.wait();
    }
  }

  /** Nothing due: arm a timer for the next scheduled row and wait for a NOTIFY or a kick. */
  private async goIdle(): Promise<void> {
    if (!this.idle) {
      // While messages flow, the poll claims again within timing.flowPollMs: asking when the
      // next row falls due would only repeat that claim's walk past the rows in flight (they
      // stay `queued` in sms_outbox, migration 0034), up to a window's worth, each time.
      if (this.pollTimer === undefined) await this.scheduleNextDue();
      // Kicked meanwhile: not idle after all; claim first.
      if (this.mayHaveWork || this.stopping) return;
      this.idle = true;
      for (const w of this.idleWaiters.splice(0)) w();
      this.events.onIdle?.({ quiet: this.quiet });
    }
    await this.signal.wait();
  }

  private async scheduleNextDue(): Promise<void> {
    let due: number | null;
    try {
      due = await nextDueInMs(this.db);
      this.events.onDueLookup?.(due);
    } catch (err) {
      this.onDbError(err, 'finding the next scheduled message');
      due = this.timing.dbErrorPauseMs;
    }
    if (due === 0 && !this.dueNowMissed) {
      // Due now, yet the claim just before did not find it: the timer may have fired a little
      // before the row's time (Node.js measures a timer from the event loop's cached clock, which
      // can be behind), so the claim's now() fell short of it. Claim once more at once.
      this.dueNowMissed = true;
      this.kick();
      return;
    }
    if (due !== 0) this.dueNowMissed = false;
    // Due already and missed twice: another worker holds it locked. Look again a little later.
    if (due !== null) this.wakeIn(due || this.timing.lockedDueRecheckMs);
  }

  /** Waits `ms`, or less when the pump is stopped meanwhile. */
  private pause(ms: number): Promise<void> {
    return delay(ms, undefined, { signal: this.stopped.signal, ref: false }).catch(() => {});
  }

  private scheduleRecheck(): void {
    clearTimeout(this.recheckTimer);
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      this.kick();
    }, this.timing.rearmRecheckMs);
    this.recheckTimer.unref();
  }

  /** Records how many rows a claim found, for the arrival-rate test below. */
  private noteFlow(rows: number): void {
    const now = performance.now();
    if (rows) this.recentClaims.push([now, rows]);
    while (this.recentClaims.length && now - this.recentClaims[0]![0] > this.timing.flowWindowMs) this.recentClaims.shift();
  }

  /** Messages are arriving faster than timing.flowRows per timing.flowWindowMs. */
  private flowing(): boolean {
    this.noteFlow(0);
    let rows = 0;
    for (const [, n] of this.recentClaims) rows += n;
    return rows >= this.timing.flowRows;
  }

  private schedulePoll(): void {
    if (this.pollTimer) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.kick();
    }, this.timing.flowPollMs);
  }

  private disarm(): void {
    if (!this.armed) return;
    this.armed = false;
    void disarmWakeup(this.db).catch((err) => this.onDbError(err, 'disarming the wake-up'));
  }

  /** Arms (renews) the wake-up lease; true when it had lapsed or was off. */
  private async arm(): Promise<boolean> {
    try {
      const lapsed = await armWakeup(this.db);
      this.armed = true;
      return lapsed;
    } catch (err) {
      this.onDbError(err, 'arming the wake-up');
      return true; // unknown: look again as if it had been off
    }
  }

  /** While idle, renew the wake-up lease; if it had lapsed (or another worker cleared it), look again. */
  private async renewWakeup(): Promise<void> {
    if (!this.idle || this.stopping) return;
    if (await this.arm()) this.kick();
  }

  /** Submits claimed rows while the window and the bound on uncommitted outcomes allow. */
  private fill(): void {
    while (this.queue.length && this.awaitingResponse < this.options.window && this.inFlight < this.maxUncommitted && this.session.isBound) {
      this.dispatch(this.queue.shift()!);
    }
  }

  private dispatch(message: ClaimedMessage): void {
    this.inFlight++;
    this.awaitingResponse++;
    let awaiting = true;
    /** Frees the window slot once: true the first time. */
    const answered = () => {
      if (!awaiting) return false;
      awaiting = false;
      this.awaitingResponse--;
      return true;
    };
    this.events.onDispatch?.(message);
    const started = performance.now();
    let submitted = started;
    this.session
      .submit({ id: message.id, source: message.sender, destination: message.recipient, body: message.body, validUntil: message.expiresAt })
      .then((result) => {
        if (answered()) {
          // The window slot is free once the response is in: refill it now, even while the loop awaits a claim.
          if (!this.stopping) this.fill();
          this.signal.notify(); // the loop claims ahead again
        }
        submitted = performance.now();
        this.events.onSubmitted?.(message, result.outcome);
        if (result.outcome === 'accepted' && result.messageIds.length !== message.segments) {
          this.logger.error(
            { id: message.id, parts: result.messageIds.length, segments: message.segments },
            'the codec split a message into a different number of parts than sms_send counted',
          );
        }
        return this.store.recordResult(message, result).then(() => {
          this.stages.count++;
          this.stages.sessionMs += submitted - started;
          this.stages.storeMs += performance.now() - submitted;
        });
      })
      .catch((err) => {
        // The store retries until written; this only happens when it was closed (shutdown
        // timed out). The row stays `sending` and returns to the queue when its lease expires.
        this.logger.warn({ err, id: message.id }, 'submit outcome not written before shutdown; the message will be retried after its lease');
      })
      .finally(() => {
        answered();
        this.inFlight--;
        if (!this.stopping) this.fill();
        this.signal.notify();
      });
  }

  /** Once a second at LOG_LEVEL=debug: where messages are in the pipeline. */
  private logStats(): void {
    const c = this.claims;
    this.claims = { count: 0, rows: 0, ms: 0 };
    const f = this.store.takeStats();
    const st = this.stages;
    this.stages = { count: 0, sessionMs: 0, storeMs: 0 };
    this.logger.debug(
      {
        queued: this.queue.length,
        inFlight: this.inFlight,
        storePending: this.store.pending,
        claims: c.count,
        claimedRows: c.rows,
        claimMs: Math.round(c.ms),
        flushes: f.flushes,
        flushedItems: f.items,
        flushMs: Math.round(f.ms),
        avgSessionMs: st.count ? Math.round((st.sessionMs / st.count) * 10) / 10 : null,
        avgStoreMs: st.count ? Math.round((st.storeMs / st.count) * 10) / 10 : null,
      },
      'pipeline',
    );
  }

  private onDbError(err: unknown, doing: string): void {
    const now = Date.now();
    if (now - this.dbErrorLogged > 10_000) {
      this.dbErrorLogged = now;
      this.logger.error({ err }, `Postgres error while ${doing}; retrying`);
    }
  }
}
