-- sms_allow_authenticated_send(enabled): the switch of the opt-in that lets Supabase's
-- authenticated role call sms_send_to_self. true sets sms_self_send_settings.enabled and grants
-- authenticated EXECUTE on sms_send_to_self; false clears both. Only the owner of the sms_
-- objects (the role that migrated: `postgres` on Supabase, as in the SQL editor) may call it.
-- Returns the new state.
create or replace function public.sms_allow_authenticated_send(enabled boolean)
returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if enabled is null then
    raise exception 'enabled must be true or false'
      using errcode = '22004', column = 'enabled';
  end if;
  if enabled then
    if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
      raise exception 'there is no role "authenticated": sms_allow_authenticated_send is for Supabase (or PostgREST with Supabase''s role names)'
        using errcode = '42704';
    end if;
    if (select s.phone_source from public.sms_self_send_settings s) = 'auth.users'
       and pg_catalog.to_regclass('auth.users') is null then
      raise exception 'sms_self_send_settings.phone_source is ''auth.users'' but this database has no auth.users table'
        using errcode = '55000',
              hint = 'set phone_source = ''jwt'' first, and only if your tokens carry verified phone numbers only';
    end if;
  end if;
  update public.sms_self_send_settings s set enabled = sms_allow_authenticated_send.enabled;
  perform public.sms_grant_supabase_roles();
  return enabled;
end
$$;

comment on function public.sms_allow_authenticated_send(boolean) is
  'sms-outbox: switches the opt-in that lets Supabase''s authenticated role call sms_send_to_self (own verified phone, rate-limited); off by default';

-- For the owner of the schema alone.
revoke all on function public.sms_allow_authenticated_send(boolean) from public, sms_sender, sms_reader, sms_worker;
