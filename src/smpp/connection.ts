/**
 * PduConnection: SMPP framing over one TCP or TLS socket, shared by the session and the simulator.
 *
 * - Splits the byte stream into PDUs by command_length without copying when a chunk holds whole
 *   PDUs. A command_length below 16 or above MAX_PDU_LENGTH means framing is lost: the owner is
 *   told (onFramingError) and must close the connection, since nothing after it can be trusted.
 * - Handlers that throw are reported (onHandlerError) and reading goes on: one bad PDU or one bug
 *   in a handler never stops the stream.
 * - Writes issued in the same tick are corked into one writev; `write` returns false and
 *   `needsDrain` is true while the socket's buffer is over its high-water mark, and 'drain' is
 *   forwarded, so callers can hold back instead of buffering without bound.
 * - pause() stops handing PDUs to the owner at once, even in the middle of a chunk (the rest of it
 *   waits here, at most one socket read), and stops reading the socket, so TCP flow control holds
 *   the peer back; resume() hands on what waited and reads again. Node.js stops reading only once
 *   the stream's buffer reaches its readableHighWaterMark, one read of up to 64 KiB at a time: the
 *   session's TCP socket has it at 1 (link.ts), so one more read at most; a socket with the
 *   default (16 KiB on Node.js 20, 64 KiB from 22) may take in up to that much plus one read.
 * - Sequence numbers run 1..0x7FFFFFFF and wrap to 1 (SMPP 3.4 2.6.3).
 */
import type { Socket } from 'node:net';
import { HEADER_LENGTH, MAX_PDU_LENGTH, readHeader, type PduHeader } from './pdu.js';

export interface PduHandlers {
  onPdu(header: PduHeader, pdu: Buffer): void;
  /** The stream is no longer SMPP (bad command_length). `header` is what could be read of it. */
  onFramingError(error: Error, partialHeader: Buffer): void;
  onHandlerError?(error: unknown, header: PduHeader, pdu: Buffer): void;
  onDrain?(): void;
  onClose?(hadError: boolean): void;
  onError?(error: Error): void;
}

export class PduConnection {
  private pending: Buffer | null = null;
  private sequence = 0;
  private corked = false;
  private framingLost = false;
  private paused = false;
  closed = false;

  constructor(
    readonly socket: Socket,
    private readonly handlers: PduHandlers,
    private readonly maxPduLength = MAX_PDU_LENGTH,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.handlers.onDrain?.());
    socket.on('error', (err) => this.handlers.onError?.(err));
    socket.on('close', (hadError) => {
      this.closed = true;
      this.handlers.onClose?.(hadError);
    });
  }

  nextSequence(): number {
    this.sequence = this.sequence >= 0x7fffffff ? 1 : this.sequence + 1;
    return this.sequence;
  }

  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  get writable(): boolean {
    return !this.closed && this.socket.writable;
  }

  /** Queues one encoded PDU. False when the socket asks the writer to wait for 'drain' (or is closed). */
  write(pdu: Buffer): boolean {
    if (!this.writable) return false;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    return this.socket.write(pdu);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops reading: no PDU is handed on until resume(). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Hands on the PDUs that waited, then reads the socket again (unless paused meanwhile). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.parse();
    if (!this.paused && !this.closed) this.socket.resume();
  }

  /** Half-closes after flushing what was written (the peer sees FIN). */
  end(): void {
    if (!this.closed) this.socket.end();
  }

  destroy(): void {
    this.pending = null;
    if (!this.socket.destroyed) this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.framingLost) return;
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.parse();
  }

  /** Hands on every whole PDU in `pending` until paused; keeps the rest (a partial PDU, or what waits). */
  private parse(): void {
    const buf = this.pending;
    if (!buf || this.framingLost) return;
    this.pending = null;
    let offset = 0;
    while (!this.paused && buf.length - offset >= 4) {
      const length = buf.readUInt32BE(offset);
      if (length < HEADER_LENGTH || length > this.maxPduLength) {
        this.framingLost = true;
        const partial = buf.subarray(offset, Math.min(buf.length, offset + HEADER_LENGTH));
        this.handlers.onFramingError(new Error(`invalid command_length ${length} (expected ${HEADER_LENGTH}..${this.maxPduLength})`), partial);
        return;
      }
      if (buf.length - offset < length) break;
      const pdu = buf.subarray(offset, offset + length);
      offset += length;
      const header = readHeader(pdu);
      try {
        this.handlers.onPdu(header, pdu);
      } catch (err) {
        this.handlers.onHandlerError?.(err, header, pdu);
      }
      if (this.socket.destroyed || this.framingLost) return;
    }
    // Copied, so a few octets left over never keep a whole read buffer alive.
    if (offset < buf.length) this.pending = Buffer.from(buf.subarray(offset));
  }
}
