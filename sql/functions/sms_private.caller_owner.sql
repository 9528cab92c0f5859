-- sms_private.caller_owner: each message belongs to the role that enqueued it. The owner is who
-- the calling session acts as:
--   * the role the session switched to with SET ROLE / SET LOCAL ROLE (PostgREST switches to the
--     request's role: service_role, authenticated, ...), or its login role when it did not
--     switch. Inside a SECURITY DEFINER function current_user is the function's owner, but the
--     role setting and session_user still name the caller's session, and no definer function
--     can change the role setting. A switch to one of the three sms_ roles (which every app
--     holding them can make) counts as no switch: the login owns the message.
--   * with the request's JWT `sub` when that role carries one (Supabase's authenticated: the
--     user), as "<role>:<sub>"; a uuid sub in its canonical lower-case form, the auth.users id.
--     Only a session that may become the role (PostgREST's authenticator) can set the role
--     setting, so the claims are trusted only together with it.
--   * as text: the role quoted as an SQL identifier (quote_ident), e.g. my_app, service_role,
--     "MyApp", authenticated:6f1c0a42-...; the ':' after an unquoted name separates the user, so
--     no role name can pose as a user.
-- sms_status, sms_cancel and sms_retry act only on the caller's own messages; another's id
-- behaves exactly as an unknown one. Idempotency keys are unique per owner.
create or replace function sms_private.caller_owner() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  r text := current_setting('role');
  sub text;
begin
  if r = 'none' then
    return quote_ident(session_user::text);
  end if;
  if exists (select from sms_private.roles x where r in (x.sender, x.reader, x.worker)) then
    return quote_ident(session_user::text);
  end if;
  sub := sms_private.jwt_sub();
  if sub is null then
    return quote_ident(r);
  end if;
  return quote_ident(r) || ':' || sub;
end
$$;

comment on function sms_private.caller_owner() is
  'sms-outbox internal: the owner of what the caller enqueues (sms_outbox.owner): its role quoted as an identifier, with :<JWT sub> for a request role''s user';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.caller_owner() from public, sms_sender, sms_reader, sms_worker;
