-- sms_private.ms_until(at): milliseconds from now (the statement's clock) until `at`, rounded up;
-- 0 when past; NULL for NULL (greatest() skips nulls: without the case, "no row" would read as
-- "due now"). By Postgres's clock, so a worker whose clock is off still wakes on time. Inlined.
create or replace function sms_private.ms_until(at timestamptz) returns double precision
language sql volatile
as $$
  select case when $1 is not null
              then greatest(0, pg_catalog.ceil(pg_catalog.date_part('epoch', $1 operator(pg_catalog.-) pg_catalog.clock_timestamp())
                                                          operator(pg_catalog.*) 1000))::double precision end
$$;

comment on function sms_private.ms_until(timestamptz) is
  'sms-outbox internal: milliseconds from now until a time, rounded up; 0 when past, NULL for NULL';

revoke all on function sms_private.ms_until(timestamptz) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.ms_until(timestamptz) to sms_worker;
