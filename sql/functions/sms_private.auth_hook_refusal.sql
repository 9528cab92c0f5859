-- sms_private.auth_hook_refusal: counts a refusal (its reason's sequence, which a rollback does not
-- undo) and makes the answer Supabase Auth expects.
create or replace function sms_private.auth_hook_refusal(reason text, http_code integer, message text)
returns jsonb
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if not reason = any (sms_private.auth_hook_refusal_reasons()) then
    reason := 'error';
  end if;
  perform pg_catalog.nextval(pg_catalog.format('sms_private.%I', 'auth_hook_refused_' || reason)::regclass);
  return pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object('http_code', http_code, 'message', message));
end
$$;

comment on function sms_private.auth_hook_refusal(text, integer, text) is
  'sms-outbox internal: counts a refusal of the Send SMS Hook and makes the answer Supabase Auth expects';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.auth_hook_refusal(text, integer, text) from public, sms_sender, sms_reader, sms_worker;
