-- sms_strip_inherited_grants: strips every privilege the sms_ objects in public and the objects in
-- sms_private carry, apart from their owner's and this database's three roles' (the names in
-- sms_private.roles): PUBLIC's default EXECUTE on functions, and whatever ALTER DEFAULT
-- PRIVILEGES handed out (Supabase, for one, grants everything created in public to anon,
-- authenticated and service_role). Then it puts back the grants Supabase's API roles are meant
-- to have (sms_grant_supabase_roles). `sms-outbox migrate` calls it after applying the files of
-- sql/, so what each file grants our roles, plus Supabase's, is all there is.
create or replace function public.sms_strip_inherited_grants() returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  obj record;
  grantee_name text;
  ours text[];
begin
  select array[r.sender, r.reader, r.worker] into ours from sms_private.roles r;
  for obj in
    select case c.relkind when 'S' then 'sequence' else 'table' end as kind,
           c.oid::regclass::text as name, c.relacl as acl, c.relowner as owner
      from pg_catalog.pg_class c
     where ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\_%')
            or c.relnamespace = 'sms_private'::regnamespace)
       and c.relkind in ('r', 'p', 'v', 'm', 'S')
    union all
    select case p.prokind when 'p' then 'procedure' else 'function' end,
           p.oid::regprocedure::text, p.proacl, p.proowner
      from pg_catalog.pg_proc p
     where (p.pronamespace = 'public'::regnamespace and p.proname like 'sms\_%')
        or p.pronamespace = 'sms_private'::regnamespace
  loop
    execute pg_catalog.format('revoke all on %s %s from public', obj.kind, obj.name);
    for grantee_name in
      select distinct r.rolname
        from pg_catalog.aclexplode(obj.acl) a
        join pg_catalog.pg_roles r on r.oid = a.grantee
       where a.grantee <> obj.owner
         and r.rolname <> all (ours)
    loop
      execute pg_catalog.format('revoke all on %s %s from %I', obj.kind, obj.name, grantee_name);
    end loop;
  end loop;
  -- Put back the grants Supabase's API roles are meant to have.
  if pg_catalog.to_regprocedure('public.sms_grant_supabase_roles()') is not null then
    perform public.sms_grant_supabase_roles();
  end if;
end
$$;

comment on function public.sms_strip_inherited_grants() is
  'sms-outbox: revokes every privilege on the sms_ objects and sms_private that is not their owner''s or one of this database''s three roles'' (Supabase''s default privileges, hand-made grants), then puts back Supabase''s grants; sms-outbox migrate calls it after installing the functions';

-- For the owner of the schema alone.
revoke all on function public.sms_strip_inherited_grants() from public, sms_sender, sms_reader, sms_worker;
