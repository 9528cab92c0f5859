/**
 * What Postgres wrote for a stretch of a benchmark: WAL bytes, row versions per table (inserts,
 * updates and how many of them were HOT, deletes), table and index growth, and the CPU time of the
 * benchmark database's backends. Two snapshots taken around the stretch, divided by the messages
 * it carried, give the per-message cost `sms-outbox bench` reports.
 *
 * The WAL position is the server's: on a server other sessions write to meanwhile, their WAL is
 * counted too (the report says how much of the stretch's WAL that can be; run on an otherwise idle
 * server, or with DATABASE_URL unset for an embedded one, for exact figures). The table counters
 * (pg_stat_user_tables) are the benchmark database's own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

/** The tables one message touches. */
export const COST_TABLES = ['sms_outbox', 'sms_outbox_part', 'sms_receipt'] as const;

export interface TableCounters {
  ins: number;
  upd: number;
  hotUpd: number;
  del: number;
  deadTuples: number;
  liveTuples: number;
  autovacuums: number;
  autoanalyzes: number;
  heapBytes: number;
  /** Bytes of each index of the table, by name. */
  indexBytes: Record<string, number>;
}

export interface CostSnapshot {
  at: number;
  walLsn: string;
  tables: Record<string, TableCounters>;
  /** utime + stime of this database's backends, in seconds, by pid. */
  backendCpu: Map<number, number>;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Seconds of CPU (user + system) a process has used, or null when it is gone. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** CPU seconds of the local server's backends connected to `database` (Linux /proc; none elsewhere). */
export function backendCpu(database: string): Map<number, number> {
  const out = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  const marker = ` ${database} `;
  for (const p of pids) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (!cmd.startsWith('postgres: ') || !cmd.includes(marker)) continue;
      const cpu = processCpuSeconds(Number(p));
      if (cpu !== null) out.set(Number(p), cpu);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Reads the counters. Backends report their table counters at most once a second, so a snapshot
 * meant to close a stretch should be taken a little after its last write (see settle()).
 */
export async function costSnapshot(pool: pg.Pool, database: string): Promise<CostSnapshot> {
  const client = await pool.connect();
  try {
    await client.query('select pg_stat_clear_snapshot()');
    // The insert position: every record inserted so far, written out or still in the WAL buffers
    // (pg_current_wal_lsn() is the write position, which with synchronous_commit off trails it).
    const wal = await client.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn');
    const t = await client.query<{
      relname: string;
      ins: string;
      upd: string;
      hot: string;
      del: string;
      dead: string;
      live: string;
      av: string;
      aa: string;
      heap: string;
      indexes: Record<string, number> | null;
    }>(
      `select s.relname, s.n_tup_ins as ins, s.n_tup_upd as upd, s.n_tup_hot_upd as hot, s.n_tup_del as del,
              s.n_dead_tup as dead, s.n_live_tup as live, s.autovacuum_count as av, s.autoanalyze_count as aa,
              pg_relation_size(s.relid) as heap,
              (select json_object_agg(i.indexrelname, pg_relation_size(i.indexrelid))
                 from pg_stat_user_indexes i where i.relid = s.relid) as indexes
         from pg_stat_user_tables s
        where s.schemaname = 'public' and s.relname = any($1::text[])`,
      [COST_TABLES],
    );
    const tables: Record<string, TableCounters> = {};
    for (const r of t.rows) {
      tables[r.relname] = {
        ins: Number(r.ins),
        upd: Number(r.upd),
        hotUpd: Number(r.hot),
        del: Number(r.del),
        deadTuples: Number(r.dead),
        liveTuples: Number(r.live),
        autovacuums: Number(r.av),
        autoanalyzes: Number(r.aa),
        heapBytes: Number(r.heap),
        indexBytes: Object.fromEntries(Object.entries(r.indexes ?? {}).map(([k, v]) => [k, Number(v)])),
      };
    }
    return { at: performance.now(), walLsn: wal.rows[0]!.lsn, tables, backendCpu: backendCpu(database) };
  } finally {
    client.release();
  }
}

/**
 * Waits until the backends have reported their table counters: a busy backend reports at most
 * once a second, an idle one within 10 s (PostgreSQL 15's PGSTAT_IDLE_INTERVAL).
 */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 11_000));
}

export interface TableCost {
  /** Per message. */
  inserts: number;
  updates: number;
  hotUpdates: number;
  deletes: number;
  /** inserts + updates: the row versions written per message. */
  rowVersions: number;
  /** Heap growth per message, in bytes. */
  heapBytes: number;
  /** Growth of each index per message, in bytes. */
  indexBytes: Record<string, number>;
}

