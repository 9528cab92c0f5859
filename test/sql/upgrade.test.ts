/**
 * Upgrading every released state: for k = 1..17, a database that applied the released migrations
 * 0001..k (as sms-outbox 0.1.0 shipped them, test/fixtures/released-migrations) and holds the data
 * of a busy outbox at that state (messages in every status, parts, receipts matched and not,
 * incoming SMS and parts, parked PDUs, opt-outs, retries, redacted bodies, sign-in codes and
 * self-sends, changed settings: whatever exists at k) is migrated by today's `migrate`. Then:
 *
 * - its catalog (src/db/catalog.ts: tables, columns, defaults, constraints, indexes, policies,
 *   grants, functions with their bodies, views, triggers, comments) equals a fresh install's;
 * - no row was lost, and the columns a row had keep their values, except where a released
 *   migration changes data by design (0011 gives messages owners and self-sent keys their
 *   user's form; 0034 drops lease_until and moves a message being sent to a lease in
 *   sms_private.outbox_lease, queued with its attempt in flight counted there);
 * - its rows equal those of the same database upgraded the way a user of the releases would have:
 *   the released migrations k+1..17 first, then today's `migrate` (so the rewritten migrations do
 *   to data what the released ones did).
 *
 * Each state is a clone of the one before plus one released migration, so the chain is cheap; its
 * test then fills and upgrades the state itself, and clones it once, filled, for the other way.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { describeCatalog, withoutSupabaseGrants, type Catalog } from '../../src/db/catalog.js';
import { migrate } from '../../src/db/migrate.js';
import { serverUrl, withDatabase } from '../support/db.js';
import { releasedMigrations } from '../support/released.js';

const released = releasedMigrations();
const RUN = `sms_t_up_${process.pid}_${randomBytes(2).toString('hex')}`;
const made: string[] = [];
let admin: pg.Client;

async function createDatabase(name: string, template?: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(`create database ${name}${template ? ` template ${template}` : ''}`);
      made.push(name);
      return;
    } catch (err) {
      if (attempt >= 30 || !/being accessed by other users/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

async function withClient<T>(db: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: withDatabase(serverUrl(), db) });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Applies released migrations as sms-outbox 0.1.0's migrate did: each in its own transaction, recorded with its checksum. */
async function applyReleased(db: string, versions: number[]): Promise<void> {
  await withClient(db, async (c) => {
    await c.query(`create table if not exists public.sms_schema_migrations (
      version integer primary key, name text not null, checksum text not null, applied_at timestamptz not null default now())`);
    await c.query('revoke all on public.sms_schema_migrations from public');
    for (const m of released.filter((x) => versions.includes(x.version))) {
      await c.query('begin');
      await c.query(m.sql);
      await c.query('insert into public.sms_schema_migrations (version, name, checksum) values ($1, $2, $3)', [m.version, m.name, m.checksum]);
      await c.query('commit');
    }
  });
}

// ------------------------------------------------------------------------------------------------
// The data of a busy outbox, written as the owner into whatever tables and columns exist.

const uuid = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const USER = 'A1B2C3D4-0000-4000-8000-00000000000A'; // a self-send user id as a JWT sent it (upper case)

async function columnsOf(c: pg.Client, table: string): Promise<Set<string> | null> {
  const r = await c.query<{ c: string }>(
    `select a.attname as c from pg_attribute a where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped`,
    [table],
  );
  return r.rowCount ? new Set(r.rows.map((x) => x.c)) : null;
}

