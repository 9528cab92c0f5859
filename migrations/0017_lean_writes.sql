-- sms-outbox 0017: fewer writes per message (issue 15). Every statement changing a message's
-- status writes a new version of its sms_outbox row and an entry in every index whose predicate
-- the new version meets (status is in most predicates, so none of these updates is HOT). This
-- migration removes what a single-part message wrote beyond that, with the same results for
-- every reader:
--
-- 1. A single-part message gets no sms_outbox_part row: its SMSC id (normalised, as receipts are
--    matched) is kept in sms_outbox.smsc_message_id, and its receipt is applied to the message
--    alone. That was a row inserted on submit, updated by the receipt, and two index entries
--    each time. Messages of several parts keep one row per part; rows written before this
--    migration stay as they are and are matched as before (the receipt matching reads both).
--    sms_status' parts_delivered / parts_undelivered of a single-part message without a part
--    row follow from its receipt_state, which the receipt that ends its one part sets.
-- 2. sms_outbox_submitted_idx goes: it took an entry on submit and another on the receipt, for
--    sms_stats' sent_last_minute alone. A message with submitted_at is `sent` or finished after
--    it (sms_retry clears submitted_at), so the figure is counted through the index of sent rows
--    and that of finished ones instead.
-- 3. sms_outbox_part pages keep room for the update a part's receipt makes (fillfactor 80), so
--    it is a HOT update (none of the columns it changes is indexed).
--
-- sms_status and the view sms_stats, which changed with this release, live in sql/.


-- 1. Single-part messages without a part row --------------------------------------------------------

alter table public.sms_outbox add column smsc_message_id text;

comment on column public.sms_outbox.smsc_message_id is
  'a single-part message''s SMSC id, normalised (lower case, leading zeros stripped), that receipts are matched on; messages of several parts have theirs in sms_outbox_part';

-- Receipts are matched on it (a receipt's id in every form it may take). The matching ignores
-- rows without message_ids: sms_retry clears those, so a late receipt of an earlier attempt
-- matches nothing, as it did when sms_retry deleted that attempt's parts.
create index sms_outbox_smsc_message_id_idx on public.sms_outbox (smsc_message_id)
  where smsc_message_id is not null;

-- The worker writes it with the submit result, like message_ids (0006).
grant update (smsc_message_id) on public.sms_outbox to sms_worker;


-- 2. sms_stats without sms_outbox_submitted_idx -----------------------------------------------------

-- sms_stats counts sent_last_minute through the indexes of sent and of finished rows.
drop index public.sms_outbox_submitted_idx;


-- 3. Room for HOT receipt updates of parts ---------------------------------------------------------

alter table public.sms_outbox_part set (fillfactor = 80);
