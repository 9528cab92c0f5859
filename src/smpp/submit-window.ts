/**
 * The sending half of SmppSession: submit() encodes and splits the body (GSM-7 or UCS-2, UDH with
 * a per-session rotating 8-bit reference), then every part waits its turn in one FIFO for a bound
 * link, a window slot (SMPP_WINDOW outstanding submit_sm), rate tokens (SMPP_TPS, counted in PDUs)
 * and a writable socket. ESME_RTHROTTLED / ESME_RMSGQFUL slow the whole session down (a pause that
 * doubles while throttling persists, and a window halved then regrown one slot per window of
 * successes, each slot regained halving the next pause again) and the same part is resubmitted;
 * after throttleGiveUpMs the message is `retry`.
 *
 * validity_period: a message's validUntil (its expires_at) goes as SMPP absolute time, fixed when
 * its first part goes on the wire so every part carries the same one (validity.ts). A part the
 * SMSC refuses for it (ESME_RINVEXPIRY and kin) goes again at once without it, inside the same
 * submit() (the caller sees one result, so it is not another attempt); once such a part is
 * accepted, the rest of the bind sends none, with one warning; the next bind tries it again.
 *
 * Every submit resolves exactly once and never rejects (see SmppSession for the accounting).
 */
import { backoffMs } from '../backoff.js';
import { AddressError, destinationAddress, sourceAddress, type SmppAddress } from './addresses.js';
import { classifyStatus, isThrottle, STATUS } from './command-status.js';
import type { PduConnection } from './connection.js';
import { Fifo } from './fifo.js';
import type { PduHeader } from './pdu.js';
import type { RateLimiter } from './rate-limiter.js';
import type { OutboundMessage, SessionContext, SubmitOptions, SubmitResult } from './session-types.js';
import { encodePdu } from './smpp-lib.js';
import { encodeMessage, MAX_PARTS } from './split.js';
import { CONCAT_UDH_LENGTH, concatUdh, ESM_CLASS_UDHI } from './udh.js';
import { isValidityRefusal, type ValidityState } from './validity.js';

interface Job {
  msg: OutboundMessage;
  resolve: (r: SubmitResult) => void;
  source: SmppAddress;
  destination: SmppAddress;
  dataCoding: number;
  esmClass: number;
  registeredDelivery: number;
  /** validity_period: null until the first part is sent, then the same for every part ('' = none). */
  validity: string | null;
  /** short_message of each part, UDH included. */
  payloads: Buffer[];
  ids: (string | undefined)[];
  inFlight: number;
  failure: Failure | null;
  done: boolean;
}

type Failure =
  | { kind: 'permanent'; status: number }
  | { kind: 'retry'; reason: string; status?: number; unknown: boolean };

interface Task {
  job: Job;
  part: number;
  /** Rate tokens still to take before sending (all of a message's parts go with its first part). */
  tokens: number;
  firstThrottledAt: number;
  /** The command_status that refused this part's validity_period (it is being resent without it). */
  validityRefusedWith?: number;
}

interface Outstanding {
  task: Task;
  sentAt: number;
  /** Throttle epoch when sent: only throttles of PDUs sent after the last pause escalate it. */
  epoch: number;
  /** The PDU carried a validity_period. */
  withValidity: boolean;
}

/** Responses to PDUs we gave up on are remembered this many at most, to report late answers. */
const TIMED_OUT_MEMORY = 4096;

export class SubmitWindow {
  private readonly queue = new Fifo<Task>();
  private readonly resends = new Fifo<Task>();
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly timedOut = new Map<number, { id: string; part: number }>();
  private pumping = false;
  private acquiring = false;
  private resumeTimer: NodeJS.Timeout | null = null;

  private effectiveWindow: number;
  private okStreak = 0;
  private throttleLevel = 0;
  private throttleEpoch = 0;
  private pausedUntil = 0;
  private reference: number;

