-- sms_notify_inbox: every incoming SMS stored in sms_inbox is announced on channel `sms_inbox`
-- ({"id": "..."}), delivered after the insert commits.
create or replace function public.sms_notify_inbox() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_notify('sms_inbox', json_build_object('id', new.id)::text);
  return null;
end;
$$;

comment on function public.sms_notify_inbox() is
  'sms-outbox internal: announces every new sms_inbox row on channel sms_inbox (trigger sms_inbox_notify)';

drop trigger if exists sms_inbox_notify on public.sms_inbox;
create trigger sms_inbox_notify
  after insert on public.sms_inbox
  for each row
  execute function public.sms_notify_inbox();

-- A trigger function: nobody calls it.
revoke all on function public.sms_notify_inbox() from public, sms_sender, sms_reader, sms_worker;
