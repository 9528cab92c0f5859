-- sms_private.expire_overdue(max_rows): the housekeeping sweep (the sms_expire task): queued rows
-- past expires_at become `expired`, up to max_rows, skipping rows another transaction holds and
-- rows a worker is sending (a lease in sms_private.outbox_lease: their outcome decides). As
-- sms_cancel, it takes each row's lease for its own transaction (on conflict, the row is left
-- alone), so a claim that committed after this statement's snapshot is seen. Returns how many.
create or replace function sms_private.expire_overdue(max_rows integer) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
  n integer;
begin
  with overdue as (
    select o.id from public.sms_outbox o
     where o.status = 'queued' and o.expires_at <= now()
       and not exists (select from sms_private.outbox_lease l where l.outbox_id = o.id)
     limit max_rows
       for update skip locked
  ), guarded as (
    insert into sms_private.outbox_lease (outbox_id, worker_id, attempt, lease_until)
    select overdue.id, '(sms_expire)', 0, now() from overdue
    on conflict (outbox_id) do nothing
    returning outbox_id as id
  ), expired as (
    update public.sms_outbox o
       set status = 'expired', done_at = now(), error_message = sms_private.error_message('expired'), updated_at = now()
      from guarded where o.id = guarded.id
    returning o.id, sms_private.announce_status(o.id, 'expired')
  )
  select count(*) into n from expired;
  -- This transaction's own guards (another's uncommitted ones are not visible to it).
  delete from sms_private.outbox_lease l where l.worker_id = '(sms_expire)';
  return n;
end
$$;

comment on function sms_private.expire_overdue(integer) is
  'sms-outbox internal: queued rows past expires_at become expired (up to max_rows); returns how many';

revoke all on function sms_private.expire_overdue(integer) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.expire_overdue(integer) to sms_worker;
