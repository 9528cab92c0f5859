-- sms_allow_service_role_read(enabled): Supabase's service role may read sms_outbox, sms_inbox,
-- sms_stats and sms_sending over the REST API while this is on. A plain `grant select ... to service_role`
-- would not last: sms_strip_inherited_grants() takes back every grant the sms_ objects carry for
-- roles other than ours (Supabase's default privileges hand everything in public to anon,
-- authenticated and service_role), and a grant made by hand looks the same. So the switch is
-- kept in sms_settings.service_role_reads_tables, and sms_grant_supabase_roles(), which runs
-- after every strip and every `sms-outbox migrate`, grants or revokes accordingly. For the owner
-- of the sms_ objects (the role that migrated: `postgres` on Supabase). Returns the new state.
create or replace function public.sms_allow_service_role_read(enabled boolean)
returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if enabled is null then
    raise exception 'enabled must be true or false'
      using errcode = '22004', column = 'enabled';
  end if;
  if enabled and not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    raise exception 'there is no role "service_role": sms_allow_service_role_read is for Supabase (or PostgREST with Supabase''s role names)'
      using errcode = '42704';
  end if;
  update public.sms_settings s set service_role_reads_tables = sms_allow_service_role_read.enabled;
  perform public.sms_grant_supabase_roles();
  return enabled;
end
$$;

comment on function public.sms_allow_service_role_read(boolean) is
  'sms-outbox: lets Supabase''s service_role SELECT sms_outbox, sms_inbox, sms_stats and sms_sending (the REST API), or stops it; kept across migrations; off by default';

-- For the owner of the schema alone.
revoke all on function public.sms_allow_service_role_read(boolean) from public, sms_sender, sms_reader, sms_worker;
