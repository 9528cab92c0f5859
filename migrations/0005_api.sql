-- sms-outbox 0005: the SQL interface apps call: sms_send, sms_cancel, sms_status, sms_segments,
-- the view sms_stats, and sms_grant_worker_graphile.
--
-- Released with their definitions; they live in sql/ now, one file each (sql/functions/,
-- sql/views/), applied by `sms-outbox migrate` after the numbered migrations. What stays here is
-- the row type sms_status returns: a function's return type is part of its signature, changed
-- only by a numbered migration (0015 adds attributes to it).

create type public.sms_status_row as (
  id              uuid,
  status          text,
  recipient       text,
  sender          text,
  segments        integer,
  encoding        text,
  attempts        integer,
  priority        integer,
  created_at      timestamptz,
  send_at         timestamptz,
  expires_at      timestamptz,
  next_attempt_at timestamptz,
  submitted_at    timestamptz,
  done_at         timestamptz,
  error_code      text,
  error_message   text,
  message_ids     text[],
  receipt_state   text,
  receipt_error   text,
  idempotency_key text,
  metadata        jsonb
);

comment on type public.sms_status_row is 'sms-outbox: the row sms_status returns';
