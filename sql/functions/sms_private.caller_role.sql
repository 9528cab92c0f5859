-- sms_private.caller_role: the role the session acts as: the role setting, or the login role.
create or replace function sms_private.caller_role() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  r text := current_setting('role');
begin
  if r = 'none' then
    return session_user::text;
  end if;
  return r;
end
$$;

comment on function sms_private.caller_role() is
  'sms-outbox internal: the role the session acts as (the role setting, or the login role)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.caller_role() from public, sms_sender, sms_reader, sms_worker;
