-- sms_handler_replay: marks one of the caller's failed reply handler calls (sms_handler_error;
-- all of them without an id) to be made again, and asks Graphile Worker to run sms_reconcile
-- now (it runs every minute anyway). The worker then calls the handler the way it first did, in
-- a transaction of its own, with the SMS as stored and the rule as it is now, and deletes the row
-- when the call succeeds; a call that fails again stays with the new error and one more attempt.
-- A handler's effects are committed once: the row is locked while its call runs. Returns how
-- many rows it marked; an id that is not one of the caller's is 22023, as an unknown one. The
-- owner of the schema may mark every row.
create or replace function public.sms_handler_replay(id bigint default null) returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_admin boolean := sms_private.caller_is_admin();
  marked integer;
begin
  update public.sms_handler_error e
     set replay_requested_at = now()
   where (sms_handler_replay.id is null or e.id = sms_handler_replay.id)
     and (v_admin or e.owner = v_owner);
  get diagnostics marked = row_count;
  if sms_handler_replay.id is not null and marked = 0 then
    raise exception 'sms_handler_replay: id %: no such failed handler call of yours in sms_handler_error', sms_handler_replay.id
      using errcode = '22023', column = 'id';
  end if;
  if marked > 0 and pg_catalog.to_regnamespace('graphile_worker') is not null then
    perform graphile_worker.add_job('sms_reconcile', job_key => 'sms_handler_replay');
  end if;
  return marked;
end
$$;

comment on function public.sms_handler_replay(bigint) is
  'sms-outbox: marks one of the caller''s failed reply handler calls (all without an id) for the worker to make again; returns the rows marked';

revoke all on function public.sms_handler_replay(bigint) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_handler_replay(bigint) to sms_sender;
