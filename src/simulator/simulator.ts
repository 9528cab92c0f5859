/**
 * An SMSC simulator: a real SMPP 3.4 server on TCP (or TLS) for tests, development (`sms-outbox
 * simulator`, `sms-outbox dev`) and benchmarks.
 *
 * It accepts binds (optionally checking credentials), answers submit_sm with message ids (hex or
 * decimal), sends delivery receipts after a delay (zero lets the receipt race the response, and it
 * can go before the response), sends MO messages (single or concatenated, with parts dropped or
 * duplicated on request), redelivers deliver_sm that were refused with a temporary error, left
 * unanswered or lost with a connection, and injects faults on demand: throttling at a rate,
 * permanent errors for chosen numbers, an error for the next submits to a number, dropped or
 * delayed responses, connections closed now or after N submits, refused binds, a dead
 * enquire_link, an SMSC that refuses validity_period, an ESME's answer to an MO taken as lost,
 * and auto-responders that answer every message to their number. It records what it received so tests can assert on the wire; `record: false`
 * keeps only counters, for benchmarks.
 */
import { EventEmitter } from 'node:events';
import { createServer as netCreateServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as tlsCreateServer } from 'node:tls';
import type { Logger } from '../logger.js';
import { classifyStatus, STATUS } from '../smpp/command-status.js';
import { PduConnection } from '../smpp/connection.js';
import { decodePayload } from '../smpp/mo.js';
import { CMD, HEADER_LENGTH, headerOnly, withCString, type PduHeader } from '../smpp/pdu.js';
import { normalizeReceiptState } from '../smpp/receipt-state.js';
import { parseSmBody } from '../smpp/sm-body.js';
import { decodePdu, encodePdu } from '../smpp/smpp-lib.js';
import { ESM_CLASS_UDHI, parseUdh } from '../smpp/udh.js';
import { Deliveries } from './deliveries.js';
import { SubmitFaults } from './faults.js';
import { moPdus, receiptFields } from './pdus.js';
import {
  DEFAULTS,
  emptyReceived,
  type BindRecord,
  type Counters,
  type Delivery,
  type ManualReceipt,
  type MoOptions,
  type Received,
  type ReceiptForm,
  type RecentSubmit,
  type ResolvedOptions,
  type SessionInfo,
  type SimSession,
  type SimulatorOptions,
  type SubmitRecord,
} from './types.js';


export class Simulator extends EventEmitter {
  readonly options: ResolvedOptions;
  readonly received: Received = emptyReceived();
  readonly counters: Counters = { connections: 0, binds: 0, submits: 0, accepted: 0, throttled: 0, rejected: 0, dropped: 0, receiptsSent: 0, moSent: 0, deliverResps: 0, redeliveries: 0, acksLost: 0, autoReplies: 0, peakUnanswered: 0 };
  private readonly server: Server;
  private readonly sessions = new Set<SimSession>();
  private readonly random: () => number;
  private readonly log: Logger | undefined;
  private nextId: number;
  /** The faults it injects; faults.releaseHeld() sends the answers holdResponses kept. */
  readonly faults: SubmitFaults;
  private readonly deliveries: Deliveries;
  private enquireTimer: NodeJS.Timeout | null = null;
  private nextMoRef: number;
  private readonly keepRecent: number;
  private recent: RecentSubmit[] = [];
  host = '127.0.0.1';
  port = 0;

  constructor(options: SimulatorOptions = {}) {
    super();
    this.options = { ...DEFAULTS };
    this.random = options.random ?? Math.random;
    this.log = options.logger;
    this.keepRecent = Math.max(0, options.keepRecent ?? 0);
    this.faults = new SubmitFaults(this.options, this.random);
    this.configure(options);
    this.nextId = this.options.firstId;
    this.nextMoRef = Math.floor(this.random() * 256);
    const onSocket = (socket: Socket) => this.accept(socket);
    this.server = options.tls ? tlsCreateServer({ key: options.tls.key, cert: options.tls.cert }, onSocket) : netCreateServer(onSocket);
    this.deliveries = new Deliveries(this.options, this.sessions, this.counters, (d, status) => this.onAnswer(d, status));
  }

