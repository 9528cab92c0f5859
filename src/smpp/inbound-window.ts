/**
 * The receiving half of SmppSession: deliver_sm (and data_sm) are decoded into a receipt or an MO
 * part and handed to the inbound handler; the response goes only after the handler's promise
 * resolves (ESME_ROK), or with ESME_RX_T_APPN if it rejects, so the SMSC redelivers what was not
 * stored. At most inboundWindow of them are held unanswered: at that bound the link stops reading
 * the socket (TCP holds the SMSC back) and reads again once half of them are answered. The time
 * reading was paused is given back to the response timeouts, since responses may have waited
 * unread meanwhile.
 */
import { errorForLog } from '../logger.js';
import { classifyStatus, STATUS } from './command-status.js';
import type { PduConnection } from './connection.js';
import { decodeInboundPdu, type InboundEvent } from './inbound.js';
import { CMD, describeHeader, headerOnly, PduFormatError, withCString, type PduHeader } from './pdu.js';
import type { InboundHandler, SessionContext } from './session-types.js';
import { commandName } from './smpp-lib.js';

export class InboundWindow {
  private handler: InboundHandler | null = null;
  private held = 0;
  /** When reading was paused for the inbound window (performance.now()), 0 while reading. */
  private readPausedAt = 0;
  private warnedNoHandler = false;

  constructor(private readonly ctx: SessionContext) {}

  /** deliver_sm / data_sm received and not yet answered (their handlers are storing them). */
  get pending(): number {
    return this.held;
  }

  setHandler(handler: InboundHandler): void {
    this.handler = handler;
  }

  onDeliver(conn: PduConnection, header: PduHeader, pdu: Buffer): void {
    const respId = header.commandId === CMD.data_sm ? CMD.data_sm_resp : CMD.deliver_sm_resp;
    let event: InboundEvent;
    try {
      event = decodeInboundPdu(pdu);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const status = err instanceof PduFormatError ? STATUS.ESME_RINVCMDLEN : STATUS.ESME_RX_P_APPN;
      // What failed and where, from the header and the parser's message; never the body's bytes.
      this.ctx.log.error(
        { ...describeHeader(header, commandName), problem: `${error.name}: ${error.message}` },
        `unreadable ${commandName(header.commandId)} from the SMSC; answered ${classifyStatus(status).name}`,
      );
      this.ctx.emit('pdu_error', { error });
      conn.write(headerOnly(respId, status, header.sequence));
      return;
    }
    const handler = this.handler;
    if (!handler) {
      if (!this.warnedNoHandler) {
        this.warnedNoHandler = true;
        this.ctx.log.warn('deliver_sm received but no inbound handler is set; answering ESME_RX_T_APPN so the SMSC redelivers');
      }
      conn.write(headerOnly(respId, STATUS.ESME_RX_T_APPN, header.sequence));
      return;
    }
    this.held++;
    if (this.held >= this.ctx.o.inboundWindow && !conn.isPaused) {
      conn.pause();
      this.readPausedAt = performance.now();
      this.ctx.log.debug({ pending: this.held }, 'inbound window full: not reading from the SMSC until half of it is answered');
      this.ctx.emit('inbound_paused', { pending: this.held });
    }
    let done: Promise<void>;
    try {
      done = handler(event);
    } catch (err) {
      done = Promise.reject(err);
    }
    done.then(
      () => this.answer(conn, respId, 0, header.sequence),
      (error: unknown) => {
        this.ctx.log.error({ error: errorForLog(error), kind: event.kind, ...describeHeader(header, commandName) }, 'inbound handler failed; answered ESME_RX_T_APPN so the SMSC redelivers');
        this.ctx.emit('inbound_error', { error, event });
        this.answer(conn, respId, STATUS.ESME_RX_T_APPN, header.sequence);
      },
    );
  }

  private answer(conn: PduConnection, respId: number, status: number, sequence: number): void {
    this.held--;
    // Only on the connection it came from: after a reconnect the SMSC redelivers it anyway.
    if (this.ctx.link.conn === conn && conn.writable) {
      conn.write(status === 0 ? withCString(respId, 0, sequence, '') : headerOnly(respId, status, sequence));
    }
    if (this.ctx.link.conn?.isPaused && this.held <= this.ctx.o.inboundWindow >> 1) this.resumeReading(this.ctx.link.conn);
    this.ctx.checkDrained();
  }

  /** Reads again after an inbound pause; the time spent paused does not count toward response timeouts. */
  private resumeReading(conn: PduConnection): void {
    const pausedFor = this.readPausedAt ? performance.now() - this.readPausedAt : 0;
    this.readPausedAt = 0;
    this.ctx.link.shiftTimers(pausedFor);
    this.ctx.window.shiftSentAt(pausedFor);
    this.ctx.log.debug({ pending: this.held, pausedMs: Math.round(pausedFor) }, 'reading from the SMSC again');
    conn.resume();
  }
}
