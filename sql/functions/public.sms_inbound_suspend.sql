-- sms_inbound_suspend: the worker suspends a reply rule whose handler would not stop: still
-- running well past its time though cancelled (it caught the cancellation), so the worker ended
-- its session. Its SMS are then stored with an error in sms_handler_error instead of handled,
-- until the rule is registered again (sms_on_inbound with the same arguments). True when the
-- rule was active. For the worker.
create or replace function public.sms_inbound_suspend(rule_id bigint, reason text) returns boolean
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  update public.sms_inbound_rule r
     set suspended_at = now(), suspended_reason = left(coalesce(reason, 'suspended by the worker'), 500)
   where r.id = rule_id and r.suspended_at is null
  returning true
$$;

comment on function public.sms_inbound_suspend(bigint, text) is
  'sms-outbox: for the worker: suspends a reply rule whose handler would not stop';

revoke all on function public.sms_inbound_suspend(bigint, text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_inbound_suspend(bigint, text) to sms_worker;