  /** Changes options at run time (faults, receipts, credentials...). */
  configure(partial: Partial<SimulatorOptions>): void {
    for (const [key, value] of Object.entries(partial)) {
      if (key === 'tls' || key === 'logger' || key === 'random' || key === 'keepRecent' || value === undefined) continue;
      (this.options as unknown as Record<string, unknown>)[key] = value;
    }
    this.faults.configure(partial);
    if (partial.enquireLinkSeconds !== undefined) this.scheduleEnquireLink();
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    this.host = addr.address;
    this.port = addr.port;
  }

  /** Open TCP connections. */
  get connections(): number {
    return this.sessions.size;
  }

  get boundSessions(): number {
    let n = 0;
    for (const s of this.sessions) if (s.bound) n++;
    return n;
  }

  /** Bound sessions that take deliver_sm (transceiver or receiver binds): who gets MO and receipts now. */
  get receivingSessions(): number {
    let n = 0;
    for (const s of this.sessions) if (s.bound && s.canReceive && !s.conn.closed) n++;
    return n;
  }

  /** Each open connection: who bound, how, and its submit_sm not yet answered. */
  sessionInfo(): SessionInfo[] {
    return [...this.sessions].map((s) => ({ systemId: s.systemId, bind: s.bind, bound: s.bound, unansweredSubmits: s.unanswered }));
  }

  /** The last `keepRecent` submit_sm, oldest first. */
  recentSubmits(): RecentSubmit[] {
    return [...this.recent];
  }

  /** Answers the next `count` submit_sm with `status` (not accepted, no id, no receipt); 0 clears it. */
  failNextSubmits(count: number, status: number): void {
    this.faults.failNext(count, status);
  }

  /** What failNextSubmits still has to answer. */
  get pendingFailures(): { count: number; status: number } {
    return this.faults.pendingFailures;
  }

  /** Empties the records (counters too). */
  clear(): void {
    Object.assign(this.received, emptyReceived());
    for (const key of Object.keys(this.counters) as (keyof Counters)[]) this.counters[key] = 0;
  }

  async stop(): Promise<void> {
    this.deliveries.stop();
    if (this.enquireTimer) clearInterval(this.enquireTimer);
    this.enquireTimer = null;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.conn.destroy();
    await closed;
  }

  // ------------------------------------------------------------ faults and injections

  /** Drops every TCP connection now (no unbind). */
  closeConnections(): void {
    for (const s of this.sessions) s.conn.destroy();
  }

  /** Sends an unbind from the SMSC side to every bound session. */
  sendUnbind(): void {
    for (const s of this.sessions) if (s.bound) s.conn.write(headerOnly(CMD.unbind, 0, s.conn.nextSequence()));
  }

  /** Sends enquire_link from the SMSC side to every bound session. */
  sendEnquireLink(): void {
    for (const s of this.sessions) if (s.bound) s.conn.write(headerOnly(CMD.enquire_link, 0, s.conn.nextSequence()));
  }

  /** Writes raw bytes to every bound session (malformed PDUs). */
  sendRaw(bytes: Buffer): void {
    for (const s of this.sessions) if (s.bound) s.conn.socket.write(bytes);
  }

  /** Sends an MO message; returns the concatenation reference used and the part count. */
  sendMo(mo: MoOptions): { ref: number; total: number } {
    const ref = mo.concat?.ref ?? (this.nextMoRef = (this.nextMoRef + 1) & 0xff);
    const { pdus, total } = moPdus(mo, ref);
    for (const { seq, fields, times } of pdus) {
      for (let t = 0; t < times; t++) {
        this.counters.moSent++;
        const onResponse = mo.onResponse && t === 0 ? (status: number) => mo.onResponse!(seq, status) : undefined;
        const build = (s: number) => encodePdu('deliver_sm', s, fields);
        this.deliveries.deliver({ kind: 'mo', messageId: null, build, attempts: 0, sentAt: 0, session: null, onResponse, loseAcks: mo.loseAcks ?? 0 });
      }
    }
    return { ref: mo.concat?.sixteenBitRef ? ref : ref & 0xff, total };
  }

  /**
   * Sends a request PDU whose body is given as raw bytes (fuzzing: malformed fields, odd codings),
   * framed with a correct command_length and the session's next sequence number, and tracked like
   * any deliver_sm: its response is recorded (kind 'raw'), and it is redelivered if so configured.
   */
  sendRawRequest(commandId: number, body: Buffer): void {
    const build = (sequence: number) => {
      const pdu = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
      pdu.writeUInt32BE(HEADER_LENGTH + body.length, 0);
      pdu.writeUInt32BE(commandId >>> 0, 4);
      pdu.writeUInt32BE(0, 8);
      pdu.writeUInt32BE(sequence, 12);
      body.copy(pdu, HEADER_LENGTH);
      return pdu;
    };
    this.deliveries.deliver({ kind: 'raw', messageId: null, build, attempts: 0, sentAt: 0, session: null });
  }

