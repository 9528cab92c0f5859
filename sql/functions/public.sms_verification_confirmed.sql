-- sms_verification_confirmed(phone): for an app that checks sign-in codes itself (rather than
-- Supabase Auth, whose confirmations the trigger on auth.users counts): the person holding this
-- phone typed the right code. The codes of this number the sign-in hook sent that are still
-- within their validity count as confirmed for the pumping defence (a range whose codes are
-- confirmed is a range of real people). Returns true when a code was counted; false when none
-- was waiting (already confirmed, expired, or never sent by the hook). A number that is not a
-- plausible international one is sms_send's 22xxx error. Call it once the code checked out,
-- in the same transaction as what the sign-in changes.
create or replace function public.sms_verification_confirmed(phone text)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return sms_private.pumping_confirm(sms_private.check_recipient(sms_verification_confirmed.phone), sms_private.pumping_now()) > 0;
end
$$;

comment on function public.sms_verification_confirmed(text) is
  'sms-outbox: the app checked a sign-in code itself and it was right: the phone''s codes within their validity count as confirmed for the pumping defence; true when one was counted';

-- The sender role (the app's server code), and through it service_role on Supabase: it feeds the
-- defence, so never anon or authenticated (a browser could vouch for a range of its own).
revoke all on function public.sms_verification_confirmed(text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_verification_confirmed(text) to sms_sender;
