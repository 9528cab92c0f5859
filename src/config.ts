/**
 * Configuration, read once from the environment into one typed object.
 *
 * Every bad value is reported with the variable's name and the expected form, e.g.
 * `SMPP_WINDOW: expected an integer from 1 to 1000, got "abc"`, all bad variables at once
 * (a ConfigError, exit 78: src/errors.ts). Secrets (the SMPP and database passwords) live only
 * here and in the connections they open: a message about SMPP_URL or DATABASE_URL shows the URL
 * with its password masked (src/secrets.ts).
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { isValidRolePrefix, ROLE_PREFIX_FORM } from './db/roles.js';
import { ConfigError } from './errors.js';
import type { LogConfig } from './logger.js';
import type { SmscSettings } from './smpp/session-options.js';
import { isKeywordConnectionString, maskSecretUrl } from './secrets.js';

/** The SMSC settings (SMPP_URL and the SMPP_* variables), in the session's own terms. */
export interface SmppConfig extends SmscSettings {
  /** `smpp://system_id@host:port` with the password removed, safe to log. */
  displayUrl: string;
  /** SMPP sessions this worker opens (SMPP_BINDS, default 1), each with its own SMPP_WINDOW. */
  binds: number;
  /** deliver_sm / data_sm held unanswered at most before the session stops reading (SMPP_INBOUND_WINDOW). */
  inboundWindow: number;
  /** submit_sm PDUs per second across all workers; 0 = unlimited (SMPP_TPS). */
  tps: number;
  /** Send submit_sm's validity_period from expires_at (SMPP_VALIDITY_PERIOD, default on). */
  validityPeriod: boolean;
}

export interface WorkerConfig {
  /** Names this worker in rows it holds and in logs; unique per running worker. */
  workerId: string;
  /**
   * Messages submitted whose outcome is not yet committed, at most (SMS_MAX_UNCOMMITTED): those
   * awaiting their submit_sm_resp and those accepted but not yet written. The most one crash of
   * this worker can send twice. Default twice SMPP_WINDOW x SMPP_BINDS; never less than the windows.
   */
  maxUncommitted: number;
  /** A claimed row whose worker stops renewing it returns to the queue after this long. */
  leaseSeconds: number;
  /** Bounded wait on SIGTERM for the window to drain and results to be written. */
  shutdownTimeoutMs: number;
  /** Finished outbox rows are purged this many days after they finished. */
  retentionDays: number;
  inboxRetentionDays: number;
  /** Receipts that never matched a message are kept this long for inspection. */
  unmatchedReceiptRetentionDays: number;
  /** A reply handler call is cancelled after this long (SMS_HANDLER_TIMEOUT_S; at most twice this, when it started late in its statement). */
  handlerTimeoutMs: number;
}

export interface Config {
  databaseUrl: string | undefined;
  smpp: SmppConfig | undefined;
  worker: WorkerConfig;
  log: LogConfig;
  /** Port of the Prometheus /metrics, /healthz and /readyz server; undefined = off, 0 = any free port. */
  metricsPort: number | undefined;
  /** Address that server listens on (METRICS_HOST, default all IPv4 interfaces). */
  metricsHost: string;
  /** SMS_ROLE_PREFIX: the database's roles are <prefix>sender/reader/worker (`migrate`); undefined: as installed, or sms_. */
  rolePrefix: string | undefined;
  /** Settings `sms-outbox migrate` writes into sms_settings when given. */
  sqlSettings: {
    defaultSender: string | undefined;
    defaultValidity: string | undefined;
    maxSegments: number | undefined;
  };
}

type Env = Record<string, string | undefined>;

/** MTS Exolve drops a session that sent no enquire_link for 15 minutes; keep a minute of margin. */
export const MAX_ENQUIRE_LINK_S = 840;

const DATABASE_FORM = 'postgres://user:password@host:port/database';
const SMPP_FORM = 'smpp://system_id:password@host:port (or smpps:// for TLS)';

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