  /** deliver_sm / data_sm sent and not answered yet (on the wire, or waiting for a session that can receive). */
  get unansweredDeliveries(): number {
    return this.deliveries.unanswered;
  }

  /** Each connection's ports (the simulator's, and the ESME's at the other end). */
  sockets(): { localPort: number; remotePort: number }[] {
    return [...this.sessions].map((s) => ({ localPort: s.conn.socket.localPort ?? 0, remotePort: s.conn.socket.remotePort ?? 0 }));
  }

  /** Sends a receipt for any id, in any form (for receipts of ids the ESME never saw, forms, bases). */
  sendReceipt(r: ManualReceipt): void {
    const state = normalizeReceiptState(r.state ?? 'DELIVRD') ?? '';
    const delivery = this.receiptDelivery(r.messageId, state, r.err ?? (state === 'DELIVRD' ? '000' : '001'), r.form ?? this.options.receiptForm, r.source ?? '79990000000', r.destination ?? 'SIM', r.networkErrorCode);
    delivery.onResponse = r.onResponse;
    this.deliveries.deliver(delivery);
  }

  // ------------------------------------------------------------ connections

  private accept(socket: Socket): void {
    this.counters.connections++;
    const session: SimSession = {
      conn: null as unknown as PduConnection,
      bound: false,
      bind: null,
      canReceive: false,
      canSubmit: false,
      systemId: '',
      unanswered: 0,
      deliveries: new Map(),
    };
    session.conn = new PduConnection(socket, {
      onPdu: (header, pdu) => this.onPdu(session, header, pdu),
      onFramingError: (error, partial) => {
        this.log?.warn({ err: error, commandLength: partial.length >= 4 ? partial.readUInt32BE(0) : null }, 'simulator: framing lost; closing');
        session.conn.destroy();
      },
      onHandlerError: (error) => this.log?.error({ err: error }, 'simulator: handler failed'),
      onError: () => {},
      onClose: () => this.onSessionClose(session),
    });
    this.sessions.add(session);
    this.emit('connection');
  }

  private onSessionClose(session: SimSession): void {
    this.sessions.delete(session);
    this.deliveries.sessionClosed(session);
    this.emit('disconnect');
  }

  private onPdu(session: SimSession, header: PduHeader, pdu: Buffer): void {
    const conn = session.conn;
    switch (header.commandId) {
      case CMD.bind_transceiver:
      case CMD.bind_transmitter:
      case CMD.bind_receiver:
        return this.onBind(session, header, pdu);
      case CMD.submit_sm:
        if (!session.bound || !session.canSubmit) {
          conn.write(headerOnly(CMD.submit_sm_resp, STATUS.ESME_RINVBNDSTS, header.sequence));
          return;
        }
        return this.onSubmit(session, header, pdu);
      case CMD.deliver_sm_resp:
      case CMD.data_sm_resp:
        return this.deliveries.answered(session, header);
      case CMD.enquire_link:
        this.received.enquireLinks++;
        if (!this.options.ignoreEnquireLink) conn.write(headerOnly(CMD.enquire_link_resp, 0, header.sequence));
        return;
      case CMD.enquire_link_resp:
        this.received.enquireLinkResps++;
        return;
      case CMD.unbind:
        this.received.unbinds++;
        session.bound = false;
        conn.write(headerOnly(CMD.unbind_resp, 0, header.sequence));
        conn.end();
        this.emit('unbind');
        return;
      case CMD.unbind_resp:
        session.bound = false;
        conn.end();
        return;
      case CMD.generic_nack:
        this.record(() => this.received.genericNacks.push({ sequence: header.sequence, status: header.status }));
        this.deliveries.answered(session, header);
        this.emit('generic_nack', header);
        return;
      default:
        this.record(() => this.received.unknown.push({ commandId: header.commandId, sequence: header.sequence }));
        if (!(header.commandId & 0x80000000)) conn.write(headerOnly(CMD.generic_nack, STATUS.ESME_RINVCMDID, header.sequence));
    }
  }

