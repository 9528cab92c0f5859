-- sms-outbox 0015: sms_retry, and what sms_status shows of a message's life.
--
-- 1. sms_retry(id) puts one of the caller's failed, rejected, undelivered or expired messages
--    back in the queue, the one way a final status moves (receipts and submit results only ever
--    move a message forward). The outcome it replaces is
--    kept in sms_outbox_retry; the SMSC ids and receipts of its parts are dropped with it, so a
--    late receipt for the earlier attempt matches nothing. `attempts` keeps counting (it fences
--    a worker's writes, so it never goes back); sms_settings.max_attempts counts the attempts
--    since the last retry (attempts_at_retry).
-- 2. sms_status also returns the category, the characters smart encoding replaced, the retries,
--    the parts delivered (and ended undelivered) of a multi-part message, and when its body was
--    redacted.
--
-- sms_retry and sms_status live in sql/functions/; the table, the columns and sms_status' row
-- type are here.


-- 1. sms_retry ---------------------------------------------------------------------------------

alter table public.sms_outbox
  add column retries           integer not null default 0,
  add column attempts_at_retry integer not null default 0;

comment on column public.sms_outbox.retries is 'how often sms_retry put the message back in the queue (sms_outbox_retry has each outcome it replaced)';
comment on column public.sms_outbox.attempts_at_retry is 'attempts at the last sms_retry: sms_settings.max_attempts counts the attempts after it';

create table public.sms_outbox_retry (
  id            bigint generated always as identity primary key,
  outbox_id     uuid not null references public.sms_outbox (id) on delete cascade,
  retried_at    timestamptz not null default now(),
  retried_by    text not null,
  status        text not null,
  attempts      integer not null,
  error_code    text,
  error_message text,
  receipt_state text,
  receipt_error text,
  message_ids   text[],
  submitted_at  timestamptz,
  done_at       timestamptz not null
);

comment on table public.sms_outbox_retry is
  'sms-outbox: the outcome each sms_retry replaced (status, error, receipt, SMSC ids, the attempts it took), deleted with its message';
comment on column public.sms_outbox_retry.retried_by is 'who called sms_retry, as sms_outbox.owner names roles';
comment on column public.sms_outbox_retry.attempts is 'submit attempts of the outcome replaced (since the retry before it)';

-- Its message's history, and the purge's cascade.
create index sms_outbox_retry_outbox_id_idx on public.sms_outbox_retry (outbox_id);

alter table public.sms_outbox_retry enable row level security;
create policy sms_reader_select on public.sms_outbox_retry for select to sms_reader using (true);


-- 2. sms_status' row -----------------------------------------------------------------------------------

alter type public.sms_status_row
  add attribute category          text,
  add attribute replaced_chars    integer,
  add attribute retries           integer,
  add attribute parts_delivered   integer,
  add attribute parts_undelivered integer,
  add attribute redacted_at       timestamptz;


-- 3. Grants -----------------------------------------------------------------------------------------

grant select on public.sms_outbox_retry to sms_reader;
