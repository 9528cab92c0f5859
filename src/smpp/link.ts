/**
 * The link half of SmppSession: connect (TCP, or TLS for smpps://), bind (transceiver by default,
 * interface_version 0x34), and keep it so until stop(): enquire_link every enquireLinkSeconds (sent
 * whatever the traffic, since some SMSCs count only enquire_link as keep-alive), one sweep timer
 * for every response timeout (bind, enquire_link, and the submit window's), reconnect with the
 * capped, jittered back-off (src/backoff.ts), and a slow retry (with one clear error log) when the
 * bind is refused for credentials or the TLS certificate is rejected.
 *
 * PDUs are framed by PduConnection (connection.ts); the link answers the session-level ones and
 * hands submit_sm_resp to the submit window and deliver_sm / data_sm to the inbound window.
 */
import { connect as netConnect, isIP, type NetConnectOpts, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Backoff } from '../backoff.js';
import { classifyStatus, isCredentialError, STATUS } from './command-status.js';
import { PduConnection } from './connection.js';
import { CMD, describeHeader, headerOnly, type PduHeader } from './pdu.js';
import type { BindMode } from './session-options.js';
import type { SessionContext, SessionState } from './session-types.js';
import { commandName, decodePdu, encodePdu } from './smpp-lib.js';

const BIND_COMMAND: Record<BindMode, string> = {
  transceiver: 'bind_transceiver',
  transmitter: 'bind_transmitter',
  receiver: 'bind_receiver',
};

export class Link {
  private _state: SessionState = 'disconnected';
  private _conn: PduConnection | null = null;
  private connSeq = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private enquireTimer: NodeJS.Timeout | null = null;
  private slowRetry = false;
  private boundAt = 0;
  private bindSeq = 0;
  private bindSentAt = 0;
  private enquireSeq = 0;
  private enquireSentAt = 0;
  private unbindSeq = 0;
  private unbindDone: (() => void) | null = null;
  private disconnectReason = '';
  private readonly backoff: Backoff;

  constructor(private readonly ctx: SessionContext) {
    this.backoff = new Backoff(ctx.o.reconnectMinMs, Math.max(ctx.o.reconnectMinMs, ctx.o.reconnectMaxMs), ctx.random);
  }

  get state(): SessionState {
    return this._state;
  }

  /** The connection in use (connecting, binding, bound or unbinding), null between connections. */
  get conn(): PduConnection | null {
    return this._conn;
  }

  /** Reading was paused this long: the bind and enquire_link waiting for a response get that time back. */
  shiftTimers(ms: number): void {
    if (this.bindSeq) this.bindSentAt += ms;
    if (this.enquireSeq) this.enquireSentAt += ms;
  }