export interface PgCost {
  messages: number;
  /** pg_current_wal_insert_lsn() difference per message (the whole server's WAL: see serverWalNote). */
  walBytesPerMessage: number;
  /** Row versions per message over the tables one message touches. */
  rowVersionsPerMessage: number;
  tables: Record<string, TableCost>;
  /** CPU seconds of the benchmark database's backends per 1000 messages. */
  backendCpuMsPerMessage: number;
  /** pg_stat_statements, when the server has it loaded; otherwise why not. */
  statements: { available: false; reason: string } | { available: true; top: StatementCost[] };
  /** The stretch's WAL by record type (pg_walinspect), when the server lets us read it; otherwise why not. */
  walRecords: { available: false; reason: string } | { available: true; records: WalRecordCost[] };
}

/** One type of WAL record over a stretch, per message. */
export interface WalRecordCost {
  /** Resource manager and record type, as pg_waldump names them: Heap/UPDATE, Btree/INSERT_LEAF... */
  type: string;
  /** Records per message. */
  count: number;
  /** Bytes per message, full-page images included. */
  bytes: number;
  /** Of which full-page images (the first change of a page after a checkpoint). */
  fpiBytes: number;
}

export interface StatementCost {
  query: string;
  calls: number;
  totalMs: number;
  walBytes: number;
  rows: number;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function costBetween(before: CostSnapshot, after: CostSnapshot, messages: number, wal: bigint): Omit<PgCost, 'statements' | 'walRecords'> {
  const per = (x: number) => round(x / messages, 3);
  const tables: Record<string, TableCost> = {};
  let versions = 0;
  for (const name of COST_TABLES) {
    const a = after.tables[name];
    const b = before.tables[name];
    if (!a || !b) continue;
    const indexBytes: Record<string, number> = {};
    for (const [idx, bytes] of Object.entries(a.indexBytes)) indexBytes[idx] = round((bytes - (b.indexBytes[idx] ?? 0)) / messages, 1);
    tables[name] = {
      inserts: per(a.ins - b.ins),
      updates: per(a.upd - b.upd),
      hotUpdates: per(a.hotUpd - b.hotUpd),
      deletes: per(a.del - b.del),
      rowVersions: per(a.ins - b.ins + a.upd - b.upd),
      heapBytes: round((a.heapBytes - b.heapBytes) / messages, 1),
      indexBytes,
    };
    versions += a.ins - b.ins + a.upd - b.upd;
  }
  let cpu = 0;
  for (const [pid, seconds] of after.backendCpu) cpu += seconds - (before.backendCpu.get(pid) ?? 0);
  return {
    messages,
    walBytesPerMessage: Math.round(Number(wal) / messages),
    rowVersionsPerMessage: per(versions),
    tables,
    backendCpuMsPerMessage: round((cpu * 1000) / messages, 3),
  };
}

export async function walBytesBetween(pool: pg.Pool, before: CostSnapshot, after: CostSnapshot): Promise<bigint> {
  const { rows } = await pool.query<{ d: string }>('select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint::text as d', [after.walLsn, before.walLsn]);
  return BigInt(rows[0]!.d);
}

/**
 * Tries to set up pg_stat_statements in the benchmark database and resets it; returns why not
 * when the server does not load it (it needs shared_preload_libraries, a server restart).
 */
export async function startStatements(pool: pg.Pool): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await pool.query('create extension if not exists pg_stat_statements');
    await pool.query('select pg_stat_statements_reset()');
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** The statements that cost most time, with their WAL, per message. */
export async function topStatements(pool: pg.Pool, limit = 10): Promise<StatementCost[]> {
  const { rows } = await pool.query<{ query: string; calls: string; total: number; wal: string; rows: string }>(
    `select left(regexp_replace(query, '\\s+', ' ', 'g'), 160) as query, calls, total_exec_time as total, wal_bytes::text as wal, rows
       from pg_stat_statements
      where dbid = (select oid from pg_database where datname = current_database())
      order by total_exec_time desc limit $1`,
    [limit],
  );
  return rows.map((r) => ({ query: r.query, calls: Number(r.calls), totalMs: round(r.total, 1), walBytes: Number(r.wal), rows: Number(r.rows) }));
}

/** The WAL from a moment on, kept from removal until released (holdWal). */
export interface WalHold {
  /** Why the WAL is not held (the read may still succeed when no checkpoint removed a segment). */
  reason: string | null;
  release(): Promise<void>;
}

/**
 * Keeps the server's WAL from now on until released, so that a checkpoint during the stretch (a
 * busy server, a long run) cannot remove the segments walRecordsBetween reads: a temporary
 * physical replication slot that reserves it at once, in a session of its own (ending the
 * session drops the slot). When the role may not create one (REPLICATION) or the server has no
 * free slot (max_replication_slots), says why and holds nothing.
 */
export async function holdWal(pool: pg.Pool): Promise<WalHold> {
  const client = await pool.connect();
  try {
    await client.query('select pg_create_physical_replication_slot($1, true, true)', [`sms_bench_${process.pid}_${Date.now()}`]);
  } catch (err) {
    client.release();
    return { reason: err instanceof Error ? err.message : String(err), release: async () => {} };
  }
  // Releasing closes the session, which drops its temporary slot.
  return { reason: null, release: async () => client.release(true) };
}

/**
 * The WAL between two snapshots by record type, per message, largest first (pg_walinspect, part
 * of PostgreSQL 15's contrib: created in the benchmark database, which is dropped after the run).
 * Like the byte count it is the whole server's WAL. Why not, when it cannot be read: the
 * extension is missing, the role may not read WAL (superuser or pg_read_server_files), or a
 * checkpoint removed the stretch's first segment (which `hold`, taken before the stretch,
 * prevents when the role may create a replication slot).
 */
export async function walRecordsBetween(
  pool: pg.Pool,
  before: CostSnapshot,
  after: CostSnapshot,
  messages: number,
  hold: WalHold,
): Promise<PgCost['walRecords']> {
  try {
    await pool.query('create extension if not exists pg_walinspect');
    // pg_get_wal_stats reads only flushed WAL; with synchronous_commit off the stretch's end may
    // not be yet. A synchronous commit flushes everything before its commit record, but only for
    // a transaction that wrote WAL of its own before committing (an xid alone does not count):
    // a transactional logical message is the smallest such write (any wal_level).
    await pool.query(
      `begin; set local synchronous_commit = on; select pg_catalog.pg_logical_emit_message(true, 'sms-outbox bench', 'flush'); commit`,
    );
    const { rows } = await pool.query<{ type: string; count: string; combined: string; fpi: string }>(
      `select "resource_manager/record_type" as type, count::text, combined_size::text as combined, fpi_size::text as fpi
         from pg_get_wal_stats($1::pg_lsn, $2::pg_lsn, true)
        where count > 0
        order by combined_size desc, 1`,
      [before.walLsn, after.walLsn],
    );
    const per = (x: string, digits: number) => round(Number(x) / messages, digits);
    return {
      available: true,
      records: rows.map((r) => ({ type: r.type, count: per(r.count, 3), bytes: per(r.combined, 1), fpiBytes: per(r.fpi, 1) })),
    };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { available: false, reason: hold.reason ? `${reason} (the WAL was not held: ${hold.reason})` : reason };
  }
}

export function formatPgCost(c: PgCost, indent = '  '): string {
  const lines = [
    `${indent}WAL per message             ${c.walBytesPerMessage} bytes (server-wide pg_current_wal_insert_lsn difference)`,
    `${indent}row versions per message    ${c.rowVersionsPerMessage} (inserts + updates over ${COST_TABLES.join(', ')})`,
    `${indent}backend CPU per message     ${c.backendCpuMsPerMessage} ms (this database's Postgres backends)`,
  ];
  for (const [name, t] of Object.entries(c.tables)) {
    const idx = Object.entries(t.indexBytes)
      .filter(([, b]) => b !== 0)
      .map(([k, b]) => `${k.replace(/^sms_/, '')} ${b}`)
      .join(', ');
    lines.push(
      `${indent}  ${name.padEnd(16)} ins ${t.inserts} upd ${t.updates} (HOT ${t.hotUpdates}) del ${t.deletes}; heap +${t.heapBytes} B, indexes (B) ${idx || 'none'}`,
    );
  }
  if (c.walRecords.available) {
    const shown = c.walRecords.records.filter((r) => r.bytes >= 1);
    lines.push(`${indent}WAL by record type (per message: records, bytes, of which full-page images):`);
    for (const r of shown) lines.push(`${indent}  ${r.type.padEnd(26)} ${String(r.count).padStart(7)} ${String(r.bytes).padStart(8)} B${r.fpiBytes ? ` (FPI ${r.fpiBytes} B)` : ''}`);
  } else {
    lines.push(`${indent}WAL by record type          not available: ${c.walRecords.reason}`);
  }
  if (c.statements.available) {
    lines.push(`${indent}pg_stat_statements (top by time):`);
    for (const s of c.statements.top) lines.push(`${indent}  ${s.totalMs} ms, ${s.calls} calls, ${s.walBytes} WAL B: ${s.query}`);
  } else {
    lines.push(`${indent}pg_stat_statements          not available: ${c.statements.reason}`);
  }
  return lines.join('\n');
}
