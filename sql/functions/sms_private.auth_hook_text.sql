-- sms_private.auth_hook_text: the text of one code: the template with {code} and {product} filled
-- in, then the Android SMS Retriever app hash line. {product} is filled after {code}, so a product
-- name cannot add codes.
create or replace function sms_private.auth_hook_text(cfg public.sms_auth_hook_settings, otp text)
returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.replace(pg_catalog.replace(cfg.template, '{code}', otp), '{product}', cfg.product_name)
         || coalesce(E'\n' || cfg.app_hash, '')
$$;

comment on function sms_private.auth_hook_text(public.sms_auth_hook_settings, text) is
  'sms-outbox internal: the text of one sign-in code: the template with {code} and {product} filled in, then the app hash line';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.auth_hook_text(public.sms_auth_hook_settings, text) from public, sms_sender, sms_reader, sms_worker;