function intVar(min: number, max: number, what = `an integer from ${min} to ${max}`) {
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\s*-?\d+\s*$/, { message: `expected ${what}` })
      .transform((s) => Number(s))
      .refine((n) => n >= min && n <= max, { message: `expected ${what}` })
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
      .refine((s) => !isKeywordConnectionString(s), {
        message: `expected ${DATABASE_FORM}; this is the keyword=value form (host=... password=...), which is not read: write it as a URL`,
        abort: true,
      })
      .refine((s) => /^postgres(ql)?:\/\//.test(s), { message: `expected ${DATABASE_FORM}`, abort: true })
      .refine(
        (s) => {
          try {
            new URL(s);
            return true;
          } catch {
            return false;
          }
        },
        { message: `expected ${DATABASE_FORM}; this is not a valid URL (percent-encode special characters in the password, e.g. @ as %40)` },
      )
      .optional(),
  ),
  SMPP_URL: z.preprocess(blankToUndefined, z.string().optional()),
  SMPP_PASSWORD: z.preprocess(blankToUndefined, z.string().optional()),
  SMPP_SYSTEM_TYPE: z.string().max(12, { message: 'expected at most 12 characters (SMPP system_type)' }).optional(),
  SMPP_BIND_MODE: z.preprocess(
    (v) => (typeof blankToUndefined(v) === 'string' ? String(v).trim().toLowerCase() : undefined),
    z
      .enum(['transceiver', 'transmitter', 'receiver'], { message: 'expected transceiver (the default) or transmitter' })
      .refine((m) => m !== 'receiver', {
        message: 'expected transceiver (the default) or transmitter; a receiver session cannot submit, and this worker sends',
      })
      .optional(),
  ),
  SMPP_WINDOW: intVar(1, 1000, 'an integer from 1 to 1000 (outstanding submit_sm)'),
  SMPP_BINDS: intVar(1, 32, 'an integer from 1 to 32 (SMPP sessions per worker)'),
  SMPP_INBOUND_WINDOW: intVar(1, 100_000, 'an integer from 1 to 100000 (deliver_sm held unanswered)'),
  SMPP_TPS: numberVar(0, 100000, 'a number of submit_sm per second, 0 (unlimited) or more'),
  SMPP_ENQUIRE_LINK_S: intVar(
    1,
    MAX_ENQUIRE_LINK_S,
    `whole seconds from 1 to ${MAX_ENQUIRE_LINK_S} (MTS Exolve drops a session without enquire_link for 15 minutes)`,
  ),
  SMPP_RESPONSE_TIMEOUT_S: numberVar(0.1, 300, 'seconds from 0.1 to 300'),
  SMPP_RECONNECT_MAX_S: numberVar(1, 3600, 'seconds from 1 to 3600'),
  SMPP_TLS_INSECURE: boolVar,
  SMPP_VALIDITY_PERIOD: z.preprocess(
    (v) => (typeof blankToUndefined(v) === 'string' ? String(v).trim().toLowerCase() : undefined),
    z
      .enum(['on', 'off', '1', '0', 'true', 'false', 'yes', 'no'], { message: 'expected on (the default) or off' })
      .transform((v) => v === 'on' || v === '1' || v === 'true' || v === 'yes')
      .optional(),
  ),
  SMS_DEFAULT_SENDER: z.preprocess(blankToUndefined, z.string().optional()),
  SMS_DEFAULT_VALIDITY: z.preprocess(blankToUndefined, z.string().optional()),
  SMS_MAX_SEGMENTS: intVar(1, 255),
  SMS_ROLE_PREFIX: z.preprocess(
    (v) => (typeof blankToUndefined(v) === 'string' ? String(v).trim() : undefined),
    z.string().refine(isValidRolePrefix, { message: `expected ${ROLE_PREFIX_FORM}` }).optional(),
  ),
  SMS_WORKER_ID: z.preprocess(blankToUndefined, z.string().max(100, { message: 'expected at most 100 characters' }).optional()),
  SMS_MAX_UNCOMMITTED: intVar(1, 100_000, 'an integer from 1 to 100000 (messages submitted whose outcome is not yet committed)'),
  SMS_LEASE_S: intVar(2, 3600, 'whole seconds from 2 to 3600'),
  SMS_SHUTDOWN_TIMEOUT_S: numberVar(1, 600, 'seconds from 1 to 600'),
  SMS_RETENTION_DAYS: intVar(1, 3650, 'whole days from 1 to 3650'),
  SMS_INBOX_RETENTION_DAYS: intVar(1, 3650, 'whole days from 1 to 3650'),
  SMS_UNMATCHED_RECEIPT_RETENTION_DAYS: intVar(1, 3650, 'whole days from 1 to 3650'),
  SMS_HANDLER_TIMEOUT_S: numberVar(0.05, 300, 'seconds from 0.05 to 300'),
  LOG_LEVEL: z.preprocess(
    (v) => (typeof blankToUndefined(v) === 'string' ? String(v).trim().toLowerCase() : undefined),
    z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'expected fatal, error, warn, info, debug, trace or silent',
      })
      .optional(),
  ),
  LOG_PRETTY: boolVar,
  METRICS_PORT: intVar(0, 65535, 'a TCP port from 1 to 65535 (0 picks a free one; unset turns the server off)'),
  METRICS_HOST: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9.:_-]+$/, { message: 'expected an address to listen on, e.g. 0.0.0.0, 127.0.0.1 or ::' })
      .optional(),
  ),
});