/** Inserts `rows` into `table`, keeping the keys that are columns there; nothing when the table does not exist. */
async function insert(c: pg.Client, table: string, rows: Record<string, unknown>[]): Promise<void> {
  const cols = await columnsOf(c, table);
  if (!cols) return;
  for (const row of rows) {
    const keys = Object.keys(row).filter((k) => cols.has(k));
    const values = keys.map((k) => row[k]);
    const exprs = keys.map((k, i) => (typeof row[k] === 'string' && /^sql:/.test(row[k] as string) ? (row[k] as string).slice(4) : `$${i + 1}`));
    const params = keys.map((k, i) => (exprs[i]!.startsWith('$') ? values[i] : undefined)).filter((_, i) => exprs[i]!.startsWith('$'));
    let n = 0;
    const numbered = exprs.map((e) => (e.startsWith('$') ? `$${++n}` : e));
    const overriding = cols.has('id') && keys.includes('id') && table !== 'public.sms_outbox' && table !== 'public.sms_inbox' ? ' overriding system value' : '';
    await c.query(`insert into ${table} (${keys.join(', ')})${overriding} values (${numbered.join(', ')})`, params);
  }
}

async function update(c: pg.Client, table: string, set: Record<string, string>): Promise<void> {
  const cols = await columnsOf(c, table);
  if (!cols) return;
  const parts = Object.entries(set).filter(([k]) => cols.has(k)).map(([k, v]) => `${k} = ${v}`);
  if (parts.length) await c.query(`update ${table} set ${parts.join(', ')}`);
}

function message(n: number, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const final = !['queued', 'sending', 'sent'].includes(status);
  return {
    id: uuid(n),
    created_at: 'sql:now() - interval \'2 hours\'',
    updated_at: 'sql:now() - interval \'1 hour\'',
    recipient: `7999000${String(n).padStart(4, '0')}`,
    sender: 'Shop',
    body: `Message ${n}: your order is on its way`,
    encoding: 'gsm7',
    segments: 1,
    priority: n % 3,
    send_at: 'sql:now() - interval \'2 hours\'',
    expires_at: 'sql:now() + interval \'1 day\'',
    next_attempt_at: 'sql:now() - interval \'2 hours\'',
    status,
    attempts: status === 'queued' || status === 'cancelled' ? 0 : 1,
    done_at: final ? 'sql:now() - interval \'30 minutes\'' : null,
    owner: 'my_app',
    ...extra,
  };
}

