-- sms_private.outbox_log_attempt: every status change of a message that came with an error goes
-- to sms_outbox_attempt (a transient error put back in the queue, a permanent one, a refusal, a
-- receipt saying not delivered); the message row keeps only its last error. The trigger's WHEN is
-- false for every change without an error, so the path of a delivered message pays one comparison
-- per update. An attempt's end is the write that counts it (attempts changes: the submit outcome,
-- a lapsed lease taken back; the status may stay queued, since a claim writes no row, migration
-- 0034), or a move to a final status with an error.
create or replace function sms_private.outbox_log_attempt() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into public.sms_outbox_attempt (outbox_id, attempt, status, error_code, error_message)
  values (new.id, new.attempts, new.status, new.error_code, new.error_message);
  return null;
end
$$;

comment on function sms_private.outbox_log_attempt() is
  'sms-outbox internal: logs a status change that came with an error in sms_outbox_attempt (trigger on sms_outbox)';

drop trigger if exists sms_outbox_log_attempt on public.sms_outbox;
create trigger sms_outbox_log_attempt
  after update of status, attempts on public.sms_outbox
  for each row
  when (new.error_code is not null and new.status <> 'sent'
        and (old.attempts is distinct from new.attempts
             or (old.status is distinct from new.status and new.status in ('undelivered', 'expired', 'rejected', 'failed'))))
  execute function sms_private.outbox_log_attempt();

-- A trigger function: nobody calls it.
revoke all on function sms_private.outbox_log_attempt() from public, sms_sender, sms_reader, sms_worker;
