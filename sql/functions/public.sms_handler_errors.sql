-- sms_handler_errors: the caller's failed reply handler calls (every one for the reader role and
-- the owner of the schema), newest first, with the SMS's sender and text: what to fix before
-- sms_handler_replay.
create or replace function public.sms_handler_errors()
returns table (id bigint, inbox_id uuid, rule_id bigint, handler regprocedure, failed_at timestamptz, error_code text,
               error_message text, error_context text, attempts integer, replay_requested_at timestamptz,
               sender text, body text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_all boolean := sms_private.caller_sees_all();
begin
  return query
    select e.id, e.inbox_id, e.rule_id, r.handler, e.failed_at, e.error_code, e.error_message, e.error_context,
           e.attempts, e.replay_requested_at, i.sender, i.body
      from public.sms_handler_error e
      join public.sms_inbound_rule r on r.id = e.rule_id
      join public.sms_inbox i on i.id = e.inbox_id
     where v_all or e.owner = v_owner
     order by e.failed_at desc, e.id desc;
end
$$;

comment on function public.sms_handler_errors() is
  'sms-outbox: the caller''s failed reply handler calls (all of them for the reader role), newest first';

revoke all on function public.sms_handler_errors() from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_handler_errors() to sms_sender, sms_reader;