  private onBind(session: SimSession, header: PduHeader, pdu: Buffer): void {
    const respId = (header.commandId | 0x80000000) >>> 0;
    let fields: Record<string, unknown>;
    try {
      fields = decodePdu(pdu) as unknown as Record<string, unknown>;
    } catch {
      session.conn.write(headerOnly(respId, STATUS.ESME_RINVCMDLEN, header.sequence));
      return;
    }
    const systemId = String(fields.system_id ?? '');
    const password = String(fields.password ?? '');
    const o = this.options;
    let status = 0;
    if (session.bound) status = STATUS.ESME_RALYBND;
    else if (o.refuseBinds !== null && o.refuseBinds !== 0) status = o.refuseBinds;
    else if (o.systemId !== null && systemId !== o.systemId) status = STATUS.ESME_RINVSYSID;
    else if (o.password !== null && password !== o.password) status = STATUS.ESME_RINVPASWD;
    const command = (fields.command as BindRecord['command']) ?? 'bind_transceiver';
    this.counters.binds++;
    this.record(() =>
      this.received.binds.push({ command, systemId, password, systemType: String(fields.system_type ?? ''), interfaceVersion: Number(fields.interface_version ?? 0), status }),
    );
    this.log?.debug({ systemId, command, status: classifyStatus(status).name }, 'simulator: bind');
    if (status !== 0) {
      session.conn.write(headerOnly(respId, status, header.sequence));
      this.emit('bind', { systemId, status });
      return;
    }
    session.bound = true;
    session.systemId = systemId;
    session.bind = command === 'bind_transmitter' ? 'transmitter' : command === 'bind_receiver' ? 'receiver' : 'transceiver';
    session.canReceive = header.commandId !== CMD.bind_transmitter;
    session.canSubmit = header.commandId !== CMD.bind_receiver;
    session.conn.write(withCString(respId, 0, header.sequence, 'SIMSMSC'));
    this.emit('bind', { systemId, status });
    if (session.canReceive) this.deliveries.flushUndelivered();
  }

  private onSubmit(session: SimSession, header: PduHeader, pdu: Buffer): void {
    const o = this.options;
    this.counters.submits++;
    let fields;
    try {
      fields = parseSmBody(pdu);
    } catch (err) {
      this.log?.warn({ err }, 'simulator: malformed submit_sm');
      session.conn.write(headerOnly(CMD.submit_sm_resp, STATUS.ESME_RINVCMDLEN, header.sequence));
      return;
    }
    if (++session.unanswered > this.counters.peakUnanswered) this.counters.peakUnanswered = session.unanswered;
    const { status, drop, cut } = this.faults.answer(fields.destination, fields.validityPeriod);
    const messageId = status === 0 && !cut && !drop ? this.assignId() : null;
    // A light event for benchmarks, which keep no records: who it was for and when it arrived.
    if (this.listenerCount('arrival')) this.emit('arrival', fields.destination, performance.now());
    if (o.record || this.keepRecent > 0) {
      const udh = fields.esmClass & ESM_CLASS_UDHI ? parseUdh(fields.shortMessage) : null;
      const payload = udh ? fields.shortMessage.subarray(udh.length) : fields.shortMessage;
      const rec: SubmitRecord = {
        sequence: header.sequence,
        source: fields.source,
        sourceTon: fields.sourceTon,
        sourceNpi: fields.sourceNpi,
        destination: fields.destination,
        destTon: fields.destTon,
        destNpi: fields.destNpi,
        esmClass: fields.esmClass,
        dataCoding: fields.dataCoding,
        registeredDelivery: fields.registeredDelivery,
        validityPeriod: fields.validityPeriod,
        udh: udh?.concat ?? null,
        payload: Buffer.from(payload),
        text: decodePayload(payload, fields.dataCoding),
        messageId,
        status: cut || drop ? -1 : status,
        at: performance.now(),
      };
      if (this.keepRecent > 0) this.remember(session, rec);
      if (o.record) {
        this.received.submits.push(rec);
        this.emit('submit', rec);
      }
    }
    if (cut) {
      this.log?.debug('simulator: closing the connection as configured (closeAfterSubmits)');
      session.conn.destroy();
      return;
    }
    if (drop) {
      this.counters.dropped++;
      return;
    }
    if (status === 0) this.counters.accepted++;
    else if (status === o.throttleStatus) this.counters.throttled++;
    else this.counters.rejected++;
    const resp = messageId !== null ? withCString(CMD.submit_sm_resp, 0, header.sequence, messageId) : headerOnly(CMD.submit_sm_resp, status, header.sequence);
    const receipt =
      messageId !== null && o.receipts && fields.registeredDelivery & 0x03
        ? this.receiptFor(messageId, fields.destination, fields.source)
        : null;
    // An auto-responder at the destination answers the message (once, on its last part).
    const part = fields.esmClass & ESM_CLASS_UDHI ? parseUdh(fields.shortMessage)?.concat : null;
    const autoReply = messageId !== null && (!part || part.seq === part.total) ? o.autoReplies[fields.destination.replace(/^\+/, '')] : undefined;
    const respond = () => {
      if (receipt && o.receiptBeforeResponse) this.deliveries.deliver(receipt, session);
      session.unanswered--;
      session.conn.write(resp);
      if (receipt && !o.receiptBeforeResponse) this.deliveries.scheduleReceipt(receipt, session);
      if (autoReply !== undefined && /^\+?\d+$/.test(fields.source)) {
        // The phone answers once it has the message: after the ESME answered its receipt.
        const answer = () => {
          this.counters.autoReplies++;
          this.sendMo({ source: fields.destination, destination: fields.source, text: autoReply });
        };
        if (receipt) receipt.onResponse = answer;
        else setTimeout(answer, 50).unref();
      }
    };
    this.faults.respond(respond);
  }

