-- sms_private.reclaim_expired_leases(): takes back rows whose worker stopped renewing its lease
-- (killed, frozen, cut off): the lease goes (sending → queued), the attempt is counted and the row
-- is due now (every worker is woken), or it becomes failed (LEASE_EXPIRED) when its attempts
-- since the last sms_retry are used up. Any worker runs this every few seconds. Returns how many
-- rows went back to the queue and how many failed. A crash of Postgres needs none of this: it
-- empties the unlogged table of leases (migration 0034), and those rows are queued and due.
create or replace function sms_private.reclaim_expired_leases(out requeued integer, out failed integer)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
set jit = off
as $$
begin
  with lapsed as (
    delete from sms_private.outbox_lease l
     where l.lease_until < now()
    returning l.outbox_id as id, l.attempt
  ), taken as (
    update public.sms_outbox o
       set status = case when l.attempt - o.attempts_at_retry >= s.max_attempts then 'failed' else 'queued' end,
           done_at = case when l.attempt - o.attempts_at_retry >= s.max_attempts then now() end,
           error_code = case when l.attempt - o.attempts_at_retry >= s.max_attempts then 'LEASE_EXPIRED' else o.error_code end,
           error_message = case when l.attempt - o.attempts_at_retry >= s.max_attempts
                                then 'gave up after ' || (l.attempt - o.attempts_at_retry) || ' attempts: the worker holding it stopped (lease expired)'
                                else o.error_message end,
           attempts = l.attempt,
           next_attempt_at = now(),
           updated_at = now()
      from lapsed l, public.sms_settings s
     where o.id = l.id and o.status = 'queued'
    returning o.status, case when o.status = 'failed' then sms_private.announce_status(o.id, o.status) end
  )
  select count(*) filter (where t.status = 'queued'), count(*) filter (where t.status = 'failed')
    into requeued, failed
    from taken t;
  if requeued > 0 then
    perform sms_private.wake_workers();
  end if;
end
$$;

comment on function sms_private.reclaim_expired_leases() is
  'sms-outbox internal: sending rows whose lease lapsed go back to the queue (or fail when out of attempts); returns how many of each';

revoke all on function sms_private.reclaim_expired_leases() from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.reclaim_expired_leases() to sms_worker;