  constructor(
    private readonly ctx: SessionContext,
    private readonly limiter: RateLimiter | null,
    private readonly validity: ValidityState,
    initialReference: number,
  ) {
    this.effectiveWindow = ctx.o.window;
    this.reference = initialReference & 0xff;
  }

  /** Outstanding submit_sm PDUs. */
  get inUse(): number {
    return this.outstanding.size;
  }

  /** The window in force now: SMPP_WINDOW, or less while recovering from throttling. */
  get current(): number {
    return this.effectiveWindow;
  }

  /** Parts waiting to be sent (not yet on the wire). */
  get queuedParts(): number {
    return this.queue.length + this.resends.length;
  }

  submit(msg: OutboundMessage, options: SubmitOptions = {}): Promise<SubmitResult> {
    try {
      return this.enqueue(msg, options);
    } catch (err) {
      // Never reject: a bug here must still account for the message.
      this.ctx.log.error({ err, messageId: msg.id }, 'bug: submit failed before sending');
      return Promise.resolve(retryResult(`internal error before sending: ${(err as Error).message}`, false));
    }
  }

  private enqueue(msg: OutboundMessage, options: SubmitOptions): Promise<SubmitResult> {
    if (this.ctx.stopping) return Promise.resolve(retryResult('session is stopping', false));
    let source: SmppAddress, destination: SmppAddress;
    try {
      source = sourceAddress(msg.source);
      destination = destinationAddress(msg.destination);
    } catch (err) {
      if (err instanceof AddressError) {
        return Promise.resolve(localReject(err.field === 'source' ? STATUS.ESME_RINVSRCADR : STATUS.ESME_RINVDSTADR, err.message));
      }
      throw err;
    }
    if (msg.body.length === 0) return Promise.resolve(localReject(STATUS.ESME_RINVMSGLEN, 'the message body is empty'));
    const encoded = encodeMessage(msg.body);
    const total = encoded.parts.length;
    if (total > MAX_PARTS) {
      return Promise.resolve(localReject(STATUS.ESME_RINVMSGLEN, `the message needs ${total} parts; an 8-bit concatenation reference allows ${MAX_PARTS}`));
    }
    let payloads: Buffer[];
    if (total === 1) {
      payloads = encoded.parts;
    } else {
      const ref = this.reference;
      this.reference = (this.reference + 1) & 0xff;
      payloads = encoded.parts.map((p, i) => {
        const out = Buffer.allocUnsafe(CONCAT_UDH_LENGTH + p.length);
        concatUdh(ref, total, i + 1).copy(out, 0);
        p.copy(out, CONCAT_UDH_LENGTH);
        return out;
      });
    }
    return new Promise<SubmitResult>((resolve) => {
      const job: Job = {
        msg,
        resolve,
        source,
        destination,
        dataCoding: encoded.dataCoding,
        esmClass: total > 1 ? ESM_CLASS_UDHI : 0,
        registeredDelivery: msg.registeredDelivery === false ? 0 : 1,
        validity: null,
        payloads,
        ids: new Array<string | undefined>(total),
        inFlight: 0,
        failure: null,
        done: false,
      };
      for (let i = 0; i < total; i++) this.queue.push({ job, part: i, tokens: i === 0 ? total : 0, firstThrottledAt: 0 });
      const signal = options.signal;
      if (signal) {
        const onAbort = () => this.fail(job, { kind: 'retry', reason: 'submit aborted by the caller', unknown: false });
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      this.pump();
    });
  }

  /** Sends whatever may go now; stops at the first thing that must be waited for. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const conn = this.ctx.link.conn;
      while (this.ctx.link.state === 'bound' && conn && !conn.needsDrain && this.outstanding.size < this.effectiveWindow) {
        const fromResends = this.resends.length > 0;
        const task = fromResends ? this.resends.peek() : this.queue.peek();
        if (!task) break;
        if (task.job.done || task.job.failure) {
          (fromResends ? this.resends : this.queue).shift();
          continue;
        }
        if (this.pausedUntil > 0) {
          const wait = this.pausedUntil - performance.now();
          if (wait > 0) {
            if (!this.resumeTimer) {
              this.resumeTimer = setTimeout(() => {
                this.resumeTimer = null;
                this.pump();
              }, Math.ceil(wait));
            }
            break;
          }
          this.pausedUntil = 0;
        }
        if (task.tokens > 0 && this.limiter) {
          if (this.limiter.tryAcquire?.(task.tokens)) {
            task.tokens = 0;
          } else {
            this.acquireFor(task);
            break;
          }
        }
        (fromResends ? this.resends : this.queue).shift();
        this.send(conn, task);
      }
    } finally {
      this.pumping = false;
    }
  }

  private acquireFor(task: Task): void {
    if (this.acquiring || !this.limiter) return;
    this.acquiring = true;
    this.limiter.acquire(task.tokens, this.ctx.lifecycle).then(
      () => {
        this.acquiring = false;
        task.tokens = 0;
        this.pump();
      },
      (err: unknown) => {
        this.acquiring = false;
        if (!this.ctx.stopping) {
          this.ctx.log.error({ err }, 'rate limiter failed; retrying in 1 s');
          setTimeout(() => this.pump(), 1000).unref();
        }
      },
    );
  }

  private send(conn: PduConnection, task: Task): void {
    const job = task.job;
    job.validity ??= this.validity.periodFor(job.msg.validUntil);
    const seq = conn.nextSequence();
    const pdu = encodePdu('submit_sm', seq, {
      service_type: this.ctx.o.serviceType,
      source_addr_ton: job.source.ton,
      source_addr_npi: job.source.npi,
      source_addr: job.source.addr,
      dest_addr_ton: job.destination.ton,
      dest_addr_npi: job.destination.npi,
      destination_addr: job.destination.addr,
      esm_class: job.esmClass,
      registered_delivery: job.registeredDelivery,
      validity_period: job.validity,
      data_coding: job.dataCoding,
      short_message: job.payloads[task.part],
    });
    this.outstanding.set(seq, { task, sentAt: performance.now(), epoch: this.throttleEpoch, withValidity: job.validity !== '' });
    job.inFlight++;
    conn.write(pdu);
  }

  onSubmitResp(header: PduHeader, pdu: Buffer): void {
    const entry = this.outstanding.get(header.sequence);
    if (!entry) return this.onStrayResponse(header, pdu);
    this.outstanding.delete(header.sequence);
    const { task } = entry;
    const job = task.job;
    job.inFlight--;
    const status = header.status;
    this.ctx.emit('submit_resp', { commandStatus: status, rttMs: performance.now() - entry.sentAt });
    if (entry.withValidity && isValidityRefusal(status) && !job.failure && !job.done) {
      this.resendWithoutValidity(task, status);
    } else if (status === 0) {
      if (task.validityRefusedWith !== undefined) this.onValidityRefused(task.validityRefusedWith);
      const id = readMessageId(pdu);
      if (id) {
        job.ids[task.part] = id;
        this.onSuccess();
      } else {
        // An ESME_ROK without a message id leaves the message unmatchable to receipts, but it was accepted.
        this.ctx.log.warn({ messageId: job.msg.id, part: task.part + 1 }, 'submit_sm_resp ESME_ROK without a message_id');
        job.ids[task.part] = '';
      }
      this.settle(job);
    } else if (isThrottle(status)) {
      this.onThrottle(status, entry.epoch);
      const now = performance.now();
      if (task.firstThrottledAt === 0) task.firstThrottledAt = now;
      if (now - task.firstThrottledAt >= this.ctx.o.throttleGiveUpMs) {
        this.fail(job, { kind: 'retry', reason: `still throttled after ${Math.round(now - task.firstThrottledAt)} ms`, status, unknown: false });
      } else if (!job.failure && !job.done) {
        task.tokens = 1;
        this.resends.push(task);
      } else {
        this.settle(job);
      }
    } else {
      const info = classifyStatus(status);
      this.fail(job, info.kind === 'permanent' ? { kind: 'permanent', status } : { kind: 'retry', reason: `${info.name}: ${info.description}`, status, unknown: false });
    }
    this.pump();
  }

  /** The SMSC refused this part's validity_period: this message's parts go without it from now on. */
  private resendWithoutValidity(task: Task, status: number): void {
    task.job.validity = '';
    task.validityRefusedWith = status;
    task.tokens = 1;
    this.resends.push(task);
  }

  /** A part refused with validity_period was accepted without it: leave it out for the rest of this bind. */
  private onValidityRefused(status: number): void {
    if (!this.validity.markRefused(status)) return;
    const statusName = classifyStatus(status).name;
    this.ctx.log.warn({ statusName }, `the SMSC refused validity_period (${statusName}) and accepted the message without it; this session sends none until it binds again`);
    this.ctx.emit('validity_refused', { commandStatus: status, statusName });
  }

  /** False while SMPP_VALIDITY_PERIOD is off, or the SMSC refused validity_period on this bind. */
  get sendsValidityPeriod(): boolean {
    return this.validity.enabled && !this.validity.refused;
  }

  /** A new bind: validity_period is tried again. */
  newBind(): void {
    this.validity.reset();
  }

  private onSuccess(): void {
    if (this.effectiveWindow < this.ctx.o.window && ++this.okStreak >= this.effectiveWindow) {
      this.effectiveWindow++;
      this.okStreak = 0;
      // A window of accepted PDUs: the next pause steps back down too. Without this, throttling
      // of some PDUs only (a busy SMSC) kept the pause at its longest until the whole window had
      // regrown, which under such throttling it seldom does.
      if (this.throttleLevel > 0) this.throttleLevel--;
    }
    if (this.throttleLevel > 0 && this.effectiveWindow >= this.ctx.o.window) this.throttleLevel = 0;
  }

  private onThrottle(status: number, epoch: number): void {
    // Responses to PDUs sent before the current pause began are echoes of the same congestion.
    if (epoch !== this.throttleEpoch) return;
    this.throttleEpoch++;
    const pauseMs = backoffMs(this.throttleLevel, { baseMs: this.ctx.o.throttleBackoffMinMs, maxMs: this.ctx.o.throttleBackoffMaxMs, jitter: [0.75, 1] }, this.ctx.random);
    this.throttleLevel = Math.min(this.throttleLevel + 1, 30);
    this.effectiveWindow = Math.max(1, Math.floor(this.effectiveWindow / 2));
    this.okStreak = 0;
    this.pausedUntil = performance.now() + pauseMs;
    this.ctx.emit('throttled', { commandStatus: status, pauseMs, window: this.effectiveWindow });
    if (this.throttleLevel === 1 || this.throttleLevel % 5 === 0) {
      this.ctx.log.warn({ statusName: classifyStatus(status).name, pauseMs, window: this.effectiveWindow }, 'SMSC is throttling; slowing down');
    }
  }

  private fail(job: Job, failure: Failure): void {
    if (job.done) return;
    if (!job.failure || (failure.kind === 'permanent' && job.failure.kind !== 'permanent')) job.failure = failure;
    else if (job.failure.kind === 'retry' && failure.kind === 'retry' && failure.unknown) job.failure.unknown = true;
    this.settle(job);
  }

  /** Resolves the job when nothing of it is in flight and it either failed or has every id. */
  private settle(job: Job): void {
    if (job.done || job.inFlight > 0) return;
    const f = job.failure;
    if (!f) {
      for (let i = 0; i < job.ids.length; i++) if (job.ids[i] === undefined) return;
      job.done = true;
      job.resolve({ outcome: 'accepted', messageIds: job.ids as string[] });
      return;
    }
    job.done = true;
    const acceptedIds = job.ids.filter((id): id is string => id !== undefined);
    if (f.kind === 'permanent') {
      const info = classifyStatus(f.status);
      job.resolve({ outcome: 'rejected', commandStatus: f.status, statusName: info.name, description: info.description, acceptedIds });
    } else {
      const r: SubmitResult = { outcome: 'retry', reason: f.reason, acceptedIds, unknown: f.unknown };
      if (f.status !== undefined) {
        r.commandStatus = f.status;
        r.statusName = classifyStatus(f.status).name;
      }
      job.resolve(r);
    }
  }

  /** Every outstanding submit's outcome is now unknowable. */
  failOutstanding(reason: string): void {
    if (this.outstanding.size === 0) return;
    const entries = [...this.outstanding.values()];
    this.outstanding.clear();
    for (const { task } of entries) task.job.inFlight--;
    for (const { task } of entries) this.fail(task.job, { kind: 'retry', reason, unknown: true });
  }

  onStrayResponse(header: PduHeader, pdu: Buffer): void {
    const late = this.timedOut.get(header.sequence);
    if (late) {
      this.timedOut.delete(header.sequence);
      const smscMessageId = header.status === 0 ? readMessageId(pdu) : null;
      this.ctx.log.warn({ messageId: late.id, part: late.part + 1, commandStatus: header.status, smscMessageId }, 'submit_sm_resp arrived after its timeout');
      this.ctx.emit('late_response', { messageId: late.id, part: late.part, commandStatus: header.status, smscMessageId });
    } else {
      this.ctx.log.warn({ sequence: header.sequence, commandId: header.commandId }, 'response to no request of ours; ignored');
    }
  }

  /** A submit_sm of ours with this sequence is outstanding. */
  has(sequence: number): boolean {
    return this.outstanding.has(sequence);
  }

  /**
   * Gives up on submits outstanding for `limitMs` or more (oldest first): each becomes `retry`,
   * unknown, and its late response is still reported if it comes. Returns how many.
   */
  expire(now: number, limitMs: number): number {
    let expired = 0;
    for (const [seq, entry] of this.outstanding) {
      if (now - entry.sentAt < limitMs) break;
      this.outstanding.delete(seq);
      const job = entry.task.job;
      job.inFlight--;
      this.timedOut.set(seq, { id: job.msg.id, part: entry.task.part });
      if (this.timedOut.size > TIMED_OUT_MEMORY) this.timedOut.delete(this.timedOut.keys().next().value as number);
      this.ctx.emit('response_timeout', { messageId: job.msg.id, part: entry.task.part });
      this.fail(job, { kind: 'retry', reason: `no submit_sm_resp within ${limitMs} ms`, unknown: true });
      expired++;
    }
    return expired;
  }

  /** Reading was paused this long: outstanding submits get that time back. */
  shiftSentAt(ms: number): void {
    for (const entry of this.outstanding.values()) entry.sentAt += ms;
  }

  /** The link is gone: a new one starts with the full window and no throttling pause. */
  linkLost(): void {
    this.effectiveWindow = this.ctx.o.window;
    this.throttleLevel = 0;
    this.pausedUntil = 0;
  }

  clearTimer(): void {
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
  }

  /** Stopping: every part not yet on the wire is `retry`, unknown: false. */
  failUnsent(reason: string): void {
    for (const task of [...this.resends.drain(), ...this.queue.drain()]) {
      this.fail(task.job, { kind: 'retry', reason, unknown: false });
    }
  }
}

function readMessageId(pdu: Buffer): string {
  if (pdu.length <= 16) return '';
  const nul = pdu.indexOf(0, 16);
  return pdu.toString('latin1', 16, nul < 0 ? pdu.length : nul).trim();
}

function retryResult(reason: string, unknown: boolean): SubmitResult {
  return { outcome: 'retry', reason, acceptedIds: [], unknown };
}

function localReject(status: number, why: string): SubmitResult {
  const info = classifyStatus(status);
  return { outcome: 'rejected', commandStatus: status, statusName: info.name, description: `rejected before sending: ${why}`, acceptedIds: [], local: true };
}