/** Every environment variable the configuration reads. */
export const KNOWN_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** Variables whose values are (or contain) secrets: never printed as they are. */
const SECRET_VARIABLES = new Set(['DATABASE_URL', 'SMPP_URL', 'SMPP_PASSWORD']);

/** Parses SMPP_URL (and SMPP_PASSWORD) into the session settings, or explains what is wrong. */
export function parseSmppUrl(
  raw: string,
  passwordOverride: string | undefined,
): Omit<SmppConfig, 'systemType' | 'bindMode' | 'window' | 'binds' | 'inboundWindow' | 'tps' | 'enquireLinkSeconds' | 'responseTimeoutMs' | 'reconnectMaxMs' | 'tlsVerify' | 'validityPeriod'> {
  const form = `expected ${SMPP_FORM}`;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(
      `${form}; this is not a valid URL (percent-encode special characters in the password, e.g. # as %23 and @ as %40, or put the password in SMPP_PASSWORD)`,
    );
  }
  if (url.protocol !== 'smpp:' && url.protocol !== 'smpps:') {
    throw new Error(`${form}; the scheme is "${url.protocol.replace(/:$/, '')}"`);
  }
  if (!url.hostname) throw new Error(`${form}; the host is missing`);
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
    throw new Error(`${form}; unexpected "${url.pathname}${url.search}${url.hash}" after host:port (a # in the password must be written %23)`);
  }
  let systemId: string;
  let urlPassword: string;
  try {
    systemId = decodeURIComponent(url.username);
    urlPassword = decodeURIComponent(url.password);
  } catch {
    throw new Error(`${form}; the system_id or password has a malformed %-escape`);
  }
  if (!systemId) throw new Error(`${form}; the system_id (user name) is missing`);
  if (systemId.length > 15) throw new Error(`${form}; the system_id may have at most 15 characters (SMPP 3.4)`);
  const password = passwordOverride ?? urlPassword;
  if (!password) throw new Error(`${form}; no password: put it in the URL or in SMPP_PASSWORD`);
  const port = url.port === '' ? 2775 : Number(url.port);
  if (!(port >= 1 && port <= 65535)) throw new Error(`${form}; the port must be from 1 to 65535`);
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
  if (value === undefined) return `${name}: ${message}`;
  if (name === 'SMPP_PASSWORD') return `${name}: ${message} (value hidden)`;
  const shown = SECRET_VARIABLES.has(name) ? maskSecretUrl(value) : value;
  return `${name}: ${message}, got ${JSON.stringify(shown)}`;
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
  }
  const e = parsed.success ? parsed.data : undefined;

  const window = e?.SMPP_WINDOW ?? 10;
  const binds = e?.SMPP_BINDS ?? 1;
  let smpp: SmppConfig | undefined;
  const smppUrl = blankToUndefined(env.SMPP_URL) as string | undefined;
  if (smppUrl !== undefined) {
    try {
      const base = parseSmppUrl(smppUrl, blankToUndefined(env.SMPP_PASSWORD) as string | undefined);
      if (e) {
        smpp = {
          ...base,
          tlsVerify: !(e.SMPP_TLS_INSECURE ?? false),
          systemType: e.SMPP_SYSTEM_TYPE ?? '',
          bindMode: e.SMPP_BIND_MODE ?? 'transceiver',
          window,
          binds,
          inboundWindow: e.SMPP_INBOUND_WINDOW ?? 1000,
          tps: e.SMPP_TPS ?? 0,
          enquireLinkSeconds: e.SMPP_ENQUIRE_LINK_S ?? 30,
          responseTimeoutMs: Math.round((e.SMPP_RESPONSE_TIMEOUT_S ?? 10) * 1000),
          reconnectMaxMs: Math.round((e.SMPP_RECONNECT_MAX_S ?? 60) * 1000),
          validityPeriod: e.SMPP_VALIDITY_PERIOD ?? true,
        };
      }
    } catch (err) {
      problems.push(formatIssue('SMPP_URL', (err as Error).message, smppUrl));
    }
  }
  // Every bind's window: the submit_sm awaiting their response are uncommitted too.
  const windows = window * binds;
  if (e?.SMS_MAX_UNCOMMITTED !== undefined && e.SMS_MAX_UNCOMMITTED < windows) {
    const named = binds > 1 ? `SMPP_WINDOW x SMPP_BINDS (${windows})` : `SMPP_WINDOW (${windows})`;
    problems.push(
      formatIssue(
        'SMS_MAX_UNCOMMITTED',
        `expected at least ${named}: the submit_sm awaiting their response count too, so a smaller bound would shrink the window`,
        env.SMS_MAX_UNCOMMITTED,
      ),
    );
  }
  if (problems.length || !e) throw new ConfigError(problems);

  return {
    databaseUrl: e.DATABASE_URL,
    smpp,
    worker: {
      workerId: e.SMS_WORKER_ID ?? `${hostname()}-${process.pid}`,
      maxUncommitted: e.SMS_MAX_UNCOMMITTED ?? 2 * windows,
      leaseSeconds: e.SMS_LEASE_S ?? 15,
      shutdownTimeoutMs: Math.round((e.SMS_SHUTDOWN_TIMEOUT_S ?? 20) * 1000),
      retentionDays: e.SMS_RETENTION_DAYS ?? 30,
      inboxRetentionDays: e.SMS_INBOX_RETENTION_DAYS ?? 90,
      unmatchedReceiptRetentionDays: e.SMS_UNMATCHED_RECEIPT_RETENTION_DAYS ?? 7,
      handlerTimeoutMs: Math.round((e.SMS_HANDLER_TIMEOUT_S ?? 2) * 1000),
    },
    log: {
      level: e.LOG_LEVEL ?? 'info',
      pretty: e.LOG_PRETTY ?? false,
    },
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST ?? '0.0.0.0',
    rolePrefix: e.SMS_ROLE_PREFIX,
    sqlSettings: {
      defaultSender: e.SMS_DEFAULT_SENDER,
      defaultValidity: e.SMS_DEFAULT_VALIDITY,
      maxSegments: e.SMS_MAX_SEGMENTS,
    },
  };
}