  /** Stopping: no reconnect is pending any more. */
  cancelReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  /** Sends unbind and waits for unbind_resp, at most responseTimeoutMs. */
  async unbind(conn: PduConnection): Promise<void> {
    this.setState('unbinding');
    this.unbindSeq = conn.nextSequence();
    const unbound = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.ctx.o.responseTimeoutMs);
      this.unbindDone = () => {
        clearTimeout(timer);
        this.unbindDone = null;
        resolve();
      };
    });
    conn.write(headerOnly(CMD.unbind, 0, this.unbindSeq));
    await unbound;
    this.ctx.log.info('SMPP session unbound');
  }

  setState(state: SessionState): void {
    if (this._state === state) return;
    this._state = state;
    this.ctx.emit('state', state);
  }

  connect(): void {
    if (this.ctx.stopping) return;
    this.setState('connecting');
    const id = ++this.connSeq;
    let socket: Socket;
    if (this.ctx.o.tls) {
      socket = tlsConnect({
        host: this.ctx.o.host,
        port: this.ctx.o.port,
        rejectUnauthorized: this.ctx.o.tlsVerify,
        ca: this.ctx.o.tlsCa,
        servername: this.ctx.o.tlsServername ?? (isIP(this.ctx.o.host) ? undefined : this.ctx.o.host),
      });
    } else {
      // socket.pause() only stops the 'data' events: Node.js goes on reading the socket into the
      // stream's buffer until it holds readableHighWaterMark octets (16 KiB on Node.js 20, 64 KiB
      // from 22), one read of up to 64 KiB at a time, so several reads could follow a pause. At 1
      // the first read after a pause fills it and Node.js stops reading (readStop): what the
      // inbound window holds no longer depends on the Node.js version. While the socket is read
      // (flowing) each read is handed on at once and this buffer stays empty, so it costs nothing.
      // (net.Socket hands the option to stream.Duplex; @types/node leaves it out of the type.)
      socket = netConnect({ host: this.ctx.o.host, port: this.ctx.o.port, readableHighWaterMark: 1 } as NetConnectOpts);
    }
    this.disconnectReason = '';
    this.slowRetry = false;
    const conn = new PduConnection(socket, {
      onPdu: (header, pdu) => this.onPdu(conn, header, pdu),
      onFramingError: (error, partial) => this.onFramingError(conn, error, partial),
      onHandlerError: (error, header) => {
        this.ctx.log.error({ err: error, ...describeHeader(header, commandName) }, 'bug: handling a PDU threw');
        this.ctx.emit('pdu_error', { error: error instanceof Error ? error : new Error(String(error)) });
      },
      onDrain: () => this.ctx.window.pump(),
      onError: (err) => this.onSocketError(conn, err),
      onClose: () => this.onClose(conn, id),
    });
    this._conn = conn;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      this.closeConnection(conn, `connect timed out after ${this.ctx.o.connectTimeoutMs} ms`);
    }, this.ctx.o.connectTimeoutMs);
    socket.once(this.ctx.o.tls ? 'secureConnect' : 'connect', () => {
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      if (this._conn !== conn) return;
      if (this.ctx.stopping) return this.closeConnection(conn, 'stopping');
      this.bind(conn);
    });
  }

  private bind(conn: PduConnection): void {
    this.setState('binding');
    this.bindSeq = conn.nextSequence();
    this.bindSentAt = performance.now();
    this.startSweep();
    conn.write(
      encodePdu(BIND_COMMAND[this.ctx.o.bindMode], this.bindSeq, {
        system_id: this.ctx.o.systemId,
        password: this.ctx.o.password,
        system_type: this.ctx.o.systemType,
        interface_version: 0x34,
        addr_ton: 0,
        addr_npi: 0,
        address_range: this.ctx.o.addressRange,
      }),
    );
  }

  private onBindResp(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    this.bindSeq = 0;
    if (header.status !== 0) {
      const info = classifyStatus(header.status);
      const credentials = isCredentialError(header.status);
      this.ctx.emit('bind_failed', { commandStatus: header.status, statusName: info.name, credentials });
      if (credentials) {
        this.slowRetry = true;
        this.ctx.log.error(
          { statusName: info.name, systemId: this.ctx.o.systemId, retryInMs: this.ctx.o.slowRetryMs },
          `SMSC refused the bind: ${info.name} (${info.description}). Check the system_id and password (SMPP_URL / SMPP_PASSWORD); retrying slowly`,
        );
      } else {
        this.ctx.log.warn({ statusName: info.name }, `SMSC refused the bind: ${info.name} (${info.description})`);
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
    this.ctx.window.newBind();
    this.setState('bound');
    this.ctx.log.info({ smscSystemId: systemId, bindMode: this.ctx.o.bindMode }, 'SMPP session bound');
    this.ctx.emit('bound', { systemId });
    this.startEnquireLink(conn);
    this.ctx.window.pump();
  }

  private startSweep(): void {
    if (this.sweepTimer) return;
    const every = Math.min(500, Math.max(5, Math.floor(this.ctx.o.responseTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
  }

  /** One timer for every response timeout: submits (oldest first), enquire_link, bind, unbind. */
  private sweep(): void {
    const conn = this._conn;
    // Responses may be waiting unread while reading is paused: nothing is late until it resumes.
    if (conn?.isPaused) return;
    const now = performance.now();
    const limit = this.ctx.o.responseTimeoutMs;
    if (conn && this.bindSeq && now - this.bindSentAt >= limit) {
      this.bindSeq = 0;
      this.ctx.log.warn({ timeoutMs: limit }, 'no bind response; reconnecting');
      return this.closeConnection(conn, `no bind response within ${limit} ms`);
    }
    if (conn && this.enquireSeq && now - this.enquireSentAt >= limit) {
      this.enquireSeq = 0;
      this.ctx.emit('enquire_link_timeout');
      this.ctx.log.warn({ timeoutMs: limit }, 'no enquire_link_resp: the link is dead; reconnecting');
      return this.closeConnection(conn, `no enquire_link_resp within ${limit} ms`);
    }
    const expired = this.ctx.window.expire(now, limit);
    if (expired > 0) {
      this.ctx.log.warn({ expired, timeoutMs: limit }, 'submit_sm responses timed out; probing the link');
      if (conn && this._state === 'bound' && !this.enquireSeq) this.sendEnquireLink(conn);
      this.ctx.window.pump();
    }
    this.ctx.checkDrained();
  }

  private startEnquireLink(conn: PduConnection): void {
    if (this.enquireTimer) clearInterval(this.enquireTimer);
    this.enquireTimer = setInterval(() => {
      if (this._conn === conn && (this._state === 'bound' || this._state === 'unbinding') && !this.enquireSeq) this.sendEnquireLink(conn);
    }, this.ctx.o.enquireLinkSeconds * 1000);
  }

  private sendEnquireLink(conn: PduConnection): void {
    this.enquireSeq = conn.nextSequence();
    this.enquireSentAt = performance.now();
    conn.write(headerOnly(CMD.enquire_link, 0, this.enquireSeq));
  }

  private onSocketError(conn: PduConnection, err: Error & { code?: string }): void {
    if (this._conn !== conn) return;
    const code = err.code ?? '';
    const tlsProblem = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME|ALTNAME/.test(code) || /certificate/i.test(err.message);
    if (tlsProblem) {
      this.slowRetry = true;
      this.ctx.log.error({ err: { message: err.message, code } }, 'TLS: the SMSC certificate was rejected; retrying slowly (set SMPP_TLS_INSECURE=1 only for a test SMSC)');
    } else {
      this.ctx.log.warn({ err: { message: err.message, code } }, 'SMPP connection error');
    }
    this.disconnectReason ||= code ? `${code}: ${err.message}` : err.message;
  }

  private onFramingError(conn: PduConnection, error: Error, partial: Buffer): void {
    // The octets that were meant to be a header may be anyone's message text: only their count and
    // the length they claimed are logged.
    const claimedLength = partial.length >= 4 ? partial.readUInt32BE(0) : null;
    this.ctx.log.error({ err: error, commandLength: claimedLength }, 'garbage on the SMPP stream (framing lost); answering generic_nack and reconnecting');
    this.ctx.emit('pdu_error', { error });
    const seq = partial.length >= 16 ? partial.readUInt32BE(12) : 0;
    conn.write(headerOnly(CMD.generic_nack, STATUS.ESME_RINVCMDLEN, seq));
    this.closeConnection(conn, `framing lost: ${error.message}`, true);
  }

  /** Closes a connection (gracefully flushing when `flush`), once; onClose does the rest. */
  closeConnection(conn: PduConnection, reason: string, flush = false): void {
    this.disconnectReason ||= reason;
    if (flush) {
      conn.end();
      setTimeout(() => conn.destroy(), 1000).unref();
    } else {
      conn.destroy();
    }
  }

  private onClose(conn: PduConnection, id: number): void {
    if (this._conn !== conn || this.connSeq !== id) return;
    this._conn = null;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.clearTimers();
    const wasBound = this._state === 'bound' || this._state === 'unbinding';
    const reason = this.disconnectReason || 'connection closed by the SMSC';
    this.bindSeq = 0;
    this.enquireSeq = 0;
    this.ctx.window.failOutstanding(`connection lost with the submit_sm outstanding (${reason})`);
    if (this.unbindDone) this.unbindDone();
    this.ctx.window.linkLost();
    if (wasBound && performance.now() - this.boundAt >= this.ctx.o.stableBindMs) this.backoff.reset();
    this.ctx.emit('disconnected', { reason });
    if (this.ctx.stopping) {
      this.setState('closed');
      this.ctx.checkDrained();
      return;
    }
    this.setState('disconnected');
    if (wasBound) this.ctx.log.warn({ reason }, 'SMPP session lost; reconnecting');
    const delayMs = this.slowRetry ? this.ctx.o.slowRetryMs : this.backoff.next();
    const attempt = this.backoff.attempt;
    this.ctx.emit('reconnect', { attempt, delayMs });
    this.ctx.log.info({ attempt, delayMs, reason }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delayMs);
  }

  /** Stops the link's timers (and the submit window's resume timer). */
  clearTimers(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.enquireTimer) clearInterval(this.enquireTimer);
    this.sweepTimer = this.enquireTimer = null;
    this.ctx.window.clearTimer();
  }

  private onPdu(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    if (this._conn !== conn) return;
    switch (header.commandId) {
      case CMD.submit_sm_resp:
        return this.ctx.window.onSubmitResp(header, pdu);
      case CMD.deliver_sm:
      case CMD.data_sm:
        return this.ctx.inbound.onDeliver(conn, header, pdu);
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
        return this.ctx.window.onStrayResponse(header, pdu);
      case CMD.unbind:
        this.ctx.log.warn('the SMSC unbound the session; reconnecting');
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
        this.ctx.log.debug({ command: commandName(header.commandId) }, 'ignored SMSC notification');
        return;
      default:
        if (header.commandId & 0x80000000) return this.ctx.window.onStrayResponse(header, pdu);
        this.ctx.log.warn({ commandId: `0x${header.commandId.toString(16)}`, command: commandName(header.commandId) ?? 'unknown' }, 'unsupported request from the SMSC; answered generic_nack');
        conn.write(headerOnly(CMD.generic_nack, STATUS.ESME_RINVCMDID, header.sequence));
    }
  }

  private onGenericNack(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    const info = classifyStatus(header.status);
    this.ctx.log.warn({ sequence: header.sequence, statusName: info.name }, 'generic_nack from the SMSC');
    this.ctx.emit('pdu_error', { error: new Error(`generic_nack ${info.name} for sequence ${header.sequence}`) });
    if (this.ctx.window.has(header.sequence)) return this.ctx.window.onSubmitResp(header, pdu);
    if (header.sequence === this.bindSeq) return this.onBindResp(conn, { ...header, status: header.status || STATUS.ESME_RBINDFAIL }, pdu);
    if (header.sequence === this.enquireSeq) this.enquireSeq = 0;
  }
}
