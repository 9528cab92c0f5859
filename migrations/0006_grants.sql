-- sms-outbox 0006: who may do what.
--
--   sms_sender  EXECUTE sms_send, sms_cancel, sms_status, sms_segments; nothing else
--   sms_reader  SELECT sms_outbox, sms_inbox, sms_stats
--   sms_worker  sms_outbox: SELECT, DELETE, and UPDATE of the delivery columns only (rows are
--               created by sms_send alone, which validated what the app supplied);
--               SELECT/INSERT/UPDATE/DELETE on the other sms_ tables except sms_settings,
--               which it may only read; plus Graphile Worker's schema, granted by
--               sms_grant_worker_graphile()
--
-- Apps get no INSERT/UPDATE/DELETE on any table: every write goes through the functions and
-- their validation. Grant a role to an app's login role, e.g. grant sms_sender to my_app;

-- First strip every privilege these objects were born with, apart from their owner's: PUBLIC's
-- default EXECUTE on functions, and whatever ALTER DEFAULT PRIVILEGES handed out (Supabase, for
-- one, grants everything created in public to anon, authenticated and service_role). Grants to
-- our own three roles are left alone, so later migrations call it again for the objects they
-- add without undoing earlier grants.
create function public.sms_strip_inherited_grants() returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  obj record;
  grantee_name text;
begin
  for obj in
    select case c.relkind when 'S' then 'sequence' else 'table' end as kind,
           c.oid::regclass::text as name, c.relacl as acl, c.relowner as owner
      from pg_catalog.pg_class c
     where c.relnamespace = 'public'::regnamespace
       and c.relname like 'sms\_%'
       and c.relkind in ('r', 'p', 'v', 'm', 'S')
    union all
    select case p.prokind when 'p' then 'procedure' else 'function' end,
           p.oid::regprocedure::text, p.proacl, p.proowner
      from pg_catalog.pg_proc p
     where p.pronamespace = 'public'::regnamespace
       and p.proname like 'sms\_%'
  loop
    execute pg_catalog.format('revoke all on %s %s from public', obj.kind, obj.name);
    for grantee_name in
      select distinct r.rolname
        from pg_catalog.aclexplode(obj.acl) a
        join pg_catalog.pg_roles r on r.oid = a.grantee
       where a.grantee <> obj.owner
         and r.rolname not in ('sms_sender', 'sms_reader', 'sms_worker')
    loop
      execute pg_catalog.format('revoke all on %s %s from %I', obj.kind, obj.name, grantee_name);
    end loop;
  end loop;
  -- From 0008 on: put back the grants Supabase's API roles are meant to have, so stripping their
  -- default privileges in a later migration cannot take those away.
  if pg_catalog.to_regprocedure('public.sms_grant_supabase_roles()') is not null then
    perform public.sms_grant_supabase_roles();
  end if;
end
$$;
select public.sms_strip_inherited_grants();

-- The sender role: the four functions, nothing else.
grant execute on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb) to sms_sender;
grant execute on function public.sms_cancel(uuid) to sms_sender;
grant execute on function public.sms_status(uuid) to sms_sender;
grant execute on function public.sms_segments(text) to sms_sender;

-- The reader role.
grant select on public.sms_outbox, public.sms_inbox, public.sms_stats to sms_reader;

-- The worker role. It inserts rows whose defaults call sms_uuidv7() (sms_inbox.id), and its
-- metrics read sms_stats.
grant select, delete on public.sms_outbox to sms_worker;
grant update (status, attempts, next_attempt_at, lease_until, worker_id, submitted_at, done_at,
              message_ids, error_code, error_message, receipt_state, receipt_error, updated_at)
  on public.sms_outbox to sms_worker;
grant select, insert, update, delete on
  public.sms_outbox_part, public.sms_receipt, public.sms_inbox, public.sms_inbox_part, public.sms_wakeup
  to sms_worker;
grant select on public.sms_settings, public.sms_stats to sms_worker;
grant execute on function public.sms_uuidv7() to sms_worker;

-- The roles need USAGE on schema public. PostgreSQL grants it to PUBLIC by default; a hardened
-- database may have revoked that, so grant it where this role is allowed to (it owns the schema,
-- directly or through pg_database_owner).
do $$
begin
  if pg_catalog.pg_has_role(current_user, (select nspowner from pg_catalog.pg_namespace where nspname = 'public'), 'USAGE') then
    grant usage on schema public to sms_sender, sms_reader, sms_worker;
  end if;
end
$$;
