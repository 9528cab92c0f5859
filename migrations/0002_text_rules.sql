-- sms-outbox 0002: the rules for ids, bodies and senders.
--
-- Released with the functions that hold them (sms_uuidv7, the counting and checking helpers).
-- Functions live in sql/ now, one file each, applied by `sms-outbox migrate` after the numbered
-- migrations (ARCHITECTURE.md, "Where the SQL lives"): sql/functions/public.sms_uuidv7.sql and
-- the helpers' successors in sms_private (sql/functions/sms_private.check_*.sql,
-- sms_private.count_segments.sql). This migration keeps its number and creates nothing (the one statement below does nothing; a
-- file of comments alone is refused by some clients as an empty query).
select 1;
