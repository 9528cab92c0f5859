-- sms_private.canonical_user_id: the canonical form of a user id: a uuid in lower case (the
-- auth.users id), anything else as it is. A JWT's sub is text: 'ABC...' and 'abc...' name the
-- same auth.users row.
create or replace function sms_private.canonical_user_id(sub text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select case when $1 ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then lower($1) else $1 end
$$;

comment on function sms_private.canonical_user_id(text) is
  'sms-outbox internal: a user id as owners and limits key on it: a uuid in lower case, anything else as it is';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.canonical_user_id(text) from public, sms_sender, sms_reader, sms_worker;
