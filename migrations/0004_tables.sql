-- sms-outbox 0004: the tables. sms_outbox is the queue itself: apps insert into it only
-- through sms_send; the worker claims due rows, submits them and records what happened.
--
-- The ids of sms_outbox and sms_inbox default to public.sms_uuidv7(), a time-ordered UUID. The
-- default is set by that function's file (sql/functions/public.sms_uuidv7.sql), which
-- `sms-outbox migrate` applies after the numbered migrations: a default can only name a
-- function that exists.

-- Constraints: sms_send is the only writer of the columns an app supplies (recipient through
-- metadata) and validates every one of them; the worker role may UPDATE only the delivery
-- columns (0006). So the table checks only what the worker writes: a known status, and done_at
-- set exactly for the final ones. Each CHECK is re-read and compiled for every INSERT statement
-- (about 2-6 us each, measured), which is why the app-supplied columns are not checked twice.
create table public.sms_outbox (
  id               uuid primary key,               -- default sms_uuidv7() (see below)
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  recipient        text not null,
  sender           text not null,
  body             text not null,
  encoding         text not null,
  segments         integer not null,
  priority         smallint not null default 0,
  send_at          timestamptz not null,
  expires_at       timestamptz not null,
  idempotency_key  text,
  metadata         jsonb,
  status           text not null default 'queued',
  attempts         integer not null default 0,
  next_attempt_at  timestamptz not null,
  lease_until      timestamptz,
  worker_id        text,
  submitted_at     timestamptz,
  done_at          timestamptz,
  message_ids      text[],
  error_code       text,
  error_message    text,
  receipt_state    text,
  receipt_error    text,
  constraint sms_outbox_status_check check (
    status in ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'expired', 'rejected', 'failed', 'cancelled')
  ),
  -- A message is finished exactly when it has a done_at: sms_stats and the purge rely on it.
  constraint sms_outbox_done_at_check check ((done_at is null) = (status in ('queued', 'sending', 'sent')))
);

comment on table public.sms_outbox is
  'sms-outbox: one row per message. Apps write it only through sms_send / sms_cancel; the worker drains it.';
comment on column public.sms_outbox.id is 'time-ordered UUID (v7) returned by sms_send';
comment on column public.sms_outbox.recipient is 'international number, digits only (79991234567)';
comment on column public.sms_outbox.sender is 'alphanumeric sender name (1-11 GSM characters) or number (digits only)';
comment on column public.sms_outbox.encoding is 'gsm7 (GSM 03.38, 7-bit) or ucs2';
comment on column public.sms_outbox.segments is 'parts the body is sent in (1 = a single SMS)';
comment on column public.sms_outbox.priority is '-10..10; higher is sent first';
comment on column public.sms_outbox.send_at is 'when the app asked it to be sent (sms_send''s send_at, or the enqueue time)';
comment on column public.sms_outbox.expires_at is 'not sent after this; an unsent message then becomes expired';
comment on column public.sms_outbox.idempotency_key is 'sms_send''s idempotency_key: a repeat with the same recipient and body returns this row';
comment on column public.sms_outbox.metadata is 'the app''s own JSON object, stored and returned untouched';
comment on column public.sms_outbox.status is
  'queued, sending, sent (accepted by the SMSC), delivered, undelivered, expired, rejected, failed, cancelled';
comment on column public.sms_outbox.attempts is 'submit attempts so far';
comment on column public.sms_outbox.next_attempt_at is 'when the row is next due: send_at (or the enqueue time) at first, later the retry back-off';
comment on column public.sms_outbox.lease_until is 'while sending: until when the claiming worker holds it; an expired lease returns the row to the queue';
comment on column public.sms_outbox.worker_id is 'the worker that last claimed the row';
comment on column public.sms_outbox.submitted_at is 'when the SMSC accepted the (last part of the) message';
comment on column public.sms_outbox.done_at is 'when the row reached a final status; set exactly for final statuses';
comment on column public.sms_outbox.message_ids is 'SMSC message ids, one per part, in part order';
comment on column public.sms_outbox.error_code is 'the error behind failed / rejected / undelivered (SMPP command_status or receipt err)';
comment on column public.sms_outbox.receipt_state is 'raw receipt state that decided the status (DELIVRD, UNDELIV, ...)';
comment on column public.sms_outbox.updated_at is 'last change by the worker (set by the writer; there is no trigger, to keep enqueue cheap)';

-- Every index here costs the enqueue path; only the first two are written by sms_send (plus
-- the idempotency index when a key is given). The others are partial on columns or statuses a
-- fresh row does not have, so an insert skips them and only the worker's updates maintain them.

