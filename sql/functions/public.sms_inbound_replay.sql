-- sms_inbound_replay: incoming PDUs Postgres refused to store are parked in sms_inbound_parked
-- with their error (src/db/parked.ts). This marks one parked row (or all of them, with no
-- argument) for replay and asks Graphile Worker to run sms_reconcile now (it runs every minute
-- anyway), which stores each marked row the way the worker would have and deletes it; a row that
-- fails again stays parked with the new error and one more attempt. Returns how many rows were
-- marked. For the operator (the owner of the schema).
create or replace function public.sms_inbound_replay(parked_id bigint default null) returns integer
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  marked integer;
begin
  update public.sms_inbound_parked
     set replay_requested_at = pg_catalog.now()
   where sms_inbound_replay.parked_id is null or id = sms_inbound_replay.parked_id;
  get diagnostics marked = row_count;
  if sms_inbound_replay.parked_id is not null and marked = 0 then
    raise exception 'sms_inbound_replay: parked_id %: no such row in sms_inbound_parked', sms_inbound_replay.parked_id
      using errcode = '22023';
  end if;
  if marked > 0 and pg_catalog.to_regnamespace('graphile_worker') is not null then
    perform graphile_worker.add_job('sms_reconcile', job_key => 'sms_inbound_replay');
  end if;
  return marked;
end
$$;

comment on function public.sms_inbound_replay(bigint) is
  'sms-outbox: replays a parked inbound row (all of them when called without an id) through the worker; returns the rows marked';

-- For the owner of the schema alone.
revoke all on function public.sms_inbound_replay(bigint) from public, sms_sender, sms_reader, sms_worker;