/** Fills a database at state k (after the released migrations 0001..k) with a busy outbox. */
async function fill(db: string, k: number): Promise<void> {
  await withClient(db, async (c) => {
    await update(c, 'public.sms_settings', { default_sender: `'Brand'`, max_segments: '5', max_attempts: '6', redact_after: `'30 days'` });
    await update(c, 'public.sms_settings', { stop_keywords: `stop_keywords || array['UNSUBSCRIBE']`, smart_encoding: 'false' });
    await update(c, 'public.sms_wakeup', { armed_until: `now() + interval '1 minute'` });
    await update(c, 'public.sms_rate_limit', { tokens: '3.5' });
    await update(c, 'public.sms_self_send_settings', { per_user_limit: '7', phone_source: `'jwt'` });
    await update(c, 'public.sms_auth_hook_settings', { product_name: `'Shop'`, per_phone_limit: '3', allowed_country_prefixes: `'{7,375}'` });

    const sent = (id: string) => ({ submitted_at: 'sql:now() - interval \'1 hour\'', message_ids: `{${id.toUpperCase()}}`, smsc_message_id: k >= 17 ? id : null });
    await insert(c, 'public.sms_outbox', [
      message(1, 'queued'),
      message(2, 'queued', { send_at: 'sql:now() + interval \'1 hour\'', next_attempt_at: 'sql:now() + interval \'1 hour\'', idempotency_key: 'order-2' }),
      message(3, 'sending', { lease_until: 'sql:now() + interval \'1 minute\'', worker_id: 'w1' }),
      message(4, 'sent', sent('a4')),
      message(5, 'delivered', { ...sent('a5'), receipt_state: 'DELIVRD', receipt_error: '000' }),
      message(6, 'undelivered', { ...sent('a6'), receipt_state: 'UNDELIV', receipt_error: '011', error_code: '011', error_message: 'receipt: UNDELIV' }),
      message(7, 'expired', { error_message: 'expired before it could be sent' }),
      message(8, 'rejected', { error_code: 'OPTED_OUT', error_message: 'not sent: the recipient opted out of marketing messages (sms_opt_out)', category: 'marketing' }),
      message(9, 'failed', { attempts: 6, error_code: 'ESME_RINVDSTADR', error_message: 'invalid destination' }),
      message(10, 'cancelled'),
      // Two parts, one delivered.
      message(11, 'sent', { segments: 2, body: 'Long '.repeat(40), submitted_at: 'sql:now() - interval \'1 hour\'', message_ids: '{B11,B12}' }),
      // Redacted, retried, smart-encoded, marketing.
      message(12, 'delivered', { ...sent('a12'), receipt_state: 'DELIVRD', body: '', body_hash: '\\x00ff', body_length: 42, redacted_at: 'sql:now()' }),
      message(13, 'queued', { retries: 1, attempts: 2, attempts_at_retry: 2 }),
      message(14, 'queued', { category: 'marketing', replaced_chars: 2 }),
      // A sign-in code (0012) and a self-send (0008; its key and owner change in 0011).
      message(15, 'delivered', { ...sent('a15'), metadata: JSON.stringify({ via: 'supabase_auth_hook', user_id: uuid(900) }), owner: 'supabase_auth_admin', receipt_state: 'DELIVRD' }),
      message(16, 'queued', { metadata: JSON.stringify({ via: 'sms_send_to_self', user_id: USER }), idempotency_key: `sms_send_to_self:${USER}:k1` }),
    ]);
    if (k < 17) await insert(c, 'public.sms_outbox_part', [4, 5, 6, 12, 15].map((n) => ({ outbox_id: uuid(n), part_no: 1, message_id: `a${n}`, receipt_state: n === 4 ? null : n === 6 ? 'UNDELIV' : 'DELIVRD' })));
    await insert(c, 'public.sms_outbox_part', [
      { outbox_id: uuid(11), part_no: 1, message_id: 'b11', receipt_state: 'DELIVRD', receipt_error: '000', done_at: 'sql:now()' },
      { outbox_id: uuid(11), part_no: 2, message_id: 'b12' },
    ]);
    await insert(c, 'public.sms_outbox_retry', [
      { id: 1, outbox_id: uuid(13), retried_by: 'my_app', status: 'failed', attempts: 2, error_code: '0x58', done_at: 'sql:now() - interval \'1 hour\'' },
    ]);
    await insert(c, 'public.sms_receipt', [
      { id: 1, message_id: 'a5', raw_message_id: 'A5', state: 'DELIVRD', error: '000', text: 'id:A5 stat:DELIVRD text:Message 5', outbox_id: uuid(5), matched_at: 'sql:now()' },
      { id: 2, message_id: 'ffff', raw_message_id: 'FFFF', state: 'DELIVRD', error: '000', text: 'id:FFFF stat:DELIVRD text:unknown' },
    ]);
    await insert(c, 'public.sms_inbox', [
      { id: uuid(101), sender: '79990000001', recipient: '1234', body: 'Hello', encoding: 'gsm7', parts: 1, payload: '\\x48656c6c6f' },
      { id: uuid(102), sender: '79990000002', recipient: '1234', body: 'Part one, part two', encoding: 'gsm7', parts: 2, missing_parts: 1 },
      { id: uuid(103), sender: '79990000003', recipient: '1234', body: 'STOP', encoding: 'gsm7', parts: 1 },
      { id: uuid(104), sender: '79990000004', recipient: '1234', body: '', encoding: 'ucs2', parts: 1, body_hash: '\\x01', body_length: 5, redacted_at: 'sql:now()' },
    ]);
    await insert(c, 'public.sms_inbox_part', [{ sender: '79990000005', recipient: '1234', ref: 7, total: 2, seq: 1, data_coding: 0, payload: '\\x4869' }]);
    await insert(c, 'public.sms_inbound_parked', [
      { id: 1, kind: 'mo', command_id: 5, pdu: '\\x0000', sender: '79990000006', recipient: '1234', error_code: '23514', error_message: 'refused', replay_requested_at: 'sql:now()' },
    ]);
    await insert(c, 'public.sms_opt_out', [{ recipient: '79990000008', source: 'operator', actor: 'my_app' }]);
    await insert(c, 'public.sms_opt_out_log', [{ id: 100, recipient: '79990000008', action: 'opt_out', source: 'operator', actor: 'my_app', changed: true }]);
    await insert(c, 'public.sms_self_send_log', [{ id: 1, user_id: USER, recipient: '79990000016', outbox_id: uuid(16) }]);
    await insert(c, 'public.sms_auth_code', [{ outbox_id: uuid(15), user_id: uuid(900), phone: '79990000015', status: 'delivered', expires_at: 'sql:now() + interval \'1 minute\'' }]);
    await insert(c, 'sms_private.auth_hook_lock', [{ key: 'phone:79990000015' }]);
    await insert(c, 'sms_private.auth_hook_minute', [{ minute: 'sql:date_trunc(\'minute\', now())', sent: 2 }]);
    await insert(c, 'sms_private.self_send_lock', [{ key: `user:${USER.toLowerCase()}` }]);
  });
}

