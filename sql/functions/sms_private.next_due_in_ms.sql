-- sms_private.next_due_in_ms(): how long until the next queued row falls due (its earliest
-- next_attempt_at), in milliseconds by Postgres's clock, 0 when one is due now, NULL when none is
-- queued. One index probe per priority level, as the claim; rows a worker is sending (a lease,
-- migration 0034) are not waiting, so they do not count.
create or replace function sms_private.next_due_in_ms() returns double precision
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select sms_private.ms_until(min(c.next_attempt_at))
    from generate_series(10, -10, -1) as p(priority)
    cross join lateral (
      select o.next_attempt_at from public.sms_outbox o
       where o.status = 'queued' and o.priority = p.priority
         and not exists (select from sms_private.outbox_lease l where l.outbox_id = o.id)
       order by o.next_attempt_at limit 1
    ) c
$$;

comment on function sms_private.next_due_in_ms() is
  'sms-outbox internal: milliseconds until the next queued row falls due (0: now; NULL: none queued)';

revoke all on function sms_private.next_due_in_ms() from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.next_due_in_ms() to sms_worker;
