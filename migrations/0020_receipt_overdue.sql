-- sms-outbox 0020: a receipt that never comes (issue 19).
--
-- A message the SMSC accepted waits for its receipt as `sent`. When none comes (the carrier lost
-- it, does not send them for that route, or the submit_sm_resp carried an id no receipt can
-- match), it stayed `sent` until the purge, and "no receipt yet" looked like "no receipt will
-- come". Past expires_at (the validity_period the carrier was given) plus
-- sms_settings.receipt_grace, such a message is now reported overdue: sms_status(id) gains
-- receipt_overdue, sms_stats gains receipts_overdue, and the worker exports
-- sms_receipts_overdue. Its status stays `sent`, so a late receipt still moves it forward, as
-- Kannel's and Jasmin's receipt expiry only stop waiting.

alter table public.sms_settings
  add column receipt_grace interval not null default '1 hour'
    check (receipt_grace >= interval '0' and receipt_grace <= interval '30 days');

comment on column public.sms_settings.receipt_grace is
  'how long after expires_at a sent message may still wait for its receipt before sms_status and sms_stats report it overdue (it stays sent: a late receipt still counts)';

alter type public.sms_status_row add attribute receipt_overdue boolean;

-- sms_stats runs with the caller's rights (security_invoker) and now reads receipt_grace: its
-- readers read the settings too (the worker did already).
create policy sms_reader_select on public.sms_settings for select to sms_reader using (true);
grant select on public.sms_settings to sms_reader;
