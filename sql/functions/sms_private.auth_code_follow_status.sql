-- sms_private.auth_code_follow_status: the status of a sign-in code's message, copied to its
-- sms_auth_code row when it changes (by the worker, sms_cancel, the expiry sweep). The trigger's
-- condition is tested on every status change of sms_outbox; it costs the other messages a look at
-- their metadata, which is NULL for most.
create or replace function sms_private.auth_code_follow_status() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update public.sms_auth_code c
     set status = new.status, updated_at = now()
   where c.outbox_id = new.id
     and c.status is distinct from new.status;
  return null;
end
$$;

comment on function sms_private.auth_code_follow_status() is
  'sms-outbox internal: copies a sign-in code''s message status to sms_auth_code (trigger sms_auth_code_follow_status)';

drop trigger if exists sms_auth_code_follow_status on public.sms_outbox;
create trigger sms_auth_code_follow_status
  after update of status on public.sms_outbox
  for each row
  when (old.status is distinct from new.status and (new.metadata ->> 'via') = 'supabase_auth_hook')
  execute function sms_private.auth_code_follow_status();

-- A trigger function: nobody calls it.
revoke all on function sms_private.auth_code_follow_status() from public, sms_sender, sms_reader, sms_worker;
