-- sms_opt_in: marketing messages to this recipient again. It overrides what the recipient asked
-- by SMS (a stop keyword), so it is the owner's alone unless granted
-- (grant execute on routine sms_opt_in(text) to my_app;). Returns true when the recipient was
-- opted out; a bad number is the 22xxx error of sms_send's recipient.
create or replace function public.sms_opt_in(recipient text) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return sms_private.change_opt_out(false, sms_private.check_recipient(sms_opt_in.recipient), 'operator', null, null,
                                    sms_private.caller_owner());
end
$$;

comment on function public.sms_opt_in(text) is
  'sms-outbox: marketing messages to this recipient again; true when it was opted out';

-- For the owner of the schema alone.
revoke all on function public.sms_opt_in(text) from public, sms_sender, sms_reader, sms_worker;
