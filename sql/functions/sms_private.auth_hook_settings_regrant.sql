-- sms_private.auth_hook_settings_regrant: switching sms_auth_hook_settings.users_see_own_codes
-- grants or revokes at once (sms_grant_supabase_roles).
create or replace function sms_private.auth_hook_settings_regrant() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform public.sms_grant_supabase_roles();
  return null;
end
$$;

comment on function sms_private.auth_hook_settings_regrant() is
  'sms-outbox internal: applies a change of users_see_own_codes at once (trigger sms_auth_hook_settings_regrant)';

drop trigger if exists sms_auth_hook_settings_regrant on public.sms_auth_hook_settings;
create trigger sms_auth_hook_settings_regrant
  after update of users_see_own_codes on public.sms_auth_hook_settings
  for each row when (old.users_see_own_codes is distinct from new.users_see_own_codes)
  execute function sms_private.auth_hook_settings_regrant();

-- A trigger function: nobody calls it.
revoke all on function sms_private.auth_hook_settings_regrant() from public, sms_sender, sms_reader, sms_worker;
