-- sms-outbox 0032: the reply rules' keyword index without a pending list.
--
-- sms_inbound_matches finds the rules an incoming SMS's first word can match through the GIN
-- index on sms_inbound_rule.keyword_keys, once per SMS. With fastupdate (GIN's default), rules
-- registered since the index was last vacuumed wait in a pending list that every probe reads
-- through; a table of a few hundred rules is rarely vacuumed, so they would wait there for good
-- and matching would cost more with each rule. Rules change seldom: each goes into the index at
-- once instead.

alter index public.sms_inbound_rule_keyword_idx set (fastupdate = off);
-- What waits in the list now goes in too.
select pg_catalog.gin_clean_pending_list('public.sms_inbound_rule_keyword_idx'::regclass);
