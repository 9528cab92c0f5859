-- sms_private.move_role_grants(old, new): every privilege `old` holds in this database on
-- sms-outbox's objects (the sms_ tables, views, sequences and functions in public, everything in
-- sms_private and graphile_worker, and those schemas themselves), column privileges included, is
-- granted to `new` and revoked from `old`; every policy on those tables that names `old` names
-- `new` instead. Grants on your own objects are left alone, and so is role membership
-- (server-wide: which logins hold which role is yours to change).
create or replace function sms_private.move_role_grants(old_role text, new_role text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  old_oid oid := pg_catalog.to_regrole(old_role);
  obj record;
  col record;
  pol record;
  privs text;
begin
  if old_oid is null then
    return;                                   -- nothing can be granted to a role that is gone
  end if;
  -- Tables, views and sequences.
  for obj in
    select c.oid, c.oid::regclass::text as name,
           case c.relkind when 'S' then 'sequence' else 'table' end as kind, c.relacl as acl
      from pg_catalog.pg_class c
     where ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\_%')
            or c.relnamespace = 'sms_private'::regnamespace
            or c.relnamespace = pg_catalog.to_regnamespace('graphile_worker'))
       and c.relkind in ('r', 'p', 'v', 'm', 'S')
  loop
    select pg_catalog.string_agg(distinct a.privilege_type, ', ') into privs
      from pg_catalog.aclexplode(obj.acl) a
     where a.grantee = old_oid;
    if privs is not null then
      execute pg_catalog.format('grant %s on %s %s to %I', privs, obj.kind, obj.name, new_role);
    end if;
    for col in
      select at.attname, pg_catalog.string_agg(distinct a.privilege_type, ', ') as privs
        from pg_catalog.pg_attribute at, pg_catalog.aclexplode(at.attacl) a
       where at.attrelid = obj.oid and at.attnum > 0 and not at.attisdropped and a.grantee = old_oid
       group by at.attname
    loop
      execute pg_catalog.format('grant %s (%I) on table %s to %I', col.privs, col.attname, obj.name, new_role);
    end loop;
    -- Revoking on the table revokes its column privileges too.
    execute pg_catalog.format('revoke all on %s %s from %I', obj.kind, obj.name, old_role);
  end loop;
  -- Functions and procedures.
  for obj in
    select p.oid::regprocedure::text as name
      from pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     where ((p.pronamespace = 'public'::regnamespace and p.proname like 'sms\_%')
            or p.pronamespace = 'sms_private'::regnamespace
            or p.pronamespace = pg_catalog.to_regnamespace('graphile_worker'))
       and a.grantee = old_oid
  loop
    execute pg_catalog.format('grant execute on routine %s to %I', obj.name, new_role);
    execute pg_catalog.format('revoke all on routine %s from %I', obj.name, old_role);
  end loop;
  -- The schemas (0006 grants USAGE on public where the migrating role may).
  for obj in
    select n.nspname, pg_catalog.string_agg(distinct a.privilege_type, ', ') as privs
      from pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     where n.nspname in ('public', 'sms_private', 'graphile_worker')
       and a.grantee = old_oid
       and pg_catalog.pg_has_role(current_user, n.nspowner, 'USAGE')
     group by n.nspname
  loop
    execute pg_catalog.format('grant %s on schema %I to %I', obj.privs, obj.nspname, new_role);
    execute pg_catalog.format('revoke all on schema %I from %I', obj.nspname, old_role);
  end loop;
  -- Policies.
  for pol in
    select p.polname, p.polrelid::regclass::text as rel,
           (select pg_catalog.string_agg(case when r = old_oid then pg_catalog.quote_ident(new_role)
                                              when r = 0 then 'public'
                                              else pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) end, ', ')
              from pg_catalog.unnest(p.polroles) r) as roles
      from pg_catalog.pg_policy p
      join pg_catalog.pg_class c on c.oid = p.polrelid
     where old_oid = any (p.polroles)
       and ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\_%')
            or c.relnamespace = 'sms_private'::regnamespace
            or c.relnamespace = pg_catalog.to_regnamespace('graphile_worker'))
  loop
    execute pg_catalog.format('alter policy %I on %s to %s', pol.polname, pol.rel, pol.roles);
  end loop;
end
$$;

comment on function sms_private.move_role_grants(text, text) is
  'sms-outbox internal: moves the privileges and policies one role holds on sms-outbox''s objects in this database to another role';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.move_role_grants(text, text) from public, sms_sender, sms_reader, sms_worker;
