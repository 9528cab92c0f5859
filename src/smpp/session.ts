/**
 * SmppSession: one long-lived SMPP 3.4 ESME session to the SMSC, the worker's only link to the carrier.
 *
 * Life cycle: start() connects (TCP, or TLS for smpps://), binds (transceiver by default,
 * interface_version 0x34), and keeps it so until stop(): enquire_link every enquireLinkSeconds
 * (sent whatever the traffic, since some SMSCs count only enquire_link as keep-alive), a response
 * timeout that declares the link dead, reconnect with capped, jittered exponential back-off, and a
 * slow retry (with one clear error log) when the bind is refused for credentials.
 *
 * Sending: submit() encodes and splits the body (GSM-7 or UCS-2, UDH with a per-session rotating
 * 8-bit reference), then every part waits its turn in one FIFO for a bound session, a window slot
 * (SMPP_WINDOW outstanding submit_sm), rate tokens (SMPP_TPS, counted in PDUs) and a writable
 * socket. ESME_RTHROTTLED / ESME_RMSGQFUL slow the whole session down (a pause that doubles while
 * throttling persists, and a window halved then regrown one slot per window of successes) and the
 * same part is resubmitted; after throttleGiveUpMs the message is reported `retry`.
 *
 * validity_period: a message's validUntil (its expires_at) goes as SMPP absolute time, fixed when
 * its first part goes on the wire so every part carries the same one (validity.ts). A part the
 * SMSC refuses for it (ESME_RINVEXPIRY and kin) goes again at once without it, inside the same
 * submit() (the caller sees one result, so it is not another attempt); once such a part is
 * accepted, the rest of the bind sends none, with one warning; the next bind tries it again.
 *
 * Accounting: submit() resolves exactly once per call and never rejects. A part that was on the
 * wire when its outcome became unknowable (response timeout, connection lost) makes the result
 * `retry` with unknown: true; a part that never left is `retry` with unknown: false. If some parts
 * of a long message were accepted before another failed, the result carries their ids
 * (acceptedIds) and the worker re-sends the whole message under a new reference: the handset may
 * then show the accepted parts twice, but no part is ever missing, the right trade for OTPs.
 *
 * Receiving: deliver_sm (and data_sm) are decoded into a receipt or an MO part and handed to the
 * inbound handler; the response goes only after the handler's promise resolves (ESME_ROK), or
 * with ESME_RX_T_APPN if it rejects, so the SMSC redelivers what was not stored. At most
 * inboundWindow of them are held unanswered: at that bound the session stops reading the socket
 * (TCP holds the SMSC back) and reads again once half of them are answered. While reading is
 * paused, responses may be waiting unread in the socket, so no response timeout runs meanwhile.
 *
 * Logs name PDUs by their header (command, status, sequence, length) and what failed to parse,
 * never by their bytes: bodies carry message text, and one-time codes are message text.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { errorForLog, type Logger } from '../logger.js';
import { AddressError, destinationAddress, sourceAddress, type SmppAddress } from './addresses.js';
import { Backoff, backoffMs } from '../backoff.js';
import { classifyStatus, isCredentialError, isThrottle, STATUS } from './command-status.js';
import { PduConnection } from './connection.js';
import { decodeInboundPdu, type InboundEvent } from './inbound.js';
import { CMD, describeHeader, headerOnly, PduFormatError, withCString, type PduHeader } from './pdu.js';
import { TokenBucket, type RateLimiter } from './rate-limiter.js';
import type { BindMode, SessionOptions } from './session-options.js';
import { commandName, decodePdu, encodePdu } from './smpp-lib.js';
import { encodeMessage, MAX_PARTS } from './split.js';
import { CONCAT_UDH_LENGTH, concatUdh, ESM_CLASS_UDHI } from './udh.js';
import { isValidityRefusal, ValidityState } from './validity.js';

export type { InboundEvent, MoPart } from './inbound.js';
export type { Receipt } from './receipt.js';
export type { RateLimiter } from './rate-limiter.js';

export type { BindMode, SessionOptions } from './session-options.js';
export type SessionState = 'disconnected' | 'connecting' | 'binding' | 'bound' | 'unbinding' | 'closed';

export interface OutboundMessage {
  /** The caller's id (the outbox row), for logs and late-response events. */
  id: string;
  source: string;
  destination: string;
  body: string;
  /** Ask the SMSC for a final delivery receipt (registered_delivery 1). Default true. */
  registeredDelivery?: boolean;
  /** Sent as validity_period (absolute, UTC): the SMSC stops trying after it. */
  validUntil?: Date | null;
}

