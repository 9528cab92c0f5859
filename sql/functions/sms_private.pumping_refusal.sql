-- sms_private.pumping_refusal: the hook's answer when the pumping defence refuses a code: 429 with
-- the message people are shown (sms_pumping_settings.message) and the reason (range_blocked or
-- range_throttled), counted as every refusal is (sms_auth_hook_refusals()). Supabase Auth reads
-- http_code and message and ignores the rest; the reason is for other callers and the logs.
create or replace function sms_private.pumping_refusal(reason text, cfg public.sms_pumping_settings)
returns jsonb
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.jsonb_set(sms_private.auth_hook_refusal(reason, 429, cfg.message), '{error,reason}', pg_catalog.to_jsonb(reason))
$$;

comment on function sms_private.pumping_refusal(text, public.sms_pumping_settings) is
  'sms-outbox internal: counts a refusal of the pumping defence and makes the hook''s 429 answer with its reason';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_refusal(text, public.sms_pumping_settings) from public, sms_sender, sms_reader, sms_worker;
