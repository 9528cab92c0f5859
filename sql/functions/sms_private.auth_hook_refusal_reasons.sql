-- sms_private.auth_hook_refusal_reasons: the reasons the hook refuses a code, in the order
-- sms_auth_hook_refusals() lists them; one sequence each (sms_private.auth_hook_refused_<reason>,
-- migration 0012).
create or replace function sms_private.auth_hook_refusal_reasons() returns text[]
language sql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select array['bad_event', 'bad_phone', 'country', 'phone_limit', 'global_limit', 'busy', 'error', 'range_blocked', 'range_throttled']
$$;

comment on function sms_private.auth_hook_refusal_reasons() is
  'sms-outbox internal: the reasons the Send SMS Hook refuses a code, in the order sms_auth_hook_refusals() lists them';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.auth_hook_refusal_reasons() from public, sms_sender, sms_reader, sms_worker;
