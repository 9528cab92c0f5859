-- sms_self_send_settings_touch: sms_self_send_settings.updated_at follows every change.
create or replace function public.sms_self_send_settings_touch() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

comment on function public.sms_self_send_settings_touch() is
  'sms-outbox internal: keeps sms_self_send_settings.updated_at (trigger sms_self_send_settings_touch)';

drop trigger if exists sms_self_send_settings_touch on public.sms_self_send_settings;
create trigger sms_self_send_settings_touch
  before update on public.sms_self_send_settings
  for each row execute function public.sms_self_send_settings_touch();

-- A trigger function: nobody calls it.
revoke all on function public.sms_self_send_settings_touch() from public, sms_sender, sms_reader, sms_worker;
