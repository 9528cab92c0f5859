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
 * enquire_link. It records what it received so tests can assert on the wire; `record: false`
 * keeps only counters, for benchmarks.
 */
import { EventEmitter } from 'node:events';
import { createServer as netCreateServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as tlsCreateServer } from 'node:tls';
import type { Logger } from '../../logger.js';
import { encodeIso8859_5 } from '../charsets.js';
import { DATA_CODING } from '../data-coding.js';
import { classifyStatus, STATUS } from '../command-status.js';
import { PduConnection } from '../connection.js';
import { encodeGsm7, isGsm7 } from '../gsm7.js';
import { decodePayload } from '../mo.js';
import { CMD, HEADER_LENGTH, headerOnly, withCString, type PduHeader } from '../pdu.js';
import { formatReceiptText } from '../receipt.js';
import { normalizeReceiptState } from '../receipt-state.js';
import { parseSmBody } from '../sm-body.js';
import { decodePdu, encodePdu } from '../smpp-lib.js';
import { splitMessage } from '../split.js';
import { encodeUcs2 } from '../ucs2.js';
import { concatUdh, ESM_CLASS_UDHI, parseUdh, type ConcatInfo } from '../udh.js';

export type ReceiptForm = 'text' | 'tlv' | 'both';
export type IdFormat = 'hex' | 'decimal';

export interface SimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** PEM key and certificate: serve SMPP over TLS. */
  tls?: { key: string | Buffer; cert: string | Buffer } | null;
  /** When set, binds must carry this system_id (else ESME_RINVSYSID) ... */
  systemId?: string | null;
  /** ... and this password (else ESME_RINVPASWD). */
  password?: string | null;
  /** Refuse every bind with this command_status (e.g. 0x0D ESME_RBINDFAIL); null accepts. */
  refuseBinds?: number | null;
  /** Keep what was received (default true); false keeps counters only. */
  record?: boolean;
  /** Keep the last N submit_sm (for the control port's GET /submits), even with `record: false`. */
  keepRecent?: number;
  /** submit_sm_resp message ids: hex (upper-case, the default) or decimal. */
  idFormat?: IdFormat;
  /** First message id (default 1,000,000,000). */
  firstId?: number;
  /** Zero-pad submit_sm_resp ids to this width (default 0: no padding). */
  idPad?: number;
  receipts?: boolean;
  /** Delay between the submit_sm_resp and the receipt (default 0). */
  receiptDelayMs?: number;
  /** Send the receipt before the submit_sm_resp (the race a real SMSC can produce). */
  receiptBeforeResponse?: boolean;
  receiptForm?: ReceiptForm;
  /** Id base inside receipts: 'same' as the response (default), or always 'hex' / 'decimal'. */
  receiptIdBase?: 'same' | IdFormat;
  /** Zero-pad receipt ids to this width (default 0). */
  receiptIdPad?: number;
  /** Receipt state by destination number (default DELIVRD), e.g. { '79990000001': 'UNDELIV' }. */
  receiptStates?: Record<string, string>;
  /** Probability (0..1) of answering a submit_sm with throttleStatus. */
  throttleRate?: number;
  throttleStatus?: number;
  /** command_status to answer for chosen destination numbers, e.g. { '79990000000': 0x0B }. */
  rejectDestinations?: Record<string, number>;
  /**
   * command_status to answer the next `times` submit_sm to a destination, then accept as usual,
   * e.g. { '79990000000': { status: 0x08, times: 1 } }: a transient error on the first attempt.
   */
  failNextSubmitsTo?: Record<string, { status: number; times: number }>;
  /** Probability (0..1) of never answering a submit_sm. */
  dropResponseRate?: number;
  /** Never answer the next N submit_sm. */
  dropNextResponses?: number;
  /** Delay every submit_sm_resp by this much. */
  responseDelayMs?: number;
  /** Close the connection when the Nth submit_sm (from now) arrives, without answering it. */
  closeAfterSubmits?: number | null;
  /** Do not answer enquire_link (a dead link, as seen from the ESME). */
  ignoreEnquireLink?: boolean;
  /** Send enquire_link from the SMSC side every so often (0 = never, the default). */
  enquireLinkSeconds?: number;
  /** Redeliver deliver_sm refused with a temporary error, unanswered, or lost with the connection. */
  redeliver?: boolean;
  redeliverDelayMs?: number;
  /** A deliver_sm not answered within this long is redelivered (default 10 s). */
  deliverTimeoutMs?: number;
  /** Random source for fault injection (tests). */
  random?: () => number;
  logger?: Logger;
}

