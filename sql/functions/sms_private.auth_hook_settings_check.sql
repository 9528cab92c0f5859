-- sms_private.auth_hook_settings_check: sms_auth_hook_settings is checked when it is set, so a bad
-- value fails the UPDATE instead of every sign-in: the template has {code} and no other
-- placeholder, and with the longest code Supabase Auth makes (10 digits) it passes sms_send's
-- rules; the product name is printable; the country prefixes are digits; the sender passes
-- sms_send's rules.
create or replace function sms_private.auth_hook_settings_check() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  placeholder text;
  prefix text;
  max_segments integer;
  state text;
  problem text;
begin
  if pg_catalog.strpos(new.template, '{code}') = 0 then
    raise exception 'template must contain {code}, where the one-time code goes'
      using errcode = '22023', column = 'template',
            hint = 'e.g. update sms_auth_hook_settings set template = ''{code} is your {product} code'';';
  end if;
  placeholder := pg_catalog.substring(pg_catalog.regexp_replace(new.template, '\{(code|product)\}', '', 'g'), '\{[A-Za-z_]*\}');
  if placeholder is not null then
    raise exception 'template contains %, which is not replaced: only {code} and {product} are', placeholder
      using errcode = '22023', column = 'template';
  end if;
  if new.product_name ~ '[\u0001-\u001F\u007F-\u009F]' then
    raise exception 'product_name must be printable text on one line'
      using errcode = '22021', column = 'product_name';
  end if;
  if new.allowed_country_prefixes is not null then
    foreach prefix in array new.allowed_country_prefixes loop
      if prefix is null or prefix !~ '^[1-9][0-9]{0,5}$' then
        raise exception 'allowed_country_prefixes has %; expected country codes (or longer prefixes) as digits, e.g. {7,375}',
            coalesce(pg_catalog.quote_literal(prefix), 'NULL')
          using errcode = '22023', column = 'allowed_country_prefixes',
                hint = 'NULL allows every country; ''{}'' allows none';
      end if;
    end loop;
  end if;
  new.sender := sms_private.check_sender(new.sender, 'sender');
  -- The text must pass sms_send's rules with the longest code Supabase Auth makes (10 digits).
  select s.max_segments into max_segments from public.sms_settings s;
  begin
    perform sms_private.check_body(sms_private.auth_hook_text(new, '0123456789'), coalesce(max_segments, 10));
  exception when data_exception then
    get stacked diagnostics state = returned_sqlstate, problem = message_text;
    raise exception 'template (with product_name and app_hash) makes a text sms_send refuses: %', problem
      using errcode = state, column = 'template';
  end;
  new.updated_at := now();
  return new;
end
$$;

comment on function sms_private.auth_hook_settings_check() is
  'sms-outbox internal: checks sms_auth_hook_settings when it is written (trigger sms_auth_hook_settings_check)';

drop trigger if exists sms_auth_hook_settings_check on public.sms_auth_hook_settings;
create trigger sms_auth_hook_settings_check
  before insert or update on public.sms_auth_hook_settings
  for each row execute function sms_private.auth_hook_settings_check();

-- A trigger function: nobody calls it.
revoke all on function sms_private.auth_hook_settings_check() from public, sms_sender, sms_reader, sms_worker;