/** Variables with these prefixes belong to the test runner and tools (SMS_TEST_WORKER_HOOKS: src/cli/worker.ts). */
const IGNORED_PREFIXES = ['SMS_TEST_'];

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * Things that are allowed but probably not what the operator meant, one sentence each:
 * variables that look like ours but are not read (typos), and settings with a known catch.
 */
export function configWarnings(env: Env = process.env, config?: Config): string[] {
  const warnings: string[] = [];
  const known = new Set(KNOWN_VARIABLES);
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || IGNORED_PREFIXES.some((p) => name.startsWith(p))) continue;
    const closest = KNOWN_VARIABLES.map((k) => ({ k, d: editDistance(name, k) })).sort((x, y) => x.d - y.d)[0];
    const ours = /^(SMPP|SMS)_/.test(name);
    if (closest && closest.d <= 2) {
      warnings.push(`${name} is set but not read by sms-outbox; did you mean ${closest.k}?`);
    } else if (ours) {
      warnings.push(`${name} is set but not read by sms-outbox (docs/reference/configuration.md lists every variable)`);
    }
  }
  if (config?.smpp?.bindMode === 'transmitter') {
    warnings.push(
      'SMPP_BIND_MODE=transmitter: delivery receipts and incoming SMS never arrive on a transmitter session, so messages stay `sent` (MTS Exolve offers transceiver)',
    );
  }
  if (config?.smpp && !config.smpp.tlsVerify) {
    warnings.push('SMPP_TLS_INSECURE is on: the SMSC certificate is not verified (use it only with a test SMSC)');
  }
  return warnings;
}

/** Throws a ConfigError naming `name` unless the value is present. */
export function required<T>(value: T | undefined, name: string, form: string): T {
  if (value === undefined) throw new ConfigError([`${name}: required, expected ${form}`]);
  return value;
}