export interface SubmitOptions {
  /** Aborting gives up on parts not yet on the wire (`retry`, unknown: false once nothing is in flight). */
  signal?: AbortSignal;
}

export type SubmitResult =
  | { outcome: 'accepted'; messageIds: string[] }
  | {
      outcome: 'rejected';
      commandStatus: number;
      statusName: string;
      description: string;
      acceptedIds: string[];
      /** True when the session refused it before sending (bad address, empty or too long body). */
      local?: boolean;
    }
  | { outcome: 'retry'; reason: string; commandStatus?: number; statusName?: string; acceptedIds: string[]; unknown: boolean };

export type InboundHandler = (event: InboundEvent) => Promise<void>;

export interface SessionEvents {
  state: [SessionState];
  bound: [{ systemId: string }];
  disconnected: [{ reason: string }];
  bind_failed: [{ commandStatus: number; statusName: string; credentials: boolean }];
  submit_resp: [{ commandStatus: number; rttMs: number }];
  throttled: [{ commandStatus: number; pauseMs: number; window: number }];
  reconnect: [{ attempt: number; delayMs: number }];
  enquire_link_timeout: [];
  response_timeout: [{ messageId: string; part: number }];
  late_response: [{ messageId: string; part: number; commandStatus: number; smscMessageId: string | null }];
  pdu_error: [{ error: Error }];
  inbound_error: [{ error: unknown; event: InboundEvent }];
  /** Reading stopped: `pending` deliver_sm are held unanswered (the inbound window is full). */
  inbound_paused: [{ pending: number }];
  /** A part refused with validity_period was accepted without it: none is sent for the rest of this bind. */
  validity_refused: [{ commandStatus: number; statusName: string }];
}

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

const DEFAULTS = {
  reconnectMinMs: 250,
  connectTimeoutMs: 10_000,
  stableBindMs: 30_000,
  throttleBackoffMinMs: 200,
  throttleBackoffMaxMs: 10_000,
  throttleGiveUpMs: 60_000,
  drainTimeoutMs: 10_000,
  inboundWindow: 1000,
};

/** Responses to PDUs we gave up on are remembered this many at most, to report late answers. */
const TIMED_OUT_MEMORY = 4096;