  private remember(session: SimSession, rec: SubmitRecord): void {
    this.recent.push({
      at: new Date().toISOString(),
      systemId: session.systemId,
      source: rec.source,
      destination: rec.destination,
      dataCoding: rec.dataCoding,
      registeredDelivery: rec.registeredDelivery,
      validityPeriod: rec.validityPeriod,
      part: rec.udh,
      text: rec.text,
      messageId: rec.messageId,
      status: rec.status,
    });
    if (this.recent.length > this.keepRecent) this.recent.splice(0, this.recent.length - this.keepRecent);
  }

  private assignId(): string {
    const n = this.nextId++;
    const s = this.options.idFormat === 'hex' ? n.toString(16).toUpperCase() : String(n);
    return this.options.idPad > s.length ? s.padStart(this.options.idPad, '0') : s;
  }

  // ------------------------------------------------------------ deliveries (receipts, MO)

  private receiptFor(messageId: string, destination: string, source: string): Delivery {
    const o = this.options;
    const state = normalizeReceiptState(o.receiptStates[destination] ?? 'DELIVRD') ?? '';
    let id = messageId;
    const base = o.receiptIdBase === 'same' ? o.idFormat : o.receiptIdBase;
    if (base !== o.idFormat) {
      const n = BigInt(o.idFormat === 'hex' ? `0x${messageId}` : messageId);
      id = base === 'hex' ? n.toString(16).toUpperCase() : n.toString(10);
    }
    if (o.receiptIdPad > id.length) id = id.padStart(o.receiptIdPad, '0');
    return this.receiptDelivery(id, state, state === 'DELIVRD' ? '000' : '001', o.receiptForm, destination, source);
  }

  private receiptDelivery(id: string, state: string, err: string, form: ReceiptForm, from: string, to: string, networkErrorCode?: number): Delivery {
    const fields = receiptFields(id, state, err, form, from, to, networkErrorCode);
    this.counters.receiptsSent++;
    return { kind: 'receipt', messageId: id, build: (s) => encodePdu('deliver_sm', s, fields), attempts: 0, sentAt: 0, session: null };
  }

  private onAnswer(delivery: Delivery, status: number): void {
    this.record(() => this.received.deliverResps.push({ kind: delivery.kind, status, messageId: delivery.messageId, attempt: delivery.attempts }));
    this.emit('deliver_resp', { kind: delivery.kind, status, messageId: delivery.messageId, attempt: delivery.attempts });
  }

  private scheduleEnquireLink(): void {
    if (this.enquireTimer) clearInterval(this.enquireTimer);
    this.enquireTimer = null;
    if (this.options.enquireLinkSeconds > 0) {
      this.enquireTimer = setInterval(() => this.sendEnquireLink(), this.options.enquireLinkSeconds * 1000);
      this.enquireTimer.unref();
    }
  }

  private record(fn: () => void): void {
    if (this.options.record) fn();
  }
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new Simulator(options);
  await sim.listen();
  return sim;
}

