-- sms_private.release_unsent(worker_id, claims): sending → queued for rows this worker claimed and
-- never submitted (it is shutting down): their leases go, so the attempt is not counted, and the
-- other workers are woken for them. `claims` is a JSON array of {"id", "attempts"}: only rows
-- still held by worker_id at that attempt move. Returns how many did.
--
-- Every write of the worker's about a claimed row is fenced this way, on its lease in
-- sms_private.outbox_lease (migration 0034): the lease is deleted by the statement that writes the
-- outcome, and a row whose lease is gone or belongs to another worker or attempt (it lapsed and
-- was taken back, maybe claimed again) is left alone.
create or replace function sms_private.release_unsent(worker_id text, claims jsonb) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
  n integer;
begin
  with released as (
    delete from sms_private.outbox_lease l
     using jsonb_to_recordset(claims) as r(id uuid, attempts int)
     where l.outbox_id = r.id and l.worker_id = release_unsent.worker_id and l.attempt = r.attempts
    returning l.outbox_id
  )
  select count(*) into n from released;
  if n > 0 then
    perform sms_private.wake_workers();
  end if;
  return n;
end
$$;

comment on function sms_private.release_unsent(text, jsonb) is
  'sms-outbox internal: sending rows this worker never submitted go back to the queue (the attempt undone); returns how many';

revoke all on function sms_private.release_unsent(text, jsonb) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.release_unsent(text, jsonb) to sms_worker;
