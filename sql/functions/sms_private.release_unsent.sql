-- sms_private.release_unsent(worker_id, claims): sending → queued for rows this worker claimed and
-- never submitted (it is shutting down), undoing the attempt, and wakes the other workers for
-- them. `claims` is a JSON array of {"id", "attempts"}: only rows still held by worker_id at that
-- attempt move. Returns how many did.
--
-- The worker's writes are fenced on "still held by this worker at this attempt", written as
-- worker_id, attempts and `lease_until is not null`: lease_until is set exactly while a row is
-- `sending` (every statement that moves a row in or out of sending sets or clears it; the tests
-- check the invariant; a CHECK constraint would cost every sms_send insert). Naming the status
-- instead would let the planner pick the partial index of sending rows, which on a busy queue is
-- mostly dead entries it cannot see; this way each row is reached through the primary key.
create or replace function sms_private.release_unsent(worker_id text, claims jsonb) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
declare
  n integer;
begin
  with released as (
    update public.sms_outbox o
       set status = 'queued', attempts = o.attempts - 1, lease_until = null, worker_id = null, updated_at = now()
      from jsonb_to_recordset(claims) as r(id uuid, attempts int)
     where o.id = r.id and o.worker_id = release_unsent.worker_id and o.attempts = r.attempts and o.lease_until is not null
    returning o.id
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
