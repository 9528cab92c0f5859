-- sms_private.caller_sees_all: the caller may read every message: an admin, or a member of the
-- reader role (MEMBER, not USAGE: a NOINHERIT member such as Supabase's service_role could SET
-- ROLE to it and read sms_outbox).
create or replace function sms_private.caller_sees_all() returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select sms_private.caller_is_admin()
      or coalesce(pg_has_role(sms_private.caller_role(), pg_catalog.to_regrole(r.reader), 'MEMBER'), false)
    from sms_private.roles r
$$;

comment on function sms_private.caller_sees_all() is
  'sms-outbox internal: the caller may read every message (an admin, or a member of the reader role)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.caller_sees_all() from public, sms_sender, sms_reader, sms_worker;