// ------------------------------------------------------------------------------------------------
// What to compare.

/** Every row of every table of ours, by table, each row as JSON text, sorted. */
async function rowsOf(db: string): Promise<Map<string, { columns: string[]; rows: Record<string, unknown>[] }>> {
  return withClient(db, async (c) => {
    const tables = await c.query<{ t: string }>(`
      select format('%I.%I', n.nspname, c.relname) as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'r' and ((n.nspname = 'public' and c.relname like 'sms\\_%') or n.nspname = 'sms_private') order by 1`);
    const out = new Map<string, { columns: string[]; rows: Record<string, unknown>[] }>();
    for (const { t } of tables.rows) {
      const cols = [...(await columnsOf(c, t))!].sort();
      const r = await c.query<{ j: Record<string, unknown> }>(`select to_jsonb(x) as j from ${t} x`);
      out.set(t, { columns: cols, rows: r.rows.map((x) => x.j).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) });
    }
    return out;
  });
}

/**
 * Columns whose values legitimately differ between two databases migrated apart: the time a
 * migration ran (it made the row, or its trigger stamped it), a random key.
 */
const VOLATILE: Record<string, string[]> = {
  'public.sms_schema_migrations': ['applied_at', 'checksum'],
  'public.sms_schema_objects': ['applied_at'],
  'public.sms_settings': ['updated_at'],
  'public.sms_self_send_settings': ['updated_at'],
  'public.sms_auth_hook_settings': ['updated_at'],
  'public.sms_pumping_settings': ['watching_since'],
  'public.sms_rate_limit': ['refilled_at'],
  'sms_private.auth_hook_secret': ['secret'],
  'sms_private.redaction_key': ['key'],
  'sms_private.context_key': ['key'],
};

