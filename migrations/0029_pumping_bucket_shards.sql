-- sms-outbox 0029: the pumping defence's busiest counters split in four (issue 26).
--
-- Every code sent to a country updates that country's bucket of the current minute, and the row
-- stays locked until Supabase Auth commits the request: at a hundred sign-ins a second, mostly
-- to one country, the calls queued behind that one row. A bucket is now four rows, one per
-- shard (the number's last digit, modulo 4, so a confirmation finds its code's row again); the
-- figures sum the four. Nothing in the rows is lost: the existing ones are shard 0.
alter table sms_private.pumping_bucket add column shard smallint not null default 0 check (shard between 0 and 3);
alter table sms_private.pumping_bucket drop constraint pumping_bucket_pkey;
alter table sms_private.pumping_bucket add primary key (range, bucket, shard);
