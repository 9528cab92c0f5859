/**
 * SmppSession: one long-lived SMPP 3.4 ESME session to the SMSC, the worker's only link to the
 * carrier. A thin façade over its three parts, each in its own file:
 *
 * - the link (link.ts): connect, TLS, bind, enquire_link, response timeouts, reconnect, unbind;
 *   PDUs framed by PduConnection (connection.ts);
 * - the submit window (submit-window.ts): encoding and splitting, the FIFO of parts, the window
 *   of outstanding submit_sm, rate tokens, throttling, validity_period, and each submit's result;
 * - the inbound window (inbound-window.ts): deliver_sm / data_sm to the inbound handler, answered
 *   once stored, with reading paused while too many are unanswered.
 *
 * Accounting: submit() resolves exactly once per call and never rejects. A part that was on the
 * wire when its outcome became unknowable (response timeout, connection lost) makes the result
 * `retry` with unknown: true; a part that never left is `retry` with unknown: false. If some parts
 * of a long message were accepted before another failed, the result carries their ids
 * (acceptedIds) and the worker re-sends the whole message under a new reference: the handset may
 * then show the accepted parts twice, but no part is ever missing, the right trade for OTPs.
 *
 * Logs name PDUs by their header (command, status, sequence, length) and what failed to parse,
 * never by their bytes: bodies carry message text, and one-time codes are message text.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import { InboundWindow } from './inbound-window.js';
import { Link } from './link.js';
import { TokenBucket } from './rate-limiter.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from './session-options.js';
import type { InboundHandler, OutboundMessage, SessionContext, SessionEvents, SessionState, SubmitOptions, SubmitResult } from './session-types.js';
import { SubmitWindow } from './submit-window.js';
import { ValidityState } from './validity.js';

export type { InboundEvent, MoPart } from './inbound.js';
export type { Receipt } from './receipt.js';
export type { RateLimiter } from './rate-limiter.js';
export type { BindMode, SessionOptions } from './session-options.js';
export type { InboundHandler, OutboundMessage, SessionEvents, SessionState, SubmitOptions, SubmitResult } from './session-types.js';

export class SmppSession extends EventEmitter<SessionEvents> {
  private readonly o: ResolvedSessionOptions;
  private readonly log: Logger;
  private readonly link: Link;
  private readonly window: SubmitWindow;
  private readonly inbound: InboundWindow;
  private readonly lifecycle = new AbortController();
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | null = null;
  private drainWaiters: (() => void)[] = [];

  constructor(options: SessionOptions, logger: Logger) {
    super();
    this.o = resolveSessionOptions(options);
    this.log = logger.child({ component: 'smpp', smsc: `${options.tls ? 'smpps' : 'smpp'}://${options.systemId}@${options.host}:${options.port}` });
    const random = options.random ?? Math.random;
    const session = this;
    const ctx = {
      o: this.o,
      log: this.log,
      random,
      emit: <K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]) => {
        (this.emit as (event: K, ...args: SessionEvents[K]) => boolean)(event, ...args);
      },
      get stopping() {
        return session.stopping;
      },
      lifecycle: this.lifecycle.signal,
      checkDrained: () => this.checkDrained(),
    } as SessionContext & { link: Link; window: SubmitWindow; inbound: InboundWindow };
    const limiter = options.rateLimiter ?? (options.tps && options.tps > 0 ? new TokenBucket(options.tps) : null);
    ctx.link = this.link = new Link(ctx);
    const validity = new ValidityState(options.validityPeriod ?? true);
    ctx.window = this.window = new SubmitWindow(ctx, limiter, validity, options.initialReference ?? Math.floor(random() * 256));
    ctx.inbound = this.inbound = new InboundWindow(ctx);
  }

  get state(): SessionState {
    return this.link.state;
  }

  get isBound(): boolean {
    return this.link.state === 'bound';
  }

  /** Outstanding submit_sm PDUs. */
  get windowInUse(): number {
    return this.window.inUse;
  }

  /** The window in force now: SMPP_WINDOW, or less while recovering from throttling. */
  get currentWindow(): number {
    return this.window.current;
  }

  /** Octets written but not yet taken by the kernel (bounded by back-pressure, about one high-water mark). */
  get writeBuffered(): number {
    return this.link.conn?.socket.writableLength ?? 0;
  }

  /** deliver_sm / data_sm received and not yet answered (their handlers are storing them). */
  get inboundInFlight(): number {
    return this.inbound.pending;
  }

  /** Parts waiting to be sent (not yet on the wire). */
  get queuedParts(): number {
    return this.window.queuedParts;
  }

  /** False while SMPP_VALIDITY_PERIOD is off, or the SMSC refused validity_period on this bind. */
  get sendsValidityPeriod(): boolean {
    return this.window.sendsValidityPeriod;
  }

  setInboundHandler(handler: InboundHandler): void {
    this.inbound.setHandler(handler);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.link.connect();
  }

  submit(msg: OutboundMessage, options: SubmitOptions = {}): Promise<SubmitResult> {
    return this.window.submit(msg, options);
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
    this.link.cancelReconnect();
    this.window.failUnsent('session stopped before the part was sent');
    const conn = this.link.conn;
    if (conn && this.link.state === 'bound') {
      await this.waitDrained(drainTimeoutMs);
      if (this.link.conn === conn && conn.writable) await this.link.unbind(conn);
    }
    const closing = this.link.conn;
    if (closing) {
      const closed = new Promise<void>((resolve) => closing.socket.once('close', () => resolve()));
      // A bound session was unbound above: flush and close; one still connecting or binding is cut.
      this.link.closeConnection(closing, 'stopped', this.link.state === 'unbinding');
      await closed;
    }
    this.window.failOutstanding('session stopped with the submit_sm outstanding');
    this.link.clearTimers();
    this.link.setState('closed');
  }

  private checkDrained(): void {
    if (this.drainWaiters.length === 0) return;
    if (this.link.conn && (this.window.inUse > 0 || this.inbound.pending > 0)) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private waitDrained(timeoutMs: number): Promise<void> {
    if (this.window.inUse === 0 && this.inbound.pending === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ outstanding: this.window.inUse, inbound: this.inbound.pending }, 'drain timed out; unbinding anyway');
        resolve();
      }, timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
