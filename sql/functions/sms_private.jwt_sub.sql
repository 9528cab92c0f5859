-- sms_private.jwt_sub: the request's JWT sub (PostgREST 9+ sets request.jwt.claims, older
-- versions one setting per claim; Supabase's auth.uid() reads the same two), canonical; NULL when
-- there is none.
create or replace function sms_private.jwt_sub() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  sub text;
begin
  sub := nullif(current_setting('request.jwt.claim.sub', true), '');
  if sub is null then
    sub := nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '');
  end if;
  return sms_private.canonical_user_id(sub);
end
$$;

comment on function sms_private.jwt_sub() is
  'sms-outbox internal: the request''s JWT sub (PostgREST), canonical; NULL when there is none';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.jwt_sub() from public, sms_sender, sms_reader, sms_worker;