-- The worker's claim: where status = 'queued' and next_attempt_at <= now()
-- order by priority desc, next_attempt_at limit n for update skip locked.
create index sms_outbox_due_idx on public.sms_outbox (priority desc, next_attempt_at)
  where status = 'queued';

-- Leases that ran out (a worker died mid-send).
create index sms_outbox_lease_idx on public.sms_outbox (lease_until)
  where status = 'sending';

create unique index sms_outbox_idempotency_key_idx on public.sms_outbox (idempotency_key)
  where idempotency_key is not null;

-- Accepted messages still waiting for a receipt: counted by sms_stats, swept when no receipt
-- comes.
create index sms_outbox_sent_idx on public.sms_outbox (submitted_at)
  where status = 'sent';

-- sms_stats' sent_last_minute.
create index sms_outbox_submitted_idx on public.sms_outbox (submitted_at)
  where submitted_at is not null;

-- Finished messages: the purge (done_at < now() - retention), and sms_stats' per-status counts
-- and delivered_last_minute as an index-only scan instead of reading every row.
create index sms_outbox_done_idx on public.sms_outbox (done_at, status)
  where done_at is not null;

-- The table is a queue: each row is updated a few times and eventually purged. Vacuum it
-- sooner than the 20% default so dead tuples do not pile up in front of the claim's index scan.
alter table public.sms_outbox set (
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.02
);


-- The SMSC's id for every submitted part. Receipts are matched on message_id, which is not
-- unique: SMSCs recycle ids.
create table public.sms_outbox_part (
  outbox_id     uuid not null references public.sms_outbox (id) on delete cascade,
  part_no       smallint not null check (part_no between 1 and 255),
  message_id    text not null,
  submitted_at  timestamptz not null default now(),
  receipt_state text,
  receipt_error text,
  done_at       timestamptz,
  primary key (outbox_id, part_no)
);

comment on table public.sms_outbox_part is
  'sms-outbox: one row per submitted part with the SMSC message id (normalised: lower case, leading zeros stripped)';

create index sms_outbox_part_message_id_idx on public.sms_outbox_part (message_id);


-- Delivery receipts as received, matched to a message or not (yet): a receipt can arrive
-- before the submit_sm_resp id is stored, or for a message this database never sent.
create table public.sms_receipt (
  id               bigint generated always as identity primary key,
  received_at      timestamptz not null default now(),
  message_id       text not null,
  raw_message_id   text not null,
  state            text,
  error            text,
  source_addr      text,
  destination_addr text,
  text             text,
  outbox_id        uuid references public.sms_outbox (id) on delete cascade,
  matched_at       timestamptz
);

comment on table public.sms_receipt is
  'sms-outbox: delivery receipts (deliver_sm with esm_class 0x04); message_id normalised, raw_message_id as sent';

create index sms_receipt_unmatched_idx on public.sms_receipt (message_id)
  where matched_at is null;

-- The foreign key's cascade (purging a message removes its receipts) and lookups by message.
create index sms_receipt_outbox_id_idx on public.sms_receipt (outbox_id)
  where outbox_id is not null;


-- Incoming (MO) SMS, concatenated parts reassembled into one row.
create table public.sms_inbox (
  id            uuid primary key,                  -- default sms_uuidv7()
  received_at   timestamptz not null default now(),
  sender        text not null,
  recipient     text not null,
  body          text not null,
  encoding      text not null,
  parts         integer not null check (parts between 1 and 255),
  missing_parts integer not null default 0 check (missing_parts >= 0 and missing_parts < parts)
);

comment on table public.sms_inbox is
  'sms-outbox: incoming SMS. sender is the phone that sent it, recipient the number or short code it was sent to.';
comment on column public.sms_inbox.missing_parts is
  'parts that never arrived (the message was assembled after the reassembly timeout); 0 when complete';

create index sms_inbox_received_at_idx on public.sms_inbox (received_at);


-- Staging for the parts of a concatenated incoming SMS until all have arrived.
create table public.sms_inbox_part (
  sender      text not null,
  recipient   text not null,
  ref         integer not null check (ref between 0 and 65535),
  total       smallint not null check (total between 1 and 255),
  seq         smallint not null,
  data_coding smallint not null check (data_coding between 0 and 255),
  payload     bytea not null,
  received_at timestamptz not null default now(),
  primary key (sender, recipient, ref, total, seq),
  check (seq between 1 and total)
);

comment on table public.sms_inbox_part is
  'sms-outbox: parts of concatenated incoming SMS waiting for the rest (UDH reference, total, sequence)';