/** `row` without the volatile columns and `also`, its keys sorted (so rows compare as text). */
function without(table: string, row: Record<string, unknown>, also: string[] = []): Record<string, unknown> {
  const drop = new Set([...(VOLATILE[table] ?? []), ...also]);
  return Object.fromEntries(Object.entries(row).filter(([k]) => !drop.has(k)).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The primary key of a row, for matching rows before and after. */
function keyOf(table: string, row: Record<string, unknown>): string {
  const keys: Record<string, string[]> = {
    'public.sms_outbox_part': ['outbox_id', 'part_no'],
    'public.sms_inbox_part': ['sender', 'recipient', 'ref', 'total', 'seq'],
    'public.sms_opt_out': ['recipient'],
    'public.sms_auth_code': ['outbox_id'],
    'public.sms_schema_migrations': ['version'],
    'sms_private.auth_hook_lock': ['key'],
    'sms_private.auth_hook_minute': ['minute'],
    'sms_private.self_send_lock': ['key'],
  };
  return JSON.stringify((keys[table] ?? ['id']).map((k) => row[k]));
}

/**
 * The values migrations change by design: 0011 (for a database installed before it) gives a
 * self-sent message its user's key and canonicalises the log's user ids; 0019 takes a sign-in
 * code's text out of sms_outbox.body (blanked, hashed with the database's own redaction key).
 */
function changedByDesign(table: string, row: Record<string, unknown>, k: number): string[] {
  const changed: string[] = [];
  // 0034 drops sms_outbox.lease_until, and moves a message being sent back to queued with its
  // attempt in flight uncounted (its claim goes to sms_private.outbox_lease: checked on its own).
  if (table === 'public.sms_outbox') changed.push('lease_until');
  if (table === 'public.sms_outbox' && row.status === 'sending') changed.push('status', 'attempts', 'updated_at');
  if (k < 11 && table === 'public.sms_outbox') changed.push('idempotency_key');
  if (k < 11 && table === 'public.sms_self_send_log') changed.push('user_id');
  if (table === 'public.sms_outbox' && (row.metadata as { via?: string } | null)?.via === 'supabase_auth_hook') {
    changed.push('body', 'body_hash', 'body_length', 'redacted_at');
  }
  return changed;
}

const sortRows = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r)).sort();

function catalogDiff(a: Catalog, b: Catalog): string[] {
  const lines = (c: Catalog) => JSON.stringify(c, null, 1).split('\n');
  const left = lines(a);
  const right = lines(b);
  const diffs: string[] = [];
  const max = Math.max(left.length, right.length);
  for (let i = 0; i < max && diffs.length < 20; i++) if (left[i] !== right[i]) diffs.push(`line ${i}: fresh ${left[i]} / upgraded ${right[i]}`);
  return diffs;
}

async function catalogOf(db: string): Promise<Catalog> {
  return withClient(db, async (c) => {
    // Supabase's roles may appear on this server while this file runs (other test files create
    // them, concurrently), so their grants are left out of the comparison: what they get is
    // test/supabase/postgrest.test.ts's to check.
    return withoutSupabaseGrants(await describeCatalog(c));
  });
}

// ------------------------------------------------------------------------------------------------

before(async () => {
  admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  // The chain of released states, state k a clone of state k-1 plus migration k.
  let previous: string | undefined;
  for (const m of released) {
    const name = `${RUN}_s${m.version}`;
    await createDatabase(name, previous);
    await applyReleased(name, [m.version]);
    previous = name;
  }
});

after(async () => {
  for (const name of made.reverse()) await admin.query(`drop database if exists ${name} with (force)`).catch(() => {});
  await admin.end();
});