/** A FIFO with O(1) shift (an array and a head index, compacted now and then). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}

const BIND_COMMAND: Record<BindMode, string> = {
  transceiver: 'bind_transceiver',
  transmitter: 'bind_transmitter',
  receiver: 'bind_receiver',
};

export class SmppSession extends EventEmitter<SessionEvents> {
  private readonly o: Required<
    Omit<SessionOptions, 'rateLimiter' | 'tps' | 'tlsCa' | 'tlsServername' | 'initialReference' | 'random' | 'slowRetryMs' | 'validityPeriod'>
  > & { slowRetryMs: number };
  private readonly log: Logger;
  private readonly limiter: RateLimiter | null;
  private readonly random: () => number;
  private readonly backoff: Backoff;
  private readonly validity: ValidityState;

  private _state: SessionState = 'disconnected';
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | null = null;
  private conn: PduConnection | null = null;
  private connSeq = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private enquireTimer: NodeJS.Timeout | null = null;
  private resumeTimer: NodeJS.Timeout | null = null;
  private slowRetry = false;
  private boundAt = 0;
  private bindSeq = 0;
  private bindSentAt = 0;
  private enquireSeq = 0;
  private enquireSentAt = 0;
  private unbindSeq = 0;
  private unbindDone: (() => void) | null = null;
  private disconnectReason = '';

  private readonly queue = new Fifo<Task>();
  private readonly resends = new Fifo<Task>();
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly timedOut = new Map<number, { id: string; part: number }>();
  private pumping = false;
  private acquiring = false;
  private lifecycle = new AbortController();

  private effectiveWindow: number;
  private okStreak = 0;
  private throttleLevel = 0;
  private throttleEpoch = 0;
  private pausedUntil = 0;

  private reference: number;
  private inboundHandler: InboundHandler | null = null;
  private inboundPending = 0;
  /** When reading was paused for the inbound window (performance.now()), 0 while reading. */
  private readPausedAt = 0;
  private drainWaiters: (() => void)[] = [];
  private warnedNoHandler = false;

  constructor(options: SessionOptions, logger: Logger) {
    super();
    if (!Number.isInteger(options.window) || options.window < 1) throw new RangeError('window must be an integer >= 1');
    if (options.inboundWindow !== undefined && (!Number.isInteger(options.inboundWindow) || options.inboundWindow < 1)) {
      throw new RangeError('inboundWindow must be an integer >= 1');
    }
    this.o = {
      host: options.host,
      port: options.port,
      tls: options.tls,
      tlsVerify: options.tlsVerify,
      systemId: options.systemId,
      password: options.password,
      systemType: options.systemType,
      bindMode: options.bindMode,
      window: options.window,
      enquireLinkSeconds: options.enquireLinkSeconds,
      responseTimeoutMs: options.responseTimeoutMs,
      reconnectMaxMs: options.reconnectMaxMs,
      reconnectMinMs: options.reconnectMinMs ?? DEFAULTS.reconnectMinMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      slowRetryMs: options.slowRetryMs ?? options.reconnectMaxMs,
      stableBindMs: options.stableBindMs ?? DEFAULTS.stableBindMs,
      throttleBackoffMinMs: options.throttleBackoffMinMs ?? DEFAULTS.throttleBackoffMinMs,
      throttleBackoffMaxMs: options.throttleBackoffMaxMs ?? DEFAULTS.throttleBackoffMaxMs,
      throttleGiveUpMs: options.throttleGiveUpMs ?? DEFAULTS.throttleGiveUpMs,
      drainTimeoutMs: options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
      inboundWindow: options.inboundWindow ?? DEFAULTS.inboundWindow,
      serviceType: options.serviceType ?? '',
      addressRange: options.addressRange ?? '',
    };
    this.tlsCa = options.tlsCa;
    this.tlsServername = options.tlsServername;
    this.log = logger.child({ component: 'smpp', smsc: `${options.tls ? 'smpps' : 'smpp'}://${options.systemId}@${options.host}:${options.port}` });
    this.limiter = options.rateLimiter ?? (options.tps && options.tps > 0 ? new TokenBucket(options.tps) : null);
    this.random = options.random ?? Math.random;
    this.backoff = new Backoff(this.o.reconnectMinMs, Math.max(this.o.reconnectMinMs, this.o.reconnectMaxMs), this.random);
    this.effectiveWindow = options.window;
    this.validity = new ValidityState(options.validityPeriod ?? true);
    this.reference = (options.initialReference ?? Math.floor(this.random() * 256)) & 0xff;
  }

  private readonly tlsCa: SessionOptions['tlsCa'];
  private readonly tlsServername: string | undefined;

  get state(): SessionState {
    return this._state;
  }

  get isBound(): boolean {
    return this._state === 'bound';
  }

  /** Outstanding submit_sm PDUs. */
  get windowInUse(): number {
    return this.outstanding.size;
  }

  /** The window in force now: SMPP_WINDOW, or less while recovering from throttling. */
  get currentWindow(): number {
    return this.effectiveWindow;
  }

  /** Octets written but not yet taken by the kernel (bounded by back-pressure, about one high-water mark). */
  get writeBuffered(): number {
    return this.conn?.socket.writableLength ?? 0;
  }

  /** deliver_sm / data_sm received and not yet answered (their handlers are storing them). */
  get inboundInFlight(): number {
    return this.inboundPending;
  }

  /** Parts waiting to be sent (not yet on the wire). */
  get queuedParts(): number {
    return this.queue.length + this.resends.length;
  }

  setInboundHandler(handler: InboundHandler): void {
    this.inboundHandler = handler;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  // ---------------------------------------------------------------- sending

  submit(msg: OutboundMessage, options: SubmitOptions = {}): Promise<SubmitResult> {
    try {
      return this.enqueue(msg, options);
    } catch (err) {
      // Never reject: a bug here must still account for the message.
      this.log.error({ err, messageId: msg.id }, 'bug: submit failed before sending');
      return Promise.resolve(retryResult(`internal error before sending: ${(err as Error).message}`, false));
    }
  }

  private enqueue(msg: OutboundMessage, options: SubmitOptions): Promise<SubmitResult> {
    if (this.stopping) return Promise.resolve(retryResult('session is stopping', false));
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
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const conn = this.conn;
      while (this._state === 'bound' && conn && !conn.needsDrain && this.outstanding.size < this.effectiveWindow) {
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
    this.limiter.acquire(task.tokens, this.lifecycle.signal).then(
      () => {
        this.acquiring = false;
        task.tokens = 0;
        this.pump();
      },
      (err: unknown) => {
        this.acquiring = false;
        if (!this.stopping) {
          this.log.error({ err }, 'rate limiter failed; retrying in 1 s');
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
      service_type: this.o.serviceType,
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

  private onSubmitResp(header: PduHeader, pdu: Buffer): void {
    const entry = this.outstanding.get(header.sequence);
    if (!entry) return this.onStrayResponse(header, pdu);
    this.outstanding.delete(header.sequence);
    const { task } = entry;
    const job = task.job;
    job.inFlight--;
    const status = header.status;
    this.emit('submit_resp', { commandStatus: status, rttMs: performance.now() - entry.sentAt });
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
        this.log.warn({ messageId: job.msg.id, part: task.part + 1 }, 'submit_sm_resp ESME_ROK without a message_id');
        job.ids[task.part] = '';
      }
      this.settle(job);
    } else if (isThrottle(status)) {
      this.onThrottle(status, entry.epoch);
      const now = performance.now();
      if (task.firstThrottledAt === 0) task.firstThrottledAt = now;
      if (now - task.firstThrottledAt >= this.o.throttleGiveUpMs) {
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
    this.log.warn({ statusName }, `the SMSC refused validity_period (${statusName}) and accepted the message without it; this session sends none until it binds again`);
    this.emit('validity_refused', { commandStatus: status, statusName });
  }

  /** False while SMPP_VALIDITY_PERIOD is off, or the SMSC refused validity_period on this bind. */
  get sendsValidityPeriod(): boolean {
    return this.validity.enabled && !this.validity.refused;
  }

  private onSuccess(): void {
    if (this.effectiveWindow < this.o.window && ++this.okStreak >= this.effectiveWindow) {
      this.effectiveWindow++;
      this.okStreak = 0;
    }
    if (this.throttleLevel > 0 && this.effectiveWindow >= this.o.window) this.throttleLevel = 0;
  }

  private onThrottle(status: number, epoch: number): void {
    // Responses to PDUs sent before the current pause began are echoes of the same congestion.
    if (epoch !== this.throttleEpoch) return;
    this.throttleEpoch++;
    const pauseMs = backoffMs(this.throttleLevel, { baseMs: this.o.throttleBackoffMinMs, maxMs: this.o.throttleBackoffMaxMs, jitter: [0.75, 1] }, this.random);
    this.throttleLevel = Math.min(this.throttleLevel + 1, 30);
    this.effectiveWindow = Math.max(1, Math.floor(this.effectiveWindow / 2));
    this.okStreak = 0;
    this.pausedUntil = performance.now() + pauseMs;
    this.emit('throttled', { commandStatus: status, pauseMs, window: this.effectiveWindow });
    if (this.throttleLevel === 1 || this.throttleLevel % 5 === 0) {
      this.log.warn({ statusName: classifyStatus(status).name, pauseMs, window: this.effectiveWindow }, 'SMSC is throttling; slowing down');
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
  private failOutstanding(reason: string): void {
    if (this.outstanding.size === 0) return;
    const entries = [...this.outstanding.values()];
    this.outstanding.clear();
    for (const { task } of entries) task.job.inFlight--;
    for (const { task } of entries) this.fail(task.job, { kind: 'retry', reason, unknown: true });
  }

  private onStrayResponse(header: PduHeader, pdu: Buffer): void {
    const late = this.timedOut.get(header.sequence);
    if (late) {
      this.timedOut.delete(header.sequence);
      const smscMessageId = header.status === 0 ? readMessageId(pdu) : null;
      this.log.warn({ messageId: late.id, part: late.part + 1, commandStatus: header.status, smscMessageId }, 'submit_sm_resp arrived after its timeout');
      this.emit('late_response', { messageId: late.id, part: late.part, commandStatus: header.status, smscMessageId });
    } else {
      this.log.warn({ sequence: header.sequence, commandId: header.commandId }, 'response to no request of ours; ignored');
    }
  }

  // ---------------------------------------------------------------- connection

  private setState(state: SessionState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state);
  }

  private connect(): void {
    if (this.stopping) return;
    this.setState('connecting');
    const id = ++this.connSeq;
    let socket: Socket;
    if (this.o.tls) {
      socket = tlsConnect({
        host: this.o.host,
        port: this.o.port,
        rejectUnauthorized: this.o.tlsVerify,
        ca: this.tlsCa,
        servername: this.tlsServername ?? (isIP(this.o.host) ? undefined : this.o.host),
      });
    } else {
      socket = netConnect({ host: this.o.host, port: this.o.port });
    }
    this.disconnectReason = '';
    this.slowRetry = false;
    const conn = new PduConnection(socket, {
      onPdu: (header, pdu) => this.onPdu(conn, header, pdu),
      onFramingError: (error, partial) => this.onFramingError(conn, error, partial),
      onHandlerError: (error, header) => {
        this.log.error({ err: error, ...describeHeader(header, commandName) }, 'bug: handling a PDU threw');
        this.emit('pdu_error', { error: error instanceof Error ? error : new Error(String(error)) });
      },
      onDrain: () => this.pump(),
      onError: (err) => this.onSocketError(conn, err),
      onClose: () => this.onClose(conn, id),
    });
    this.conn = conn;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      this.closeConnection(conn, `connect timed out after ${this.o.connectTimeoutMs} ms`);
    }, this.o.connectTimeoutMs);
    socket.once(this.o.tls ? 'secureConnect' : 'connect', () => {
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      if (this.conn !== conn) return;
      if (this.stopping) return this.closeConnection(conn, 'stopping');
      this.bind(conn);
    });
  }

  private bind(conn: PduConnection): void {
    this.setState('binding');
    this.bindSeq = conn.nextSequence();
    this.bindSentAt = performance.now();
    this.startSweep();
    conn.write(
      encodePdu(BIND_COMMAND[this.o.bindMode], this.bindSeq, {
        system_id: this.o.systemId,
        password: this.o.password,
        system_type: this.o.systemType,
        interface_version: 0x34,
        addr_ton: 0,
        addr_npi: 0,
        address_range: this.o.addressRange,
      }),
    );
  }

  private onBindResp(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    this.bindSeq = 0;
    if (header.status !== 0) {
      const info = classifyStatus(header.status);
      const credentials = isCredentialError(header.status);
      this.emit('bind_failed', { commandStatus: header.status, statusName: info.name, credentials });
      if (credentials) {
        this.slowRetry = true;
        this.log.error(
          { statusName: info.name, systemId: this.o.systemId, retryInMs: this.o.slowRetryMs },
          `SMSC refused the bind: ${info.name} (${info.description}). Check the system_id and password (SMPP_URL / SMPP_PASSWORD); retrying slowly`,
        );
      } else {
        this.log.warn({ statusName: info.name }, `SMSC refused the bind: ${info.name} (${info.description})`);
      }
      return this.closeConnection(conn, `bind refused: ${info.name}`);
    }
    let systemId = '';
    try {
      systemId = String(decodePdu(pdu).system_id ?? '');
    } catch {
      // A bind_resp body we cannot read still says ESME_ROK; the SMSC's system_id is only for logs.
    }
    this.boundAt = performance.now();
    this.validity.reset();
    this.setState('bound');
    this.log.info({ smscSystemId: systemId, bindMode: this.o.bindMode }, 'SMPP session bound');
    this.emit('bound', { systemId });
    this.startEnquireLink(conn);
    this.pump();
  }

  private startSweep(): void {
    if (this.sweepTimer) return;
    const every = Math.min(500, Math.max(5, Math.floor(this.o.responseTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
  }

  /** One timer for every response timeout: submits (oldest first), enquire_link, bind, unbind. */
  private sweep(): void {
    const conn = this.conn;
    // Responses may be waiting unread while reading is paused: nothing is late until it resumes.
    if (conn?.isPaused) return;
    const now = performance.now();
    const limit = this.o.responseTimeoutMs;
    if (conn && this.bindSeq && now - this.bindSentAt >= limit) {
      this.bindSeq = 0;
      this.log.warn({ timeoutMs: limit }, 'no bind response; reconnecting');
      return this.closeConnection(conn, `no bind response within ${limit} ms`);
    }
    if (conn && this.enquireSeq && now - this.enquireSentAt >= limit) {
      this.enquireSeq = 0;
      this.emit('enquire_link_timeout');
      this.log.warn({ timeoutMs: limit }, 'no enquire_link_resp: the link is dead; reconnecting');
      return this.closeConnection(conn, `no enquire_link_resp within ${limit} ms`);
    }
    if (this.outstanding.size > 0) {
      let expired = 0;
      for (const [seq, entry] of this.outstanding) {
        if (now - entry.sentAt < limit) break;
        this.outstanding.delete(seq);
        const job = entry.task.job;
        job.inFlight--;
        this.timedOut.set(seq, { id: job.msg.id, part: entry.task.part });
        if (this.timedOut.size > TIMED_OUT_MEMORY) this.timedOut.delete(this.timedOut.keys().next().value as number);
        this.emit('response_timeout', { messageId: job.msg.id, part: entry.task.part });
        this.fail(job, { kind: 'retry', reason: `no submit_sm_resp within ${limit} ms`, unknown: true });
        expired++;
      }
      if (expired > 0) {
        this.log.warn({ expired, timeoutMs: limit }, 'submit_sm responses timed out; probing the link');
        if (conn && this._state === 'bound' && !this.enquireSeq) this.sendEnquireLink(conn);
        this.pump();
      }
    }
    this.checkDrained();
  }

  private startEnquireLink(conn: PduConnection): void {
    if (this.enquireTimer) clearInterval(this.enquireTimer);
    this.enquireTimer = setInterval(() => {
      if (this.conn === conn && (this._state === 'bound' || this._state === 'unbinding') && !this.enquireSeq) this.sendEnquireLink(conn);
    }, this.o.enquireLinkSeconds * 1000);
  }

  private sendEnquireLink(conn: PduConnection): void {
    this.enquireSeq = conn.nextSequence();
    this.enquireSentAt = performance.now();
    conn.write(headerOnly(CMD.enquire_link, 0, this.enquireSeq));
  }

  private onSocketError(conn: PduConnection, err: Error & { code?: string }): void {
    if (this.conn !== conn) return;
    const code = err.code ?? '';
    const tlsProblem = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME|ALTNAME/.test(code) || /certificate/i.test(err.message);
    if (tlsProblem) {
      this.slowRetry = true;
      this.log.error({ err: { message: err.message, code } }, 'TLS: the SMSC certificate was rejected; retrying slowly (set SMPP_TLS_INSECURE=1 only for a test SMSC)');
    } else {
      this.log.warn({ err: { message: err.message, code } }, 'SMPP connection error');
    }
    this.disconnectReason ||= code ? `${code}: ${err.message}` : err.message;
  }

  private onFramingError(conn: PduConnection, error: Error, partial: Buffer): void {
    // The octets that were meant to be a header may be anyone's message text: only their count and
    // the length they claimed are logged.
    const claimedLength = partial.length >= 4 ? partial.readUInt32BE(0) : null;
    this.log.error({ err: error, commandLength: claimedLength }, 'garbage on the SMPP stream (framing lost); answering generic_nack and reconnecting');
    this.emit('pdu_error', { error });
    const seq = partial.length >= 16 ? partial.readUInt32BE(12) : 0;
    conn.write(headerOnly(CMD.generic_nack, STATUS.ESME_RINVCMDLEN, seq));
    this.closeConnection(conn, `framing lost: ${error.message}`, true);
  }

  /** Closes a connection (gracefully flushing when `flush`), once; onClose does the rest. */
  private closeConnection(conn: PduConnection, reason: string, flush = false): void {
    this.disconnectReason ||= reason;
    if (flush) {
      conn.end();
      setTimeout(() => conn.destroy(), 1000).unref();
    } else {
      conn.destroy();
    }
  }

  private onClose(conn: PduConnection, id: number): void {
    if (this.conn !== conn || this.connSeq !== id) return;
    this.conn = null;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.clearLinkTimers();
    const wasBound = this._state === 'bound' || this._state === 'unbinding';
    const reason = this.disconnectReason || 'connection closed by the SMSC';
    this.bindSeq = 0;
    this.enquireSeq = 0;
    this.failOutstanding(`connection lost with the submit_sm outstanding (${reason})`);
    if (this.unbindDone) this.unbindDone();
    this.effectiveWindow = this.o.window;
    this.throttleLevel = 0;
    this.pausedUntil = 0;
    if (wasBound && performance.now() - this.boundAt >= this.o.stableBindMs) this.backoff.reset();
    this.emit('disconnected', { reason });
    if (this.stopping) {
      this.setState('closed');
      this.checkDrained();
      return;
    }
    this.setState('disconnected');
    if (wasBound) this.log.warn({ reason }, 'SMPP session lost; reconnecting');
    const delayMs = this.slowRetry ? this.o.slowRetryMs : this.backoff.next();
    const attempt = this.backoff.attempt;
    this.emit('reconnect', { attempt, delayMs });
    this.log.info({ attempt, delayMs, reason }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delayMs);
  }

  private clearLinkTimers(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.enquireTimer) clearInterval(this.enquireTimer);
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.sweepTimer = this.enquireTimer = this.resumeTimer = null;
  }

  // ---------------------------------------------------------------- receiving

  private onPdu(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    if (this.conn !== conn) return;
    switch (header.commandId) {
      case CMD.submit_sm_resp:
        return this.onSubmitResp(header, pdu);
      case CMD.deliver_sm:
      case CMD.data_sm:
        return this.onDeliver(conn, header, pdu);
      case CMD.enquire_link:
        conn.write(headerOnly(CMD.enquire_link_resp, 0, header.sequence));
        return;
      case CMD.enquire_link_resp:
        if (header.sequence === this.enquireSeq) this.enquireSeq = 0;
        return;
      case CMD.bind_transceiver_resp:
      case CMD.bind_transmitter_resp:
      case CMD.bind_receiver_resp:
        if (header.sequence === this.bindSeq) return this.onBindResp(conn, header, pdu);
        return this.onStrayResponse(header, pdu);
      case CMD.unbind:
        this.log.warn('the SMSC unbound the session; reconnecting');
        conn.write(headerOnly(CMD.unbind_resp, 0, header.sequence));
        this.setState('unbinding');
        return this.closeConnection(conn, 'unbound by the SMSC', true);
      case CMD.unbind_resp:
        if (header.sequence === this.unbindSeq && this.unbindDone) this.unbindDone();
        return;
      case CMD.generic_nack:
        return this.onGenericNack(conn, header, pdu);
      case CMD.alert_notification:
      case CMD.outbind:
        this.log.debug({ command: commandName(header.commandId) }, 'ignored SMSC notification');
        return;
      default:
        if (header.commandId & 0x80000000) return this.onStrayResponse(header, pdu);
        this.log.warn({ commandId: `0x${header.commandId.toString(16)}`, command: commandName(header.commandId) ?? 'unknown' }, 'unsupported request from the SMSC; answered generic_nack');
        conn.write(headerOnly(CMD.generic_nack, STATUS.ESME_RINVCMDID, header.sequence));
    }
  }

  private onGenericNack(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    const info = classifyStatus(header.status);
    this.log.warn({ sequence: header.sequence, statusName: info.name }, 'generic_nack from the SMSC');
    this.emit('pdu_error', { error: new Error(`generic_nack ${info.name} for sequence ${header.sequence}`) });
    if (this.outstanding.has(header.sequence)) return this.onSubmitResp(header, pdu);
    if (header.sequence === this.bindSeq) return this.onBindResp(conn, { ...header, status: header.status || STATUS.ESME_RBINDFAIL }, pdu);
    if (header.sequence === this.enquireSeq) this.enquireSeq = 0;
  }

  private onDeliver(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    const respId = header.commandId === CMD.data_sm ? CMD.data_sm_resp : CMD.deliver_sm_resp;
    let event: InboundEvent;
    try {
      event = decodeInboundPdu(pdu);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const status = err instanceof PduFormatError ? STATUS.ESME_RINVCMDLEN : STATUS.ESME_RX_P_APPN;
      // What failed and where, from the header and the parser's message; never the body's bytes.
      this.log.error(
        { ...describeHeader(header, commandName), problem: `${error.name}: ${error.message}` },
        `unreadable ${commandName(header.commandId)} from the SMSC; answered ${classifyStatus(status).name}`,
      );
      this.emit('pdu_error', { error });
      conn.write(headerOnly(respId, status, header.sequence));
      return;
    }
    const handler = this.inboundHandler;
    if (!handler) {
      if (!this.warnedNoHandler) {
        this.warnedNoHandler = true;
        this.log.warn('deliver_sm received but no inbound handler is set; answering ESME_RX_T_APPN so the SMSC redelivers');
      }
      conn.write(headerOnly(respId, STATUS.ESME_RX_T_APPN, header.sequence));
      return;
    }
    this.inboundPending++;
    if (this.inboundPending >= this.o.inboundWindow && !conn.isPaused) {
      conn.pause();
      this.readPausedAt = performance.now();
      this.log.debug({ pending: this.inboundPending }, 'inbound window full: not reading from the SMSC until half of it is answered');
      this.emit('inbound_paused', { pending: this.inboundPending });
    }
    let done: Promise<void>;
    try {
      done = handler(event);
    } catch (err) {
      done = Promise.reject(err);
    }
    done.then(
      () => this.answerDeliver(conn, respId, 0, header.sequence),
      (error: unknown) => {
        this.log.error({ error: errorForLog(error), kind: event.kind, ...describeHeader(header, commandName) }, 'inbound handler failed; answered ESME_RX_T_APPN so the SMSC redelivers');
        this.emit('inbound_error', { error, event });
        this.answerDeliver(conn, respId, STATUS.ESME_RX_T_APPN, header.sequence);
      },
    );
  }

  private answerDeliver(conn: PduConnection, respId: number, status: number, sequence: number): void {
    this.inboundPending--;
    // Only on the connection it came from: after a reconnect the SMSC redelivers it anyway.
    if (this.conn === conn && conn.writable) {
      conn.write(status === 0 ? withCString(respId, 0, sequence, '') : headerOnly(respId, status, sequence));
    }
    if (this.conn?.isPaused && this.inboundPending <= this.o.inboundWindow >> 1) this.resumeReading(this.conn);
    this.checkDrained();
  }

  /** Reads again after an inbound pause; the time spent paused does not count toward response timeouts. */
  private resumeReading(conn: PduConnection): void {
    const pausedFor = this.readPausedAt ? performance.now() - this.readPausedAt : 0;
    this.readPausedAt = 0;
    if (this.bindSeq) this.bindSentAt += pausedFor;
    if (this.enquireSeq) this.enquireSentAt += pausedFor;
    for (const entry of this.outstanding.values()) entry.sentAt += pausedFor;
    this.log.debug({ pending: this.inboundPending, pausedMs: Math.round(pausedFor) }, 'reading from the SMSC again');
    conn.resume();
  }

  // ---------------------------------------------------------------- shutdown

  private checkDrained(): void {
    if (this.drainWaiters.length === 0) return;
    if (this.conn && (this.outstanding.size > 0 || this.inboundPending > 0)) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Stops taking submits (queued parts that never left resolve `retry`, unknown: false), waits up
   * to drainTimeoutMs for outstanding responses and inbound handlers, unbinds (waiting up to
   * responseTimeoutMs for unbind_resp) and closes. Whatever is still outstanding then is `retry`,
   * unknown: true. Safe to call more than once.
   */
  stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopping = true;
    this.stopPromise = this.doStop(options.drainTimeoutMs ?? this.o.drainTimeoutMs);
    return this.stopPromise;
  }

  private async doStop(drainTimeoutMs: number): Promise<void> {
    this.lifecycle.abort(new Error('session stopping'));
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    for (const task of [...this.resends.drain(), ...this.queue.drain()]) {
      this.fail(task.job, { kind: 'retry', reason: 'session stopped before the part was sent', unknown: false });
    }
    const conn = this.conn;
    if (conn && this._state === 'bound') {
      await this.waitDrained(drainTimeoutMs);
      if (this.conn === conn && conn.writable) {
        this.setState('unbinding');
        this.unbindSeq = conn.nextSequence();
        const unbound = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.o.responseTimeoutMs);
          this.unbindDone = () => {
            clearTimeout(timer);
            this.unbindDone = null;
            resolve();
          };
        });
        conn.write(headerOnly(CMD.unbind, 0, this.unbindSeq));
        await unbound;
        this.log.info('SMPP session unbound');
      }
    }
    if (this.conn) {
      const closing = this.conn;
      const closed = new Promise<void>((resolve) => closing.socket.once('close', () => resolve()));
      // A bound session was unbound above: flush and close; one still connecting or binding is cut.
      this.closeConnection(closing, 'stopped', this._state === 'unbinding');
      await closed;
    }
    this.failOutstanding('session stopped with the submit_sm outstanding');
    this.clearLinkTimers();
    this.setState('closed');
  }

  private waitDrained(timeoutMs: number): Promise<void> {
    if (this.outstanding.size === 0 && this.inboundPending === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ outstanding: this.outstanding.size, inbound: this.inboundPending }, 'drain timed out; unbinding anyway');
        resolve();
      }, timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
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
