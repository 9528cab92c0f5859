/**
 * What an SmppSession is given: the SMSC, the bind, and tuning. Defined here, by the protocol;
 * the worker maps its configuration (src/config.ts) onto it.
 */
import type { RateLimiter } from './rate-limiter.js';

export type BindMode = 'transceiver' | 'transmitter' | 'receiver';

/** The SMSC and the bind: what SMPP_URL and the SMPP_* variables say (src/config.ts reads them). */
export interface SmscSettings {
  host: string;
  port: number;
  /** SMPP over TLS (smpps://). */
  tls: boolean;
  /** Verify the SMSC's TLS certificate (off for test SMSCs only). */
  tlsVerify: boolean;
  systemId: string;
  password: string;
  systemType: string;
  bindMode: BindMode;
  /** Outstanding submit_sm at most. */
  window: number;
  enquireLinkSeconds: number;
  /** How long a submit_sm or enquire_link may wait for its response. */
  responseTimeoutMs: number;
  /** Cap of the reconnect back-off. */
  reconnectMaxMs: number;
}

export interface SessionOptions extends SmscSettings {
  /** Submit rate limiter; default an in-process token bucket from `tps`. */
  rateLimiter?: RateLimiter;
  /** submit_sm PDUs per second; 0 or undefined = unlimited (ignored when rateLimiter is given). */
  tps?: number;
  /** First reconnect delay (default 250 ms). */
  reconnectMinMs?: number;
  /** TCP/TLS connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** Delay after a bind refused for credentials or a TLS certificate rejected (default reconnectMaxMs). */
  slowRetryMs?: number;
  /** A bind that held this long resets the reconnect back-off (default 30 s). */
  stableBindMs?: number;
  /** First pause after a throttling response (default 200 ms); it doubles while throttling persists, and halves again for each window slot regained. */
  throttleBackoffMinMs?: number;
  /** Longest throttling pause (default 10 s). */
  throttleBackoffMaxMs?: number;
  /** A part throttled for this long makes the message `retry` (default 60 s). */
  throttleGiveUpMs?: number;
  /** stop(): how long to wait for outstanding responses and inbound handlers (default 10 s). */
  drainTimeoutMs?: number;
  /** Most deliver_sm / data_sm held unanswered before the session stops reading (default 1000). */
  inboundWindow?: number;
  /** Extra CA certificates to trust for TLS (PEM), besides the system store. */
  tlsCa?: string | Buffer | Array<string | Buffer>;
  /** TLS server name to verify (default the host, unless it is an IP address). */
  tlsServername?: string;
  /** service_type of submit_sm (default empty: the SMSC default). */
  serviceType?: string;
  /** address_range of the bind (default empty). */
  addressRange?: string;
  /** First UDH reference (default random); it then rotates 0..255. */
  initialReference?: number;
  /** Random source for jitter (tests). */
  random?: () => number;
  /** Send validity_period from OutboundMessage.validUntil (SMPP_VALIDITY_PERIOD, default true). */
  validityPeriod?: boolean;
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

/** The options with every default filled in (what the session's parts read). */
export type ResolvedSessionOptions = Required<
  Omit<SessionOptions, 'rateLimiter' | 'tps' | 'tlsCa' | 'tlsServername' | 'initialReference' | 'random' | 'slowRetryMs' | 'validityPeriod'>
> & { slowRetryMs: number; tlsCa: SessionOptions['tlsCa']; tlsServername: string | undefined };

/** Checks the windows and fills in the defaults; throws RangeError for a window that is not a positive integer. */
export function resolveSessionOptions(options: SessionOptions): ResolvedSessionOptions {
  if (!Number.isInteger(options.window) || options.window < 1) throw new RangeError('window must be an integer >= 1');
  if (options.inboundWindow !== undefined && (!Number.isInteger(options.inboundWindow) || options.inboundWindow < 1)) {
    throw new RangeError('inboundWindow must be an integer >= 1');
  }
  return {
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
    tlsCa: options.tlsCa,
    tlsServername: options.tlsServername,
  };
}
