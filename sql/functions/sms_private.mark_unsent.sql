-- sms_private.mark_unsent(worker_id, results): sending → failed (a permanent error), or → queued
-- after its back-off (a transient error, an unknown outcome), or → failed when
-- sms_settings.max_attempts are used up (counted since the last sms_retry: attempts_at_retry).
-- `results` is a JSON array of {"id", "attempts", "permanent", "code", "message", "delay_ms"};
-- only rows still held by worker_id at that attempt move (fenced on their lease, as
-- sms_private.release_unsent says); the attempt is counted in sms_outbox.attempts. Rows queued
-- again wake every worker for their due time (sms_private.wake_workers).
-- Returns each row that changed with its new status, and on every row due_in_ms: when the
-- soonest row put back in the queue falls due (NULL when none was).
create or replace function sms_private.mark_unsent(worker_id text, results jsonb)
returns table (id uuid, status text, due_in_ms double precision)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
set jit = off
as $$
#variable_conflict use_column
declare
  v_ids uuid[];
  v_statuses text[];
  v_due double precision;
begin
  -- final: a permanent error, or the attempts since the last sms_retry used up.
  with r as (
    select r.*, s.max_attempts
      from jsonb_to_recordset(mark_unsent.results) as r(id uuid, attempts int, permanent boolean, code text, message text, delay_ms int),
           public.sms_settings s
  ), held as (
    delete from sms_private.outbox_lease l
     using r
     where l.outbox_id = r.id and l.worker_id = mark_unsent.worker_id and l.attempt = r.attempts
    returning l.outbox_id as id
  ), changed as (
    update public.sms_outbox o
       set status = case when r.permanent or r.attempts - o.attempts_at_retry >= r.max_attempts then 'failed' else 'queued' end,
           done_at = case when r.permanent or r.attempts - o.attempts_at_retry >= r.max_attempts then now() end,
           next_attempt_at = case when r.permanent or r.attempts - o.attempts_at_retry >= r.max_attempts then o.next_attempt_at
                                  else now() + r.delay_ms * interval '1 millisecond' end,
           error_code = r.code,
           error_message = case when not r.permanent and r.attempts - o.attempts_at_retry >= r.max_attempts
                                then 'gave up after ' || (r.attempts - o.attempts_at_retry) || ' attempts: ' || r.message
                                else r.message end,
           attempts = r.attempts,
           worker_id = mark_unsent.worker_id,
           updated_at = now()
      from r join held using (id)
     where o.id = r.id
    returning o.id, o.status, o.next_attempt_at,
              case when o.status = 'failed' then sms_private.announce_status(o.id, o.status) end
  )
  select array_agg(c.id), array_agg(c.status), sms_private.ms_until(min(c.next_attempt_at) filter (where c.status = 'queued'))
    into v_ids, v_statuses, v_due
    from changed c;
  if v_due is not null then
    perform sms_private.wake_workers(v_due);
  end if;
  return query select u.id, u.status, v_due from unnest(v_ids, v_statuses) as u(id, status);
end
$$;

comment on function sms_private.mark_unsent(text, jsonb) is
  'sms-outbox internal: sending rows this worker holds that were not accepted become failed, or queued again after their back-off; returns them and when the soonest is due';

revoke all on function sms_private.mark_unsent(text, jsonb) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.mark_unsent(text, jsonb) to sms_worker;
