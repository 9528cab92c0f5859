-- sms_opt_out: no more marketing messages to this recipient (sms_send's category 'marketing').
-- For operators and apps: an app's unsubscribe link calls it (the sender role may). Returns true
-- when it changed the recipient's state, false when it already was so; a bad number is the 22xxx
-- error of sms_send's recipient. Logged in sms_opt_out_log with the caller as actor.
create or replace function public.sms_opt_out(recipient text) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return sms_private.change_opt_out(true, sms_private.check_recipient(sms_opt_out.recipient), 'operator', null, null,
                                    sms_private.caller_owner());
end
$$;

comment on function public.sms_opt_out(text) is
  'sms-outbox: no more marketing messages to this recipient; true when it was not opted out before';

revoke all on function public.sms_opt_out(text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_opt_out(text) to sms_sender;
