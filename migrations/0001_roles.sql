-- sms-outbox 0001: preconditions and the three roles.
--
-- Roles are cluster-global while everything else is per database, so this file must succeed
-- when the roles already exist (another database on the same server was migrated first) and
-- when another session is creating them at this very moment (parallel migrations): each
-- CREATE ROLE is attempted only when missing, and losing the race to a concurrent creator is
-- ignored. Nothing here needs superuser: CREATEROLE is enough (Supabase's `postgres` has it),
-- and a role that exists already needs no privilege at all.

do $$
begin
  if pg_catalog.current_setting('server_version_num')::integer < 130000 then
    raise exception 'sms-outbox needs PostgreSQL 13 or newer; this server is %', pg_catalog.version();
  end if;
  -- Segment counting and validation work on characters; a SQL_ASCII or single-byte database
  -- would count bytes or mangle Cyrillic text.
  if pg_catalog.getdatabaseencoding() <> 'UTF8' then
    raise exception 'sms-outbox needs a UTF8 database; this one is %', pg_catalog.getdatabaseencoding()
      using hint = 'create the database with ENCODING ''UTF8'' (createdb -E UTF8 -T template0 ...)';
  end if;
end
$$;

do $$
declare
  r text;
begin
  foreach r in array array['sms_sender', 'sms_reader', 'sms_worker'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = r) then
      begin
        execute pg_catalog.format('create role %I nologin', r);
      exception
        -- A concurrent migration of another database created it first.
        when duplicate_object or unique_violation then null;
      end;
    end if;
  end loop;
end
$$;

-- (No COMMENT ON ROLE: comments on roles are cluster-global too, need ADMIN on the role in
-- PostgreSQL 16+, and concurrent writers collide. README.md describes the roles.)
