/**
 * Configuration, read once from the environment into one typed object.
 *
 * Every bad value is reported with the variable's name and the expected form, e.g.
 * `SMPP_WINDOW: expected an integer from 1 to 1000, got "abc"`. Secrets (the SMPP and database
 * passwords) live only here and in the connections they open; `describeConfig` masks them.
 */
import { hostname } from 'node:os';
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export type BindMode = 'transceiver' | 'transmitter' | 'receiver';

export interface SmppConfig {
  /** `smpp://host:port` with the credentials removed, safe to log. */
  displayUrl: string;
  host: string;
  port: number;
  tls: boolean;
  /** Verify the SMSC's TLS certificate (SMPP_TLS_INSECURE=1 turns it off, for test SMSCs only). */
  tlsVerify: boolean;
  systemId: string;
  password: string;
  systemType: string;
  bindMode: BindMode;
  /** Outstanding submit_sm at most (SMPP_WINDOW). */
  window: number;
  /** submit_sm PDUs per second across all workers; 0 = unlimited (SMPP_TPS). */
  tps: number;
  enquireLinkSeconds: number;
  /** How long a submit_sm or enquire_link may wait for its response. */
  responseTimeoutMs: number;
  /** Cap of the reconnect back-off. */
  reconnectMaxMs: number;
}

export interface WorkerConfig {
  /** Names this worker in rows it holds and in logs; unique per running worker. */
  workerId: string;
  /** A claimed row whose worker stops renewing it returns to the queue after this long. */
  leaseSeconds: number;
  /** Bounded wait on SIGTERM for the window to drain and results to be written. */
  shutdownTimeoutMs: number;
  /** Finished outbox rows are purged this many days after they finished. */
  retentionDays: number;
  inboxRetentionDays: number;
  /** Receipts that never matched a message are kept this long for inspection. */
  unmatchedReceiptRetentionDays: number;
}

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  pretty: boolean;
}

export interface Config {
  databaseUrl: string | undefined;
  smpp: SmppConfig | undefined;
  worker: WorkerConfig;
  log: LogConfig;
  /** Port of the Prometheus /metrics, /healthz and /readyz server; undefined = off. */
  metricsPort: number | undefined;
  /** Settings `sms-outbox migrate` writes into sms_settings when given. */
  sqlSettings: {
    defaultSender: string | undefined;
    defaultValidity: string | undefined;
    maxSegments: number | undefined;
  };
}

type Env = Record<string, string | undefined>;

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

function intVar(min: number, max: number) {
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\s*-?\d+\s*$/, { message: `expected an integer from ${min} to ${max}` })
      .transform((s) => Number(s))
      .refine((n) => n >= min && n <= max, { message: `expected an integer from ${min} to ${max}` })
      .optional(),
  );
}

function numberVar(min: number, max: number, what: string) {
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\s*-?\d+(\.\d+)?\s*$/, { message: `expected ${what}` })
      .transform((s) => Number(s))
      .refine((n) => n >= min && n <= max, { message: `expected ${what}` })
      .optional(),
  );
}

const boolVar = z.preprocess(
  blankToUndefined,
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no'], { message: 'expected 1/0, true/false or yes/no' })
    .transform((v) => v === '1' || v === 'true' || v === 'yes')
    .optional(),
);

const envSchema = z.object({
  DATABASE_URL: z.preprocess(
    blankToUndefined,
    z
      .string()
      .refine((s) => /^postgres(ql)?:\/\//.test(s), { message: 'expected postgres://user:password@host:port/database' })
      .optional(),
  ),
  SMPP_URL: z.preprocess(blankToUndefined, z.string().optional()),
  SMPP_PASSWORD: z.preprocess(blankToUndefined, z.string().optional()),
  SMPP_SYSTEM_TYPE: z.string().max(12, { message: 'expected at most 12 characters (SMPP system_type)' }).optional(),
  SMPP_BIND_MODE: z.preprocess(
    blankToUndefined,
    z.enum(['transceiver', 'transmitter', 'receiver'], { message: 'expected transceiver, transmitter or receiver' }).optional(),
  ),
  SMPP_WINDOW: intVar(1, 1000),
  SMPP_TPS: numberVar(0, 100000, 'a number of submit_sm per second, 0 (unlimited) or more'),
  SMPP_ENQUIRE_LINK_S: intVar(1, 840),
  SMPP_RESPONSE_TIMEOUT_S: numberVar(0.1, 300, 'seconds from 0.1 to 300'),
  SMPP_RECONNECT_MAX_S: numberVar(1, 3600, 'seconds from 1 to 3600'),
  SMPP_TLS_INSECURE: boolVar,
  SMS_DEFAULT_SENDER: z.preprocess(blankToUndefined, z.string().optional()),
  SMS_DEFAULT_VALIDITY: z.preprocess(blankToUndefined, z.string().optional()),
  SMS_MAX_SEGMENTS: intVar(1, 255),
  SMS_WORKER_ID: z.preprocess(blankToUndefined, z.string().max(100, { message: 'expected at most 100 characters' }).optional()),
  SMS_LEASE_S: intVar(2, 3600),
  SMS_SHUTDOWN_TIMEOUT_S: numberVar(1, 600, 'seconds from 1 to 600'),
  SMS_RETENTION_DAYS: intVar(1, 3650),
  SMS_INBOX_RETENTION_DAYS: intVar(1, 3650),
  SMS_UNMATCHED_RECEIPT_RETENTION_DAYS: intVar(1, 3650),
  LOG_LEVEL: z.preprocess(
    (v) => (typeof blankToUndefined(v) === 'string' ? String(v).toLowerCase() : undefined),
    z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'expected fatal, error, warn, info, debug, trace or silent',
      })
      .optional(),
  ),
  LOG_PRETTY: boolVar,
  METRICS_PORT: intVar(1, 65535),
});

