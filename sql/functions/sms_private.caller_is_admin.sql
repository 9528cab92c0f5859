-- sms_private.caller_is_admin: the caller may read and write sms_outbox directly anyway: a member
-- of the role that owns it (a superuser is a member of every role). It sees and cancels every
-- message through the functions too.
create or replace function sms_private.caller_is_admin() returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_has_role(sms_private.caller_role(), c.relowner, 'MEMBER')
    from pg_class c
   where c.oid = 'public.sms_outbox'::regclass
$$;

comment on function sms_private.caller_is_admin() is
  'sms-outbox internal: the caller is a member of the role that owns sms_outbox (or a superuser), so it sees and changes every message';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.caller_is_admin() from public, sms_sender, sms_reader, sms_worker;
