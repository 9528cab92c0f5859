/** `sms-outbox status`: prints sms_stats for DATABASE_URL, readably or as JSON. */
import type pg from 'pg';
import { loadConfig, required } from '../config.js';
import { connectOrExplain, describeDatabase } from '../db/connect.js';
import { createDb, createPool } from '../db/pool.js';
import { MESSAGE_STATUSES } from '../db/schema.js';
import { listWorkers, type WorkerStateRow } from '../db/workers.js';
import { EXIT_CONFIG, StartupError } from '../errors.js';
import { maskSecretUrl } from '../secrets.js';
import { visibleRoleNames } from '../db/roles.js';
import { parseCommandArgs } from './args.js';

const HELP = `Usage: sms-outbox status [--json]

Prints the sms_stats view of DATABASE_URL: messages per status, the age of the oldest due
queued message, how many were sent (accepted by the SMSC) and delivered in the last minute, and
how many sent ones wait for a receipt past expires_at plus sms_settings.receipt_grace (overdue);
then each worker seen in the last day (sms_worker_state): its SMPP bind state and last heartbeat.

  --json   one JSON object instead of the table
`;

/** sms_stats has a column for each status. */
const STATUSES = MESSAGE_STATUSES;

export type Stats = Record<(typeof STATUSES)[number], number> & {
  /** Seconds since the oldest due queued message became due; null when none is waiting. */
  oldest_queued_age_seconds: number | null;
  sent_last_minute: number;
  delivered_last_minute: number;
  /** Sent messages still without a receipt past expires_at plus sms_settings.receipt_grace. */
  receipts_overdue: number;
};

/** Reads sms_stats (one row) with counts as numbers and the age in seconds. */
export async function readStats(client: pg.ClientBase): Promise<Stats> {
  const r = await client.query<Record<string, string | null>>(
    `select ${STATUSES.join(', ')}, extract(epoch from oldest_queued_age)::float8 as oldest_queued_age_seconds,
            sent_last_minute, delivered_last_minute, receipts_overdue
       from public.sms_stats`,
  );
  const row = r.rows[0];
  if (!row) throw new Error('sms_stats returned no row');
  const out: Record<string, number | null> = {};
  for (const [key, value] of Object.entries(row)) out[key] = value === null ? null : Number(value);
  return out as Stats;
}

function formatAge(seconds: number | null): string {
  if (seconds === null) return 'none due';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} days ${Math.round((seconds % 86400) / 3600)} h`;
}

/** One line per worker: "host-1  bound for 12 min, heartbeat 3 s ago  (smpp://id@host:2775)". */
export function formatWorkers(workers: WorkerStateRow[] | null): string {
  if (workers === null) return '  workers: not readable by this role (needs the reader role)\n';
  if (!workers.length) return '  workers: none seen in the last day\n';
  const width = Math.max(...workers.map((w) => w.workerId.length));
  const lines = ['  workers:'];
  for (const w of workers) {
    const stateAge = formatAge(Math.max(0, (Date.now() - w.bindStateSince.getTime()) / 1000));
    const beat = `heartbeat ${formatAge(w.heartbeatAgeSeconds)} ago`;
    let what: string;
    if (w.stoppedAt) what = `stopped ${formatAge((Date.now() - w.stoppedAt.getTime()) / 1000)} ago`;
    else if (w.gone) what = `GONE: no heartbeat for ${formatAge(w.heartbeatAgeSeconds)} (last state ${w.bindState})`;
    else what = `${w.bindState} for ${stateAge}, ${beat}`;
    const problem = w.lastProblem && w.bindState !== 'bound' ? `; last problem: ${w.lastProblem}` : '';
    lines.push(`    ${w.workerId.padEnd(width)}  ${what}${problem}  (${w.smsc})`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatStats(stats: Stats, target: string): string {
  const width = Math.max(...STATUSES.map((s) => String(stats[s]).length));
  const lines = [`sms-outbox status for ${target}`, ''];
  for (const s of STATUSES) {
    let note = '';
    if (s === 'queued') note = `   oldest due: ${formatAge(stats.oldest_queued_age_seconds)}`;
    if (s === 'sent' && stats.receipts_overdue) note = `   ${stats.receipts_overdue} with the receipt overdue`;
    lines.push(`  ${s.padEnd(12)}${String(stats[s]).padStart(width)}${note}`);
  }
  lines.push('', `  last minute: ${stats.sent_last_minute} sent, ${stats.delivered_last_minute} delivered`, '');
  return lines.join('\n');
}

export async function statusCommand(args: string[]): Promise<number> {
  const opts = parseCommandArgs('status', args, { json: { type: 'boolean' } }, HELP);
  if (!opts) return 0;
  const config = loadConfig();
  const url = required(config.databaseUrl, 'DATABASE_URL', 'postgres://user:password@host:port/database');
  const client = await connectOrExplain(url, 'sms-outbox status');
  try {
    let stats: Stats;
    try {
      stats = await readStats(client);
    } catch (err) {
      const e = err as Error & { code?: string };
      // The same exit code and wording as the worker's start-up check: fix the setup, do not retry.
      if (e.code === '42P01') {
        throw new StartupError(
          `DATABASE_URL (${describeDatabase(url)}): the sms-outbox schema is not installed in this database (no sms_stats view): run \`sms-outbox migrate\` (with the same DATABASE_URL) first`,
          EXIT_CONFIG,
          { cause: err },
        );
      }
      if (e.code === '42501') {
        // The database's reader role may have another prefix (SMS_ROLE_PREFIX); name the real one.
        const reader = (await visibleRoleNames(client).catch(() => null))?.reader ?? 'sms_reader';
        throw new StartupError(
          `DATABASE_URL (${describeDatabase(url)}): permission denied for sms_stats: connect as a role granted ${reader} (\`grant ${reader} to <login role>\`)`,
          EXIT_CONFIG,
          { cause: err },
        );
      }
      throw err;
    }
    const workers = await readWorkers(url);
    process.stdout.write(opts.json ? `${JSON.stringify({ ...stats, workers })}\n` : formatStats(stats, maskSecretUrl(url)) + formatWorkers(workers));
    return 0;
  } finally {
    await client.end();
  }
}

/** The workers of the last day, or null when this role may not read sms_worker_state. */
async function readWorkers(url: string): Promise<WorkerStateRow[] | null> {
  const pool = createPool(url, { max: 1, applicationName: 'sms-outbox status' });
  try {
    return await listWorkers(createDb(pool));
  } catch (err) {
    if ((err as { code?: string }).code === '42501') return null;
    throw err;
  } finally {
    await pool.end();
  }
}