/** Parses SMPP_URL (and SMPP_PASSWORD) into the session settings, or explains what is wrong. */
export function parseSmppUrl(raw: string, passwordOverride: string | undefined): Omit<SmppConfig, 'systemType' | 'bindMode' | 'window' | 'tps' | 'enquireLinkSeconds' | 'responseTimeoutMs' | 'reconnectMaxMs' | 'tlsVerify'> {
  const form = 'expected smpp://system_id:password@host:port (or smpps:// for TLS)';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${form}, got something that is not a URL`);
  }
  if (url.protocol !== 'smpp:' && url.protocol !== 'smpps:') {
    throw new Error(`${form}, got scheme "${url.protocol.replace(/:$/, '')}"`);
  }
  if (!url.hostname) throw new Error(`${form}, the host is missing`);
  const systemId = decodeURIComponent(url.username);
  if (!systemId) throw new Error(`${form}, the system_id (user name) is missing`);
  if (systemId.length > 15) throw new Error('the system_id may have at most 15 characters (SMPP 3.4)');
  const password = passwordOverride ?? decodeURIComponent(url.password);
  const port = url.port === '' ? 2775 : Number(url.port);
  const tls = url.protocol === 'smpps:';
  return {
    displayUrl: `${url.protocol}//${systemId}@${url.hostname}:${port}`,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    tls,
    systemId,
    password,
  };
}

function formatIssue(name: string, message: string, value: string | undefined): string {
  const secret = /PASSWORD|DATABASE_URL|SMPP_URL/.test(name);
  const shown = value === undefined ? '' : secret ? ' (value hidden)' : `, got ${JSON.stringify(value)}`;
  return `${name}: ${message}${shown}`;
}

/** Reads the whole configuration. Throws ConfigError listing every bad variable at once. */
export function loadConfig(env: Env = process.env): Config {
  const parsed = envSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      problems.push(formatIssue(name, issue.message, env[name]));
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;

  let smpp: SmppConfig | undefined;
  if (e.SMPP_URL !== undefined) {
    try {
      const base = parseSmppUrl(e.SMPP_URL, e.SMPP_PASSWORD);
      smpp = {
        ...base,
        tlsVerify: !(e.SMPP_TLS_INSECURE ?? false),
        systemType: e.SMPP_SYSTEM_TYPE ?? '',
        bindMode: e.SMPP_BIND_MODE ?? 'transceiver',
        window: e.SMPP_WINDOW ?? 10,
        tps: e.SMPP_TPS ?? 0,
        enquireLinkSeconds: e.SMPP_ENQUIRE_LINK_S ?? 30,
        responseTimeoutMs: Math.round((e.SMPP_RESPONSE_TIMEOUT_S ?? 10) * 1000),
        reconnectMaxMs: Math.round((e.SMPP_RECONNECT_MAX_S ?? 60) * 1000),
      };
    } catch (err) {
      problems.push(formatIssue('SMPP_URL', (err as Error).message, e.SMPP_URL));
    }
  }
  if (problems.length) throw new ConfigError(problems);

  return {
    databaseUrl: e.DATABASE_URL,
    smpp,
    worker: {
      workerId: e.SMS_WORKER_ID ?? `${hostname()}-${process.pid}`,
      leaseSeconds: e.SMS_LEASE_S ?? 15,
      shutdownTimeoutMs: Math.round((e.SMS_SHUTDOWN_TIMEOUT_S ?? 20) * 1000),
      retentionDays: e.SMS_RETENTION_DAYS ?? 30,
      inboxRetentionDays: e.SMS_INBOX_RETENTION_DAYS ?? 90,
      unmatchedReceiptRetentionDays: e.SMS_UNMATCHED_RECEIPT_RETENTION_DAYS ?? 7,
    },
    log: {
      level: e.LOG_LEVEL ?? 'info',
      pretty: e.LOG_PRETTY ?? false,
    },
    metricsPort: e.METRICS_PORT,
    sqlSettings: {
      defaultSender: e.SMS_DEFAULT_SENDER,
      defaultValidity: e.SMS_DEFAULT_VALIDITY,
      maxSegments: e.SMS_MAX_SEGMENTS,
    },
  };
}

/** Throws a ConfigError naming `name` unless the value is present. */
export function required<T>(value: T | undefined, name: string, form: string): T {
  if (value === undefined) throw new ConfigError([`${name}: required, expected ${form}`]);
  return value;
}

/** A connection string with its password replaced, for logs and messages. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