export interface BindRecord {
  command: 'bind_transceiver' | 'bind_transmitter' | 'bind_receiver';
  systemId: string;
  password: string;
  systemType: string;
  interfaceVersion: number;
  status: number;
}

export interface SubmitRecord {
  sequence: number;
  source: string;
  sourceTon: number;
  sourceNpi: number;
  destination: string;
  destTon: number;
  destNpi: number;
  esmClass: number;
  dataCoding: number;
  registeredDelivery: number;
  validityPeriod: string;
  udh: ConcatInfo | null;
  /** User data without UDH, and its text. */
  payload: Buffer;
  text: string;
  /** Assigned id when accepted, else null. */
  messageId: string | null;
  /** What was (or would have been) answered; -1 when dropped or cut by a close. */
  status: number;
  at: number;
}

export interface DeliverRespRecord {
  kind: 'receipt' | 'mo' | 'raw';
  status: number;
  messageId: string | null;
  attempt: number;
}

export interface Received {
  binds: BindRecord[];
  submits: SubmitRecord[];
  enquireLinks: number;
  enquireLinkResps: number;
  unbinds: number;
  deliverResps: DeliverRespRecord[];
  genericNacks: { sequence: number; status: number }[];
  unknown: { commandId: number; sequence: number }[];
}

export interface Counters {
  connections: number;
  binds: number;
  submits: number;
  accepted: number;
  throttled: number;
  rejected: number;
  dropped: number;
  receiptsSent: number;
  moSent: number;
  deliverResps: number;
  redeliveries: number;
  /** Most submit_sm received on one connection and not yet answered at the same time (the ESME's window as seen on the wire). */
  peakUnanswered: number;
}

export interface MoOptions {
  source: string;
  destination: string;
  text: string;
  /** 0x00 GSM-7, 0x03 Latin-1, 0x06 ISO-8859-5, 0x08 UCS-2; default GSM-7 when possible, else UCS-2. */
  dataCoding?: number;
  /** Send as a concatenated message: `parts` (default: the natural split), reference, parts to leave out or send twice. */
  concat?: { parts?: number; ref?: number; dropSeq?: number[]; duplicateSeq?: number[]; sixteenBitRef?: boolean };
  /** Called with each part's first deliver_sm_resp command_status (1-based part number). */
  onResponse?: (seq: number, status: number) => void;
  /** Carry the user data in TLV message_payload instead of short_message (as some SMSCs do for long texts). */
  messagePayload?: boolean;
}

export interface ManualReceipt {
  messageId: string;
  state?: string;
  err?: string;
  form?: ReceiptForm;
  source?: string;
  destination?: string;
  networkErrorCode?: number;
  /** Called with the first deliver_sm_resp command_status. */
  onResponse?: (status: number) => void;
}

/** A recent submit_sm, as the control port's GET /submits shows it. */
export interface RecentSubmit {
  at: string;
  systemId: string;
  source: string;
  destination: string;
  dataCoding: number;
  registeredDelivery: number;
  part: ConcatInfo | null;
  text: string;
  messageId: string | null;
  /** command_status answered; -1 when not answered (dropped, or the connection was cut). */
  status: number;
}

/** A bound (or binding) connection, as the control port's GET /state shows it. */
export interface SessionInfo {
  systemId: string;
  bind: 'transceiver' | 'transmitter' | 'receiver' | null;
  bound: boolean;
  unansweredSubmits: number;
}

interface Delivery {
  kind: 'receipt' | 'mo' | 'raw';
  messageId: string | null;
  /** Builds the PDU for a sequence number. */
  build: (sequence: number) => Buffer;
  attempts: number;
  sentAt: number;
  session: SimSession | null;
  onResponse?: ((status: number) => void) | undefined;
}

interface SimSession {
  conn: PduConnection;
  bound: boolean;
  bind: SessionInfo['bind'];
  canReceive: boolean;
  canSubmit: boolean;
  systemId: string;
  unanswered: number;
  deliveries: Map<number, Delivery>;
}

interface PendingReceipt {
  due: number;
  delivery: Delivery;
}

type ResolvedOptions = Required<Omit<SimulatorOptions, 'tls' | 'logger' | 'random' | 'keepRecent'>>;

