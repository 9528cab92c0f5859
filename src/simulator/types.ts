/** The simulator's options, what it records, and the shapes its parts share. */
import type { Logger } from '../logger.js';
import type { PduConnection } from '../smpp/connection.js';
import type { ConcatInfo } from '../smpp/udh.js';

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
  /** Answer ESME_RINVEXPIRY to every submit_sm that carries a validity_period (an SMSC without support for it). */
  refuseValidityPeriod?: boolean;
  /** Probability (0..1) of never answering a submit_sm. */
  dropResponseRate?: number;
  /** Never answer the next N submit_sm. */
  dropNextResponses?: number;
  /** Delay every submit_sm_resp by this much. */
  responseDelayMs?: number;
  /**
   * Hold every submit_sm_resp (and the receipt behind it) until releaseResponses(): an answer as
   * late as a test needs, given on its event rather than after a fixed delay.
   */
  holdResponses?: boolean;
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
  /**
   * Auto-responders: a number (digits) -> the text it answers every accepted submit_sm with, as
   * an MO from that number to the submit's source, once the ESME answered the message's receipt
   * (50 ms after the response without receipts), e.g. { '79990000001': 'I am away' }.
   */
  autoReplies?: Record<string, string>;
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
  /** deliver_sm_resp taken as lost (MoOptions.loseAcks): the SMSC acts as if it never came. */
  acksLost: number;
  /** MO sent by the auto-responders (autoReplies). */
  autoReplies: number;
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
  /**
   * Take the first N deliver_sm_resp of each part as lost (the ESME's answer never reached the
   * SMSC): the part stays unanswered and is sent again after a reconnect, or after
   * deliverTimeoutMs, as an SMSC does.
   */
  loseAcks?: number;
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
  /** As received ('' when absent). */
  validityPeriod: string;
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

/** A deliver_sm (receipt, MO part) or raw request the simulator sends, tracked until answered. */
export interface Delivery {
  kind: 'receipt' | 'mo' | 'raw';
  messageId: string | null;
  /** Builds the PDU for a sequence number. */
  build: (sequence: number) => Buffer;
  attempts: number;
  sentAt: number;
  session: SimSession | null;
  onResponse?: ((status: number) => void) | undefined;
  /** Answers still to take as lost (MoOptions.loseAcks). */
  loseAcks?: number;
}

/** One ESME connection. */
export interface SimSession {
  conn: PduConnection;
  bound: boolean;
  bind: SessionInfo['bind'];
  canReceive: boolean;
  canSubmit: boolean;
  systemId: string;
  unanswered: number;
  deliveries: Map<number, Delivery>;
}

export interface PendingReceipt {
  due: number;
  delivery: Delivery;
}

export type ResolvedOptions = Required<Omit<SimulatorOptions, 'tls' | 'logger' | 'random' | 'keepRecent'>>;

export const DEFAULTS: ResolvedOptions = {
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
  refuseValidityPeriod: false,
  dropResponseRate: 0,
  dropNextResponses: 0,
  responseDelayMs: 0,
  holdResponses: false,
  closeAfterSubmits: null,
  ignoreEnquireLink: false,
  enquireLinkSeconds: 0,
  redeliver: true,
  redeliverDelayMs: 1000,
  deliverTimeoutMs: 10_000,
  autoReplies: {},
};

export function emptyReceived(): Received {
  return { binds: [], submits: [], enquireLinks: 0, enquireLinkResps: 0, unbinds: 0, deliverResps: [], genericNacks: [], unknown: [] };
}
