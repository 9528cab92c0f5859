-- sms_private.switch_role_prefix(prefix): roles are server-wide, so two databases on one server
-- that both use the default names share them; SMS_ROLE_PREFIX gives a database its own
-- (src/db/roles.ts). This makes <prefix>sender, <prefix>reader and <prefix>worker this database's
-- roles, creating them where missing (NOLOGIN, as migration 0001 does; needs CREATEROLE), moves
-- every grant and policy of the current ones to them, and records the names in
-- sms_private.roles. `sms-outbox migrate --switch-role-prefix` calls it with SMS_ROLE_PREFIX; the
-- role that ran the migrations may call it too. The old roles keep their grants in other
-- databases and their members; grant the new roles to this database's logins (before, to avoid a
-- gap).
create or replace function sms_private.switch_role_prefix(prefix text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  current_names text[];
  new_names text[];
  i integer;
begin
  if prefix is null or prefix !~ '^[a-z_][a-z0-9_]*$' or char_length(prefix) > 57 or left(prefix, 3) = 'pg_' then
    raise exception 'role prefix % is not valid: expected lower-case letters, digits and _, not starting with a digit or pg_, at most 57 characters',
        coalesce(quote_literal(prefix), 'NULL')
      using errcode = '22023';
  end if;
  select array[r.sender, r.reader, r.worker] into current_names from sms_private.roles r;
  new_names := array[prefix || 'sender', prefix || 'reader', prefix || 'worker'];
  for i in 1 .. 3 loop
    continue when new_names[i] = current_names[i];
    if not exists (select from pg_catalog.pg_roles where rolname = new_names[i]) then
      begin
        execute pg_catalog.format('create role %I nologin', new_names[i]);
      exception
        -- A concurrent migration of another database created it first.
        when duplicate_object or unique_violation then null;
      end;
    end if;
    perform sms_private.move_role_grants(current_names[i], new_names[i]);
  end loop;
  update sms_private.roles r set sender = new_names[1], reader = new_names[2], worker = new_names[3];
end
$$;

comment on function sms_private.switch_role_prefix(text) is
  'sms-outbox: makes <prefix>sender/reader/worker this database''s roles and moves every grant and policy of the current ones to them (sms-outbox migrate --switch-role-prefix)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.switch_role_prefix(text) from public, sms_sender, sms_reader, sms_worker;
