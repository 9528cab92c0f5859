-- sms-outbox 0034: a claim writes no row version of sms_outbox (issue 24).
--
-- Until now a claim moved the row queued → sending: a new version of the whole row (body and
-- all), an entry in the primary key, the recipient index and the index of sending rows, none of
-- it HOT since status is in most index predicates: about 640 of the ~2,950 WAL bytes a delivered
-- single-part message cost, and one of its four row versions. A claim is short-lived state (the
-- round trip of one submit_sm, renewed while the SMSC is slow), so it now lives in
-- sms_private.outbox_lease, an UNLOGGED table: no WAL, and a crash of Postgres empties it, which
-- returns every claimed message to the queue at once, as the lease expiry did for a worker
-- that died. A worker that dies leaves its rows there until their lease_until passes, and
-- sms_private.reclaim_expired_leases takes them back, as before.
--
-- sms_outbox.status therefore stays `queued` while a worker holds the row: sms_status,
-- sms_explain, sms_stats, the console and the worker's metrics show `sending` for a queued row
-- with a lease, and the view sms_sending lists those messages (a query on the table itself sees
-- `queued` unless it joins that view). sms_outbox.attempts
-- counts the attempts that ended (the outcome write sets it to the lease's attempt), and
-- worker_id names the worker that made the last one. sms_outbox.lease_until goes.

create unlogged table sms_private.outbox_lease (
  outbox_id   uuid primary key,
  worker_id   text not null,
  attempt     integer not null,
  lease_until timestamptz not null
);

comment on table sms_private.outbox_lease is
  'messages a worker has claimed and is submitting (shown as status sending); unlogged: a crash of Postgres empties it, which returns them to the queue';
comment on column sms_private.outbox_lease.outbox_id is 'the message (sms_outbox.id); at most one lease each';
comment on column sms_private.outbox_lease.worker_id is 'the worker holding it; its outcome writes are fenced on worker_id and attempt';
comment on column sms_private.outbox_lease.attempt is 'the attempt this claim is (sms_outbox.attempts + 1 when claimed)';
comment on column sms_private.outbox_lease.lease_until is 'until when the worker holds it; renewed every third of the lease; a lapsed lease returns the message to the queue';

-- Unlogged tables are not vacuumed by the WAL's pressure: every row is deleted within a round
-- trip, so keep autovacuum close behind.
alter table sms_private.outbox_lease set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

-- The worker writes them. The reader reads them only through the views sms_stats and sms_sending,
-- which run with the caller's rights (security_invoker): SELECT on this table, with no USAGE on
-- sms_private, lets those views read it while the reader still cannot name it.
grant select, insert, update, delete on sms_private.outbox_lease to sms_worker;
grant select on sms_private.outbox_lease to sms_reader;

-- Rows being sent when this migration runs keep their claim: the lease moves over, the row goes
-- back to queued with the attempt in flight not yet counted. The attempt log's trigger must not
-- take that for an attempt's end, so the rows move with it disabled.
do $$
declare
  v_logged boolean := exists (select from pg_trigger t where t.tgrelid = 'public.sms_outbox'::regclass
                                                       and t.tgname = 'sms_outbox_log_attempt');
begin
  if v_logged then
    alter table public.sms_outbox disable trigger sms_outbox_log_attempt;
  end if;
  insert into sms_private.outbox_lease (outbox_id, worker_id, attempt, lease_until)
  select o.id, coalesce(o.worker_id, 'unknown'), o.attempts, coalesce(o.lease_until, now())
    from public.sms_outbox o
   where o.status = 'sending';
  update public.sms_outbox o
     set status = 'queued', attempts = o.attempts - 1, updated_at = now()
   where o.status = 'sending';
  if v_logged then
    alter table public.sms_outbox enable trigger sms_outbox_log_attempt;
  end if;
end
$$;

drop index public.sms_outbox_lease_idx;
-- A dropped column keeps its column privileges in pg_attribute; take them back first (the sender
-- role's INSERT, granted column by column in 0028, and any a Supabase role was given).
do $$
declare
  g record;
begin
  for g in
    select distinct a.grantee::regrole as grantee
      from pg_attribute at, aclexplode(at.attacl) a
     where at.attrelid = 'public.sms_outbox'::regclass and at.attname = 'lease_until' and a.grantee <> 0
  loop
    execute format('revoke all (lease_until) on public.sms_outbox from %s', g.grantee);
  end loop;
end
$$;
alter table public.sms_outbox drop column lease_until;

comment on column public.sms_outbox.status is
  'queued, sending, sent (accepted by the SMSC), delivered, undelivered, expired, rejected, failed, cancelled; a message a worker is sending stays queued here, with a lease (sms_status shows it sending, sms_sending lists it)';
comment on column public.sms_outbox.attempts is 'submit attempts that ended (the one in flight is counted when its outcome is written)';
comment on column public.sms_outbox.worker_id is 'the worker that made the last attempt';
