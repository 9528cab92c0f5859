-- sms_grant_supabase_roles: Supabase serves every table and function in schema public over HTTP
-- (PostgREST) to three roles: anon (the browser key), authenticated (a signed-in user's JWT) and
-- service_role (the secret server key). Supabase creates them NOINHERIT: a role they are members
-- of lends them nothing unless they SET ROLE to it, and PostgREST only ever sets the JWT's role.
-- So membership in sms_sender would not let service_role call sms_send; it gets the grants it
-- needs directly, in this database:
--   service_role         EXECUTE on every function the sender role may call, INSERT on the
--                        sms_outbox columns the sender role may insert and SELECT on its id (an
--                        app's INSERT, by sms_send's rules), EXECUTE on
--                        sms_auth_code_status, SELECT on sms_auth_code (for Realtime from server
--                        code), and SELECT on sms_outbox, sms_inbox, sms_stats and sms_sending
--                        while sms_settings.service_role_reads_tables (sms_allow_service_role_read)
--   authenticated        EXECUTE on sms_send_to_self while the opt-in is on
--                        (sms_allow_authenticated_send), and SELECT on its own rows of
--                        sms_auth_code while sms_auth_hook_settings.users_see_own_codes
--   supabase_auth_admin  EXECUTE on the Send SMS Hook (and USAGE on schema public, which
--                        Supabase Auth needs to reach it, where this role may grant it)
-- anon gets nothing. Idempotent; a no-op for the roles that do not exist (plain PostgreSQL). Called
-- by sms_strip_inherited_grants() after stripping, by the switches, and by `sms-outbox migrate` on
-- every run, so roles created after the install are picked up by the next migrate. (The other
-- functions are named as routines here: `grep -w` for a function's definition then finds its own
-- file alone.)
create or replace function public.sms_grant_supabase_roles() returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  f text;
  cols text;
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
    -- An app's INSERT INTO sms_outbox (sms_send's rules, trigger sms_outbox_insert): the sender
    -- role's column privileges, and SELECT on id for RETURNING id (service_role bypasses row
    -- level security: no policy needed).
    select pg_catalog.string_agg(pg_catalog.quote_ident(at.attname::text), ', ' order by at.attnum) into cols
      from pg_catalog.pg_attribute at, pg_catalog.aclexplode(at.attacl) a, sms_private.roles r
     where at.attrelid = 'public.sms_outbox'::regclass
       and not at.attisdropped                            -- a dropped column keeps its privileges (0034's lease_until)
       and a.grantee = pg_catalog.to_regrole(r.sender)
       and a.privilege_type = 'INSERT';
    if cols is not null then
      execute pg_catalog.format('grant insert (%s) on public.sms_outbox to service_role', cols);
    end if;
    grant execute on routine public.sms_auth_code_status(text, uuid) to service_role;
    grant select on public.sms_auth_code to service_role;
    if coalesce((select s.service_role_reads_tables from public.sms_settings s), false) then
      -- sms_stats reads sms_settings (receipt_grace) and the leases (sending, migration 0034)
      -- with the caller's rights, and so does sms_sending (the messages being sent, whose
      -- sms_outbox row still says queued).
      grant select on public.sms_outbox, public.sms_inbox, public.sms_stats, public.sms_sending, public.sms_settings to service_role;
      grant select on sms_private.outbox_lease to service_role;
    else
      revoke select on public.sms_outbox, public.sms_inbox, public.sms_stats, public.sms_sending, public.sms_settings from service_role;
      revoke select on sms_private.outbox_lease from service_role;
    end if;
    grant select (id) on public.sms_outbox to service_role;     -- after a revoke on the table, which takes it too
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    if coalesce((select s.enabled from public.sms_self_send_settings s), false) then
      grant execute on routine public.sms_send_to_self(text, text) to authenticated;
    else
      revoke execute on routine public.sms_send_to_self(text, text) from authenticated;
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
      -- Only when it is there: `drop policy if exists` would print "NOTICE: policy ... does not
      -- exist, skipping" on every call (every migrate, every switch in the SQL editor), which
      -- reads like an error.
      if exists (select from pg_catalog.pg_policy p
                  where p.polrelid = 'public.sms_auth_code'::regclass and p.polname = 'sms_auth_code_own_select') then
        drop policy sms_auth_code_own_select on public.sms_auth_code;
      end if;
    end if;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    grant execute on routine public.sms_auth_send_sms_hook(jsonb) to supabase_auth_admin;
    if pg_catalog.pg_has_role(current_user, (select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'public'), 'USAGE') then
      grant usage on schema public to supabase_auth_admin;
    end if;
  end if;
end
$$;

comment on function public.sms_grant_supabase_roles() is
  'sms-outbox: Supabase''s roles, where they exist: service_role EXECUTE on the sender functions and sms_auth_code_status, the sender role''s INSERT on sms_outbox with SELECT on its id, and SELECT on sms_auth_code; authenticated EXECUTE on sms_send_to_self and its own sms_auth_code rows while opted in; supabase_auth_admin EXECUTE on sms_auth_send_sms_hook. sms-outbox migrate calls it on every run';

-- For the owner of the schema alone.
revoke all on function public.sms_grant_supabase_roles() from public, sms_sender, sms_reader, sms_worker;
