-- sms-outbox 0033: the pumping defence's counters never make a sign-in wait for another (issue 26).
--
-- Measured at 100 sign-ins a second, 60% to one country (npm run bench:signin -- --waits): with
-- the defence on, 10% of the samples of the sign-ins' statements were the hook waiting for
-- another request's row lock (wait event Lock:transactionid), held by a request whose COMMIT
-- was flushing the WAL (IO:WALSync); 0% with it off. Every code sent updates its country's
-- bucket of the minute: split in four by the number's last digit (0029), each row still took
-- fifteen updates a second, each locked until Supabase Auth's commit reached the disk.
--
-- A bucket is now one row per database session that counts in it (shard: the session's
-- pg_backend_pid()): a session runs one transaction at a time and no other session writes its
-- rows, so counting a code or a confirmation never waits. The figures sum the rows as before;
-- a bucket has at most as many rows as connections counted in that minute (Auth's pool). The
-- rows already there keep their shard (0-3): they are summed like the others.
alter table sms_private.pumping_bucket drop constraint pumping_bucket_shard_check;
alter table sms_private.pumping_bucket alter column shard type integer;
comment on column sms_private.pumping_bucket.shard is 'the pg_backend_pid() of the session that counts in this row (0-3 for rows counted before 0033); a range''s figures sum every shard';
drop function if exists sms_private.pumping_shard(text);
