-- sms-outbox 0016: two fixes of the surface.
--
-- 1. sms_cancel announces `cancelled` on channel sms_status, like every other move to a final
--    status (0007): an app waiting on LISTEN for its message's end heard nothing of a cancel.
-- 2. Supabase: the service role may read sms_outbox, sms_inbox and sms_stats over the REST API
--    when the operator switches it on with sms_allow_service_role_read(true). A plain
--    `grant select ... to service_role` did not last: every migration strips the grants the
--    sms_ objects carry for roles other than ours (Supabase's default privileges hand everything
--    in public to anon, authenticated and service_role), and a grant made by hand looks the same.
--    The switch is kept in sms_settings, and sms_grant_supabase_roles(), which runs after every
--    strip and every `sms-outbox migrate`, grants or revokes accordingly.


-- 1. sms_cancel -----------------------------------------------------------------------------------

create or replace function public.sms_cancel(id uuid) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_admin boolean := sms_private.caller_is_admin();
begin
  if sms_cancel.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  update public.sms_outbox o
     set status = 'cancelled', done_at = now(), updated_at = now()
   where o.id = sms_cancel.id
     and o.status = 'queued'
     and (o.owner = v_owner or v_admin);
  if not found then
    return false;
  end if;
  -- Delivered at commit, like the worker's announcements; nothing on rollback.
  perform pg_notify('sms_status', json_build_object('id', sms_cancel.id, 'status', 'cancelled')::text);
  return true;
end
$$;


-- 2. The service role's table reads on Supabase ------------------------------------------------

alter table public.sms_settings
  add column service_role_reads_tables boolean not null default false;

comment on column public.sms_settings.service_role_reads_tables is
  'Supabase: service_role may SELECT sms_outbox, sms_inbox and sms_stats (REST API); set by sms_allow_service_role_read(), kept across migrations';

create or replace function public.sms_grant_supabase_roles() returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  f text;
  users_see boolean;
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    for f in
      select p.oid::regprocedure::text
        from pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, sms_private.roles r
       where p.pronamespace = 'public'::regnamespace
         and p.proname like 'sms\_%'
         and a.grantee = pg_catalog.to_regrole(r.sender)
         and a.privilege_type = 'EXECUTE'
    loop
      execute pg_catalog.format('grant execute on function %s to service_role', f);
    end loop;
    grant execute on function public.sms_auth_code_status(text, uuid) to service_role;
    grant select on public.sms_auth_code to service_role;
    if coalesce((select s.service_role_reads_tables from public.sms_settings s), false) then
      grant select on public.sms_outbox, public.sms_inbox, public.sms_stats to service_role;
    else
      revoke select on public.sms_outbox, public.sms_inbox, public.sms_stats from service_role;
    end if;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    if coalesce((select s.enabled from public.sms_self_send_settings s), false) then
      grant execute on function public.sms_send_to_self(text, text) to authenticated;
    else
      revoke execute on function public.sms_send_to_self(text, text) from authenticated;
    end if;
    users_see := coalesce((select s.users_see_own_codes from public.sms_auth_hook_settings s), false);
    if users_see then
      if not exists (select from pg_catalog.pg_policy p
                      where p.polrelid = 'public.sms_auth_code'::regclass and p.polname = 'sms_auth_code_own_select') then
        create policy sms_auth_code_own_select on public.sms_auth_code for select to authenticated
          using (user_id::text = pg_catalog.lower(coalesce(
                   nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
                   nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')));
      end if;
      grant select on public.sms_auth_code to authenticated;
    else
      revoke select on public.sms_auth_code from authenticated;
      drop policy if exists sms_auth_code_own_select on public.sms_auth_code;
    end if;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    grant execute on function public.sms_auth_send_sms_hook(jsonb) to supabase_auth_admin;
    if pg_catalog.pg_has_role(current_user, (select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'public'), 'USAGE') then
      grant usage on schema public to supabase_auth_admin;
    end if;
  end if;
end
$$;

-- sms_allow_service_role_read(enabled): the switch, for the owner of the sms_ objects (the role
-- that migrated: `postgres` on Supabase, as in the SQL editor). Returns the new state.
create function public.sms_allow_service_role_read(enabled boolean)
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
  'sms-outbox: lets Supabase''s service_role SELECT sms_outbox, sms_inbox and sms_stats (the REST API), or stops it; kept across migrations; off by default';

select public.sms_strip_inherited_grants();
