-- sms_private.uuidv7_floor: the smallest UUIDv7 of a time: its 48 bits of Unix milliseconds, then
-- zeros. Every id sms_uuidv7 makes at that time or later is at least this, so
-- `id >= sms_private.uuidv7_floor(now() - interval '7 days')` bounds a scan of an index on
-- (recipient, id) or (sender, id) to a time window. Plain SQL without SET, so it is inlined.
create or replace function sms_private.uuidv7_floor(t timestamptz) returns uuid
language sql stable parallel safe
as $$
  select (pg_catalog.lpad(pg_catalog.to_hex(pg_catalog.floor(pg_catalog.date_part('epoch', $1) operator(pg_catalog.*) 1000)::pg_catalog.int8), 12, '0')
          operator(pg_catalog.||) '00000000000000000000')::pg_catalog.uuid
$$;

comment on function sms_private.uuidv7_floor(timestamptz) is
  'sms-outbox internal: the smallest UUIDv7 of a time, to bound index scans over time-ordered ids';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.uuidv7_floor(timestamptz) from public, sms_sender, sms_reader, sms_worker;
