-- sms_private.pumping_shard: which of a bucket's four rows a number's codes are counted in (its
-- last digit, modulo 4): every code of a country updates its bucket of the minute, locked until
-- the caller commits, so the calls to one country are spread over four rows. The same number
-- always gives the same shard, so a confirmation counts in its code's row.
create or replace function sms_private.pumping_shard(digits text) returns smallint
language plpgsql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
  return (pg_catalog.ascii(pg_catalog.right(digits, 1)) % 4)::smallint;
end
$$;

comment on function sms_private.pumping_shard(text) is
  'sms-outbox internal: which of a pumping bucket''s four rows a number''s codes are counted in';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_shard(text) from public, sms_sender, sms_reader, sms_worker;
