-- sms_private.expire_overdue(max_rows): the housekeeping sweep (the sms_expire task): queued rows
-- past expires_at become `expired`, up to max_rows, skipping rows another transaction holds.
-- Returns how many.
create or replace function sms_private.expire_overdue(max_rows integer) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
declare
  n integer;
begin
  with overdue as (
    select o.id from public.sms_outbox o
     where o.status = 'queued' and o.expires_at <= now()
     limit max_rows
       for update skip locked
  ), expired as (
    update public.sms_outbox o
       set status = 'expired', done_at = now(), error_message = sms_private.error_message('expired'), updated_at = now()
      from overdue where o.id = overdue.id
    returning o.id, sms_private.announce_status(o.id, 'expired')
  )
  select count(*) into n from expired;
  return n;
end
$$;

comment on function sms_private.expire_overdue(integer) is
  'sms-outbox internal: queued rows past expires_at become expired (up to max_rows); returns how many';

revoke all on function sms_private.expire_overdue(integer) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.expire_overdue(integer) to sms_worker;