const DEFAULTS: ResolvedOptions = {
  port: 0,
  host: '127.0.0.1',
  systemId: null,
  password: null,
  refuseBinds: null,
  record: true,
  idFormat: 'hex',
  firstId: 1_000_000_000,
  idPad: 0,
  receipts: true,
  receiptDelayMs: 0,
  receiptBeforeResponse: false,
  receiptForm: 'both',
  receiptIdBase: 'same',
  receiptIdPad: 0,
  receiptStates: {},
  throttleRate: 0,
  throttleStatus: 0x58,
  rejectDestinations: {},
  failNextSubmitsTo: {},
  dropResponseRate: 0,
  dropNextResponses: 0,
  responseDelayMs: 0,
  closeAfterSubmits: null,
  ignoreEnquireLink: false,
  enquireLinkSeconds: 0,
  redeliver: true,
  redeliverDelayMs: 1000,
  deliverTimeoutMs: 10_000,
};

const STATE_TLV: Record<string, number> = {
  SCHEDULED: 0,
  ENROUTE: 1,
  DELIVRD: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIV: 5,
  ACCEPTD: 6,
  UNKNOWN: 7,
  REJECTD: 8,
  SKIPPED: 9,
};

/** Statuses after which an SMSC tries the deliver_sm again. */
const REDELIVER_ON = new Set([STATUS.ESME_RX_T_APPN, STATUS.ESME_RSYSERR, STATUS.ESME_RMSGQFUL, STATUS.ESME_RTHROTTLED]);

