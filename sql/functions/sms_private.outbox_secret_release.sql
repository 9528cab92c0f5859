-- sms_private.outbox_secret_release: a message whose text is held in sms_outbox_secret (a sign-in
-- code of sms_auth_send_sms_hook: body_length set, redacted_at not yet) leaves queued/sending
-- (the SMSC accepted it, or it failed, expired or was cancelled first): the text is deleted, and
-- the row counts as redacted from now on (sms_retry refuses it, an idempotent repeat compares
-- body_hash). Nobody reads the code after that, the worker included.
--
-- A BEFORE trigger, so the row is written once. Its WHEN tests three columns of the row being
-- updated, so the function runs for sign-in codes alone. Every other update pays more than that
-- test: a table with a BEFORE ROW UPDATE trigger has each row an UPDATE changes locked first (to
-- hand the trigger its current version), whatever the WHEN then says, and the lock is a WAL
-- record: 54 bytes for each of a message's two updates (docs/performance.md, "What one message
-- writes", weighs it against the alternatives).
create or replace function sms_private.outbox_secret_release() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from public.sms_outbox_secret s where s.outbox_id = new.id;
  new.body := '';
  new.redacted_at := now();
  return new;
end
$$;

comment on function sms_private.outbox_secret_release() is
  'sms-outbox internal: a message whose text is in sms_outbox_secret left the queue: delete the text, mark the row redacted (trigger sms_outbox_secret_release)';

drop trigger if exists sms_outbox_secret_release on public.sms_outbox;
create trigger sms_outbox_secret_release
  before update of status on public.sms_outbox
  for each row
  when (new.body_length is not null and new.redacted_at is null and new.status not in ('queued', 'sending'))
  execute function sms_private.outbox_secret_release();

-- A trigger function: nobody calls it.
revoke all on function sms_private.outbox_secret_release() from public, sms_sender, sms_reader, sms_worker;
