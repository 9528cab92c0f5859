-- sms_private.pumping_confirm: the phone (digits) was confirmed at p_at: every code of it still
-- within its validity (sent at or before p_at, expiring at or after) and not yet confirmed is
-- marked confirmed in sms_auth_code, and counted in the buckets of its minute, prefix range and
-- country (the buckets of the minute the code was sent: conversion is the share of codes sent
-- that were confirmed), in this session's own row of each (shard: pg_backend_pid(), as
-- sms_private.pumping_count: a confirmation never waits for another session's commit). A code
-- confirmed later than its validity, or a phone confirmed without a code, counts nothing.
-- Returns the number of codes counted.
create or replace function sms_private.pumping_confirm(phone text, p_at timestamptz)
returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_counted integer := 0;
  r record;
begin
  for r in
    with confirmed as (
      update public.sms_auth_code c
         set confirmed_at = p_at
       where c.phone = pumping_confirm.phone and c.confirmed_at is null
         and c.created_at <= p_at and c.expires_at >= p_at
      returning c.pumping_range, pg_catalog.date_trunc('minute', c.created_at) as bucket
    )
    select x.pumping_range as prefix, sms_private.pumping_country(x.pumping_range) as country, x.bucket,
           count(*)::integer as n
      from confirmed x
     where x.pumping_range is not null
     group by 1, 2, 3
     order by 1, 3
  loop
    -- Prefix first, then country (as sms_private.pumping_count). A bucket already dropped (the
    -- code is older than every window) counts nothing.
    insert into sms_private.pumping_bucket as b (range, bucket, shard, confirmed)
    select x.range, r.bucket, pg_catalog.pg_backend_pid(), r.n
      from (values (1, r.prefix), (2, r.country)) x(n, range)
     where exists (select from sms_private.pumping_bucket o where o.range = x.range and o.bucket = r.bucket)
     order by x.n
    on conflict (range, bucket, shard) do update set confirmed = b.confirmed + excluded.confirmed;
    v_counted := v_counted + r.n;
  end loop;
  return v_counted;
end
$$;

comment on function sms_private.pumping_confirm(text, timestamptz) is
  'sms-outbox internal: a phone was confirmed: its codes within their validity count as confirmed in their ranges'' buckets';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_confirm(text, timestamptz) from public, sms_sender, sms_reader, sms_worker;
