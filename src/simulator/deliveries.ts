/**
 * The deliver_sm the simulator sends (receipts, MO parts, raw requests), tracked as an SMSC
 * tracks them: sent on a session that can receive (or held until one binds), receipts after
 * their delay, and, with `redeliver`, sent again when refused with a temporary error, left
 * unanswered past `deliverTimeoutMs`, or lost with their connection (an answer taken as lost,
 * MoOptions.loseAcks, leaves one unanswered).
 */
import { STATUS } from '../smpp/command-status.js';
import type { PduHeader } from '../smpp/pdu.js';
import type { Counters, Delivery, PendingReceipt, ResolvedOptions, SimSession } from './types.js';

/** Statuses after which an SMSC tries the deliver_sm again. */
const REDELIVER_ON = new Set([STATUS.ESME_RX_T_APPN, STATUS.ESME_RSYSERR, STATUS.ESME_RMSGQFUL, STATUS.ESME_RTHROTTLED]);

export class Deliveries {
  private pendingReceipts: PendingReceipt[] = [];
  private pendingHead = 0;
  private receiptTimer: NodeJS.Timeout | null = null;
  /** Deliveries waiting for a session that can receive. */
  private undelivered: Delivery[] = [];
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly sessions: ReadonlySet<SimSession>,
    private readonly counters: Counters,
    /** Called for each answer to a delivery (its response, or a generic_nack). */
    private readonly onAnswer: (delivery: Delivery, status: number) => void,
  ) {
    this.sweepTimer = setInterval(() => this.sweep(), 250);
    this.sweepTimer.unref();
  }

  /** Sent and not answered yet (on the wire, or waiting for a session that can receive). */
  get unanswered(): number {
    let n = this.undelivered.length;
    for (const s of this.sessions) n += s.deliveries.size;
    return n;
  }

  /** Sends now on `preferred` if it can receive, else on any session that can, else holds it. */
  deliver(delivery: Delivery, preferred?: SimSession): void {
    const session = this.pickReceiver(preferred);
    if (!session) {
      this.undelivered.push(delivery);
      return;
    }
    const seq = session.conn.nextSequence();
    delivery.attempts++;
    delivery.sentAt = performance.now();
    delivery.session = session;
    session.deliveries.set(seq, delivery);
    session.conn.write(delivery.build(seq));
  }

  /** A receipt goes after receiptDelayMs, preferably on the session its submit came on. */
  scheduleReceipt(delivery: Delivery, session: SimSession): void {
    const delay = this.options.receiptDelayMs;
    if (delay <= 0) return this.deliver(delivery, session);
    delivery.session = session;
    this.pendingReceipts.push({ due: performance.now() + delay, delivery });
    if (!this.receiptTimer) this.receiptTimer = setTimeout(() => this.flushReceipts(), delay);
  }

  /** A session that can receive has bound: what was held goes out. */
  flushUndelivered(): void {
    const waiting = this.undelivered;
    this.undelivered = [];
    for (const d of waiting) this.deliver(d);
  }

  /** A deliver_sm_resp, data_sm_resp or generic_nack for sequence `header.sequence` of `session`. */
  answered(session: SimSession, header: PduHeader): void {
    const delivery = session.deliveries.get(header.sequence);
    if (!delivery) return;
    if (delivery.loseAcks) {
      // As if the answer never came: still unanswered, sent again after a reconnect or the timeout.
      delivery.loseAcks--;
      this.counters.acksLost++;
      return;
    }
    session.deliveries.delete(header.sequence);
    this.counters.deliverResps++;
    if (delivery.onResponse) {
      const answer = delivery.onResponse;
      delivery.onResponse = undefined;
      answer(header.status);
    }
    this.onAnswer(delivery, header.status);
    if (header.status !== 0 && this.options.redeliver && REDELIVER_ON.has(header.status)) this.requeue(delivery, this.options.redeliverDelayMs);
  }

  /** What the ESME never answered on a closed session goes out again on the next that can receive. */
  sessionClosed(session: SimSession): void {
    const lost = [...session.deliveries.values()];
    session.deliveries.clear();
    if (this.options.redeliver) for (const d of lost) this.requeue(d, 0);
  }

  stop(): void {
    clearInterval(this.sweepTimer);
    if (this.receiptTimer) clearTimeout(this.receiptTimer);
    this.receiptTimer = null;
  }

  private flushReceipts(): void {
    this.receiptTimer = null;
    const now = performance.now();
    while (this.pendingHead < this.pendingReceipts.length) {
      const head = this.pendingReceipts[this.pendingHead] as PendingReceipt;
      if (head.due > now) break;
      this.pendingHead++;
      this.deliver(head.delivery, head.delivery.session ?? undefined);
    }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pendingReceipts.length) {
      this.pendingReceipts = this.pendingReceipts.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    const next = this.pendingReceipts[this.pendingHead];
    if (next) this.receiptTimer = setTimeout(() => this.flushReceipts(), Math.max(1, Math.ceil(next.due - now)));
  }

  private pickReceiver(preferred?: SimSession): SimSession | null {
    if (preferred && preferred.bound && preferred.canReceive && !preferred.conn.closed) return preferred;
    for (const s of this.sessions) if (s.bound && s.canReceive && !s.conn.closed) return s;
    return null;
  }

  private requeue(delivery: Delivery, delayMs: number): void {
    this.counters.redeliveries++;
    if (delayMs <= 0) this.deliver(delivery);
    else setTimeout(() => this.deliver(delivery), delayMs).unref();
  }

  private sweep(): void {
    if (!this.options.redeliver) return;
    const now = performance.now();
    for (const s of this.sessions) {
      for (const [seq, d] of s.deliveries) {
        if (now - d.sentAt < this.options.deliverTimeoutMs) continue;
        s.deliveries.delete(seq);
        this.requeue(d, 0);
      }
    }
  }
}