describe('upgrading each released state with today\'s migrate', { concurrency: 2 }, () => {
  let fresh: Catalog;
  before(async () => {
    const name = `${RUN}_fresh`;
    await createDatabase(name);
    await migrate(withDatabase(serverUrl(), name), { skipGraphile: true });
    fresh = await catalogOf(name);
  });

  for (const k of released.map((m) => m.version)) {
    test(`after 0001..${String(k).padStart(4, '0')}: the catalog of a fresh install, every row kept, the data the released migrations would make`, async () => {
      // State k serves the chain no more (the chain was made in before()): it is filled and
      // upgraded in place, and a clone of it filled goes the way of the releases.
      const upgraded = `${RUN}_s${k}`;
      await fill(upgraded, k);
      const before = await rowsOf(upgraded);

      const viaReleases = `${RUN}_a${k}`;
      await createDatabase(viaReleases, upgraded);
      await applyReleased(viaReleases, released.filter((m) => m.version > k).map((m) => m.version));
      await migrate(withDatabase(serverUrl(), viaReleases), { skipGraphile: true });
      const result = await migrate(withDatabase(serverUrl(), upgraded), { skipGraphile: true });
      assert.ok(result.applied.length > 0 && result.objects.length > 0);

      assert.deepEqual(catalogDiff(fresh, await catalogOf(upgraded)), [], 'the upgraded catalog is a fresh install\'s');

      const after = await rowsOf(upgraded);
      const lost: string[] = [];
      for (const [table, { columns, rows }] of before) {
        const now = after.get(table);
        assert.ok(now, `${table} is still there`);
        const byKey = new Map(now.rows.map((r) => [keyOf(table, r), r]));
        for (const row of rows) {
          const changed = changedByDesign(table, row, k);
          const later = byKey.get(keyOf(table, row));
          if (!later) {
            lost.push(`${table} ${keyOf(table, row)} is gone`);
            continue;
          }
          const kept = Object.fromEntries(columns.map((col) => [col, later[col]]));
          if (JSON.stringify(without(table, kept, changed)) !== JSON.stringify(without(table, row, changed))) {
            lost.push(`${table} ${keyOf(table, row)} changed: ${JSON.stringify(without(table, row, changed))} -> ${JSON.stringify(without(table, kept, changed))}`);
          }
        }
      }
      assert.deepEqual(lost, []);

      // 0034: the message a worker was sending keeps its claim as a lease: queued, its attempt in
      // flight not counted in sms_outbox.attempts but as the lease's, its worker and lease_until kept.
      const sending = before.get('public.sms_outbox')?.rows.find((r) => r.status === 'sending');
      if (k >= 4) assert.ok(sending, 'the busy outbox has a message being sent');
      if (sending) {
        const moved = after.get('public.sms_outbox')!.rows.find((r) => r.id === sending.id)!;
        assert.deepEqual(
          { status: moved.status, attempts: moved.attempts, worker_id: moved.worker_id, lease_until: moved.lease_until },
          { status: 'queued', attempts: (sending.attempts as number) - 1, worker_id: sending.worker_id, lease_until: undefined },
        );
        assert.deepEqual(after.get('sms_private.outbox_lease')?.rows, [
          { outbox_id: sending.id, worker_id: sending.worker_id, attempt: sending.attempts, lease_until: sending.lease_until },
        ]);
        await withClient(upgraded, async (c) => {
          const shown = await c.query('select status, attempts from public.sms_status($1)', [sending.id]);
          assert.deepEqual(shown.rows, [{ status: 'sending', attempts: sending.attempts }], 'sms_status still shows it being sent');
          const log = await c.query('select count(*)::int as n from public.sms_outbox_attempt where outbox_id = $1', [sending.id]);
          assert.deepEqual(log.rows, [{ n: 0 }], 'the move is no attempt\'s end');
        });
      } else {
        assert.deepEqual(after.get('sms_private.outbox_lease')?.rows, []);
      }

      const oracle = await rowsOf(viaReleases);
      for (const [table, { rows }] of oracle) {
        const mine = after.get(table);
        assert.ok(mine, `${table} exists`);
        // 0019 blanks a sign-in code's body when it runs (redacted_at), with a hash keyed with the
        // database's own redaction key (0013); 0034 stamps the message it moved to a lease when it runs.
        const hashed = (r: Record<string, unknown>) =>
          table === 'public.sms_outbox' && (r.metadata as { via?: string } | null)?.via === 'supabase_auth_hook'
            ? ['body_hash', 'redacted_at']
            : table === 'public.sms_outbox' && r.id === sending?.id
              ? ['updated_at']
              : [];
        assert.deepEqual(
          sortRows(mine.rows.map((r) => without(table, r, hashed(r)))),
          sortRows(rows.map((r) => without(table, r, hashed(r)))),
          `${table}: the rows the released migrations would have made`,
        );
      }
      // 0011 gave the self-send its user's key and owner, in both ways of upgrading.
      if (k >= 8) {
        const row = after.get('public.sms_outbox')!.rows.find((r) => r.id === uuid(16))!;
        assert.deepEqual([row.owner, row.idempotency_key], k < 11 ? [`authenticated:${USER.toLowerCase()}`, 'k1'] : ['my_app', `sms_send_to_self:${USER}:k1`]);
      }
      for (const name of [viaReleases, upgraded]) await admin.query(`drop database ${name} with (force)`);
    });
  }
});