export class Simulator extends EventEmitter {
  readonly options: ResolvedOptions;
  readonly received: Received = emptyReceived();
  readonly counters: Counters = { connections: 0, binds: 0, submits: 0, accepted: 0, throttled: 0, rejected: 0, dropped: 0, receiptsSent: 0, moSent: 0, deliverResps: 0, redeliveries: 0, peakUnanswered: 0 };
  private readonly server: Server;
  private readonly sessions = new Set<SimSession>();
  private readonly random: () => number;
  private readonly log: Logger | undefined;
  private nextId: number;
  private submitsUntilClose: number | null = null;
  /** failNextSubmitsTo, counted down. */
  private failuresLeft = new Map<string, { status: number; times: number }>();
  private pendingReceipts: PendingReceipt[] = [];
  private pendingHead = 0;
  private receiptTimer: NodeJS.Timeout | null = null;
  /** Deliveries waiting for a session that can receive. */
  private undelivered: Delivery[] = [];
  private sweepTimer: NodeJS.Timeout;
  private enquireTimer: NodeJS.Timeout | null = null;
  private nextMoRef: number;
  /** The next submit_sm to answer with a chosen command_status (failNextSubmits). */
  private failNext = { count: 0, status: 0 };
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
    this.configure(options);
    this.nextId = this.options.firstId;
    this.nextMoRef = Math.floor(this.random() * 256);
    const onSocket = (socket: Socket) => this.accept(socket);
    this.server = options.tls ? tlsCreateServer({ key: options.tls.key, cert: options.tls.cert }, onSocket) : netCreateServer(onSocket);
    this.sweepTimer = setInterval(() => this.sweepDeliveries(), 250);
    this.sweepTimer.unref();
  }

  /** Changes options at run time (faults, receipts, credentials...). */
  configure(partial: Partial<SimulatorOptions>): void {
    for (const [key, value] of Object.entries(partial)) {
      if (key === 'tls' || key === 'logger' || key === 'random' || key === 'keepRecent' || value === undefined) continue;
      (this.options as unknown as Record<string, unknown>)[key] = value;
    }
    if (partial.closeAfterSubmits !== undefined) this.submitsUntilClose = partial.closeAfterSubmits;
    if (partial.failNextSubmitsTo !== undefined) {
      this.failuresLeft = new Map(Object.entries(partial.failNextSubmitsTo).map(([destination, f]) => [destination, { ...f }]));
    }
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
    this.failNext = count > 0 ? { count, status } : { count: 0, status: 0 };
  }

  /** What failNextSubmits still has to answer. */
  get pendingFailures(): { count: number; status: number } {
    return { ...this.failNext };
  }

  /** Empties the records (counters too). */
  clear(): void {
    Object.assign(this.received, emptyReceived());
    for (const key of Object.keys(this.counters) as (keyof Counters)[]) this.counters[key] = 0;
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    if (this.receiptTimer) clearTimeout(this.receiptTimer);
    if (this.enquireTimer) clearInterval(this.enquireTimer);
    this.receiptTimer = this.enquireTimer = null;
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
    const dc = mo.dataCoding ?? (isGsm7(mo.text) ? DATA_CODING.gsm7 : DATA_CODING.ucs2);
    const chunks = mo.concat?.parts ? splitEvenly(mo.text, mo.concat.parts) : mo.concat ? splitMessage(mo.text).partTexts : [mo.text];
    const total = chunks.length;
    const ref = mo.concat?.ref ?? (this.nextMoRef = (this.nextMoRef + 1) & 0xff);
    const sourceNumeric = /^\+?\d+$/.test(mo.source);
    for (let i = 0; i < total; i++) {
      const seq = i + 1;
      if (mo.concat?.dropSeq?.includes(seq)) continue;
      const payload = encodeFor(chunks[i] as string, dc);
      let sm = payload;
      if (total > 1) {
        const udh = mo.concat?.sixteenBitRef
          ? Buffer.from([0x06, 0x08, 0x04, (ref >> 8) & 0xff, ref & 0xff, total, seq])
          : concatUdh(ref, total, seq);
        sm = Buffer.concat([udh, payload]);
      }
      const fields: Record<string, unknown> = {
        source_addr_ton: sourceNumeric ? 1 : 5,
        source_addr_npi: sourceNumeric ? 1 : 0,
        source_addr: mo.source.replace(/^\+/, ''),
        dest_addr_ton: /^\+?\d+$/.test(mo.destination) ? 1 : 5,
        dest_addr_npi: /^\+?\d+$/.test(mo.destination) ? 1 : 0,
        destination_addr: mo.destination.replace(/^\+/, ''),
        esm_class: total > 1 ? ESM_CLASS_UDHI : 0,
        data_coding: dc,
        ...(mo.messagePayload ? { message_payload: sm } : { short_message: sm }),
      };
      const times = mo.concat?.duplicateSeq?.includes(seq) ? 2 : 1;
      for (let t = 0; t < times; t++) {
        this.counters.moSent++;
        const onResponse = mo.onResponse && t === 0 ? (status: number) => mo.onResponse!(seq, status) : undefined;
        this.deliver({ kind: 'mo', messageId: null, build: (s) => encodePdu('deliver_sm', s, fields), attempts: 0, sentAt: 0, session: null, onResponse });
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
    this.deliver({ kind: 'raw', messageId: null, build, attempts: 0, sentAt: 0, session: null });
  }

  /** deliver_sm / data_sm sent and not answered yet (on the wire, or waiting for a session that can receive). */
  get unansweredDeliveries(): number {
    let n = this.undelivered.length;
    for (const s of this.sessions) n += s.deliveries.size;
    return n;
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
    this.deliver(delivery);
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
    // What the ESME never answered goes out again on the next session that can receive.
    const lost = [...session.deliveries.values()];
    session.deliveries.clear();
    if (this.options.redeliver) for (const d of lost) this.requeue(d, 0);
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
        return this.onDeliverResp(session, header);
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
        this.onDeliverResp(session, header);
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
    if (session.canReceive) this.flushUndelivered();
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
    let status = 0;
    let drop = false;
    let cut = false;
    if (this.submitsUntilClose !== null && --this.submitsUntilClose <= 0) {
      this.submitsUntilClose = null;
      this.options.closeAfterSubmits = null;
      cut = true;
    } else if (this.failNext.count > 0) {
      this.failNext.count--;
      status = this.failNext.status;
    } else if (o.dropNextResponses > 0) {
      o.dropNextResponses--;
      drop = true;
    } else if (o.dropResponseRate > 0 && this.random() < o.dropResponseRate) {
      drop = true;
    } else if (o.throttleRate > 0 && this.random() < o.throttleRate) {
      status = o.throttleStatus;
    } else {
      const failure = this.failuresLeft.get(fields.destination);
      const reject = o.rejectDestinations[fields.destination];
      if (failure && failure.times > 0) {
        failure.times--;
        status = failure.status;
      } else if (reject !== undefined) {
        status = reject;
      }
    }
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
    const respond = () => {
      if (receipt && o.receiptBeforeResponse) this.deliver(receipt, session);
      session.unanswered--;
      session.conn.write(resp);
      if (receipt && !o.receiptBeforeResponse) this.scheduleReceipt(receipt, session);
    };
    if (o.responseDelayMs > 0) setTimeout(respond, o.responseDelayMs);
    else respond();
  }

  private remember(session: SimSession, rec: SubmitRecord): void {
    this.recent.push({
      at: new Date().toISOString(),
      systemId: session.systemId,
      source: rec.source,
      destination: rec.destination,
      dataCoding: rec.dataCoding,
      registeredDelivery: rec.registeredDelivery,
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
    const fields: Record<string, unknown> = {
      source_addr_ton: 1,
      source_addr_npi: 1,
      source_addr: from,
      dest_addr_ton: /^\d+$/.test(to) ? 1 : 5,
      dest_addr_npi: /^\d+$/.test(to) ? 1 : 0,
      destination_addr: to,
      esm_class: 0x04,
      data_coding: 0,
    };
    if (form !== 'tlv') fields.short_message = Buffer.from(formatReceiptText({ id, stat: state, err }), 'latin1');
    if (form !== 'text') {
      fields.receipted_message_id = id;
      fields.message_state = STATE_TLV[state] ?? 7;
      if (networkErrorCode !== undefined || state !== 'DELIVRD') {
        const code = networkErrorCode ?? Number.parseInt(err, 10);
        fields.network_error_code = Buffer.from([3, (code >> 8) & 0xff, code & 0xff]);
      }
    }
    this.counters.receiptsSent++;
    return { kind: 'receipt', messageId: id, build: (s) => encodePdu('deliver_sm', s, fields), attempts: 0, sentAt: 0, session: null };
  }

  private scheduleReceipt(delivery: Delivery, session: SimSession): void {
    const delay = this.options.receiptDelayMs;
    if (delay <= 0) return this.deliver(delivery, session);
    delivery.session = session;
    this.pendingReceipts.push({ due: performance.now() + delay, delivery });
    if (!this.receiptTimer) this.receiptTimer = setTimeout(() => this.flushReceipts(), delay);
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

  private deliver(delivery: Delivery, preferred?: SimSession): void {
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

  private flushUndelivered(): void {
    const waiting = this.undelivered;
    this.undelivered = [];
    for (const d of waiting) this.deliver(d);
  }

  private requeue(delivery: Delivery, delayMs: number): void {
    this.counters.redeliveries++;
    if (delayMs <= 0) this.deliver(delivery);
    else setTimeout(() => this.deliver(delivery), delayMs).unref();
  }

  private onDeliverResp(session: SimSession, header: PduHeader): void {
    const delivery = session.deliveries.get(header.sequence);
    if (!delivery) return;
    session.deliveries.delete(header.sequence);
    this.counters.deliverResps++;
    if (delivery.onResponse) {
      const answer = delivery.onResponse;
      delivery.onResponse = undefined;
      answer(header.status);
    }
    this.record(() => this.received.deliverResps.push({ kind: delivery.kind, status: header.status, messageId: delivery.messageId, attempt: delivery.attempts }));
    this.emit('deliver_resp', { kind: delivery.kind, status: header.status, messageId: delivery.messageId, attempt: delivery.attempts });
    if (header.status !== 0 && this.options.redeliver && REDELIVER_ON.has(header.status)) this.requeue(delivery, this.options.redeliverDelayMs);
  }

  private sweepDeliveries(): void {
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

function emptyReceived(): Received {
  return { binds: [], submits: [], enquireLinks: 0, enquireLinkResps: 0, unbinds: 0, deliverResps: [], genericNacks: [], unknown: [] };
}

function encodeFor(text: string, dataCoding: number): Buffer {
  switch (dataCoding) {
    case DATA_CODING.gsm7:
      return encodeGsm7(text);
    case DATA_CODING.latin1:
      return Buffer.from(text, 'latin1');
    case DATA_CODING.iso8859_5:
      return encodeIso8859_5(text);
    case DATA_CODING.ucs2:
      return encodeUcs2(text);
    default:
      return Buffer.from(text, 'latin1');
  }
}

/** Splits text into `n` nearly equal chunks of code points (never inside a surrogate pair). */
function splitEvenly(text: string, n: number): string[] {
  const chars = Array.from(text);
  const size = Math.ceil(chars.length / n);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(chars.slice(i * size, (i + 1) * size).join(''));
  return out;
}
