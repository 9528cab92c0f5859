/**
 * The console's overview: sms_stats, the oldest due message, receipts overdue, and throughput per
 * minute over the last hour, each read from an index (migration 0005's partial indexes, the
 * primary key for enqueues, sms_outbox_done_idx for finished messages).
 */
import { sql, type Kysely } from 'kysely';
import type { Database, MessageStatus } from '../schema.js';
import { MESSAGE_STATUSES } from '../schema.js';

type Db = Kysely<Database>;

export interface Overview {
  counts: Record<MessageStatus, number>;
  oldestDue: { id: string; ageSeconds: number } | null;
  sentLastMinute: number;
  deliveredLastMinute: number;
  /** sms_stats.receipts_overdue: `sent` messages past expires_at plus sms_settings.receipt_grace. */
  receiptsOverdue: number;
}

export async function readOverview(db: Db): Promise<Overview> {
  const { rows } = await sql<Record<string, string | null>>`
    select s.*,
           (select o.id from public.sms_outbox o
             where o.status = 'queued' and o.next_attempt_at <= now()
               and not exists (select from public.sms_sending x where x.id = o.id)
             order by o.priority desc, o.next_attempt_at limit 1) as oldest_id,
           extract(epoch from s.oldest_queued_age)::float8 as oldest_age,
           s.receipts_overdue
      from public.sms_stats s
  `.execute(db);
  const r = rows[0]!;
  const counts = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Number(r[s] ?? 0)])) as Record<MessageStatus, number>;
  return {
    counts,
    oldestDue: r.oldest_id ? { id: r.oldest_id, ageSeconds: Number(r.oldest_age ?? 0) } : null,
    sentLastMinute: Number(r.sent_last_minute ?? 0),
    deliveredLastMinute: Number(r.delivered_last_minute ?? 0),
    receiptsOverdue: Number(r.receipts_overdue ?? 0),
  };
}

export interface MinuteCounts {
  /** The minute's start. */
  minute: Date;
  enqueued: number;
  delivered: number;
  /** Finished in any other way: undelivered, expired, rejected, failed, cancelled. */
  notDelivered: number;
}

/**
 * Messages enqueued (by the time in their UUIDv7 id) and finished, per minute, for the last
 * `minutes` minutes, oldest first, every minute present.
 */
export async function readThroughput(db: Db, minutes = 60): Promise<MinuteCounts[]> {
  const { rows } = await sql<{ minute: Date; enqueued: string; delivered: string; not_delivered: string }>`
    with bounds as (
      select date_trunc('minute', now()) - (${minutes - 1} * interval '1 minute') as start
    ), floor_id as (
      select (lpad(to_hex((extract(epoch from b.start) * 1000)::bigint), 12, '0') || '00000000000000000000')::uuid as id from bounds b
    ), enq as (
      select date_trunc('minute', to_timestamp(('x' || lpad(replace(left(o.id::text, 13), '-', ''), 16, '0'))::bit(64)::bigint / 1000.0)) as minute,
             count(*) as n
        from public.sms_outbox o, floor_id f
       where o.id >= f.id
       group by 1
    ), fin as (
      select date_trunc('minute', o.done_at) as minute,
             count(*) filter (where o.status = 'delivered') as delivered,
             count(*) filter (where o.status <> 'delivered') as not_delivered
        from public.sms_outbox o, bounds b
       where o.done_at >= b.start
       group by 1
    )
    select m.minute, coalesce(e.n, 0) as enqueued, coalesce(f.delivered, 0) as delivered, coalesce(f.not_delivered, 0) as not_delivered
      from bounds b
      cross join generate_series(b.start, date_trunc('minute', now()), interval '1 minute') as m(minute)
      left join enq e on e.minute = m.minute
      left join fin f on f.minute = m.minute
     order by m.minute
  `.execute(db);
  return rows.map((r) => ({ minute: r.minute, enqueued: Number(r.enqueued), delivered: Number(r.delivered), notDelivered: Number(r.not_delivered) }));
}
