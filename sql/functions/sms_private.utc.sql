-- A time as the trail's sentences show it: UTC, to the second.
create or replace function sms_private.utc(at timestamptz) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.to_char($1 at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
$$;

comment on function sms_private.utc(timestamptz) is
  'sms-outbox internal: a time as sms_explain''s sentences show it (UTC, to the second)';

revoke all on function sms_private.utc(timestamptz) from public, sms_sender, sms_reader, sms_worker;
