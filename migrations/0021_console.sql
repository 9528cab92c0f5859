-- sms-outbox 0021: what the web console (`sms-outbox console`, src/console/) and psql users need
-- to answer "did my SMS arrive?" through SQL.
--
-- 1. sms_explain(id) (sql/functions/public.sms_explain.sql) reads the tables below.
-- 2. sms_outbox_attempt: the error of every attempt that ended in one (a transient error put
--    back in the queue, a permanent one, a refusal, a receipt saying not delivered); a message
--    row keeps only its last error; written by the trigger of
--    sql/functions/sms_private.outbox_log_attempt.sql.
-- 3. sms_worker_state: each worker's SMPP bind state and heartbeat, written by the worker
--    (src/worker/reporter.ts), read by the console and `sms-outbox status`.
-- 4. Indexes the console's pages need over a large sms_outbox: messages by recipient (newest
--    first), the messages that ended badly (newest first), incoming SMS by sender.
-- 5. The reader role reads parked incoming traffic (sms_inbound_parked) and the attempt log.


-- 1. The attempt log ---------------------------------------------------------------------------

create table public.sms_outbox_attempt (
  id            bigint generated always as identity primary key,
  outbox_id     uuid not null references public.sms_outbox (id) on delete cascade,
  at            timestamptz not null default now(),
  attempt       integer not null,
  status        text not null,
  error_code    text,
  error_message text
);

comment on table public.sms_outbox_attempt is
  'sms-outbox: every status change of a message that came with an error (the attempt it ended, the status it led to, the error); the message keeps only the last one';
comment on column public.sms_outbox_attempt.attempt is 'sms_outbox.attempts at the change: the submit attempt it ended (0 for a refusal before any)';
comment on column public.sms_outbox_attempt.status is 'the status the change led to: queued (to be retried), failed, rejected, undelivered, expired';

create index sms_outbox_attempt_outbox_id_idx on public.sms_outbox_attempt (outbox_id);

alter table public.sms_outbox_attempt enable row level security;
create policy sms_reader_select on public.sms_outbox_attempt for select to sms_reader using (true);


-- 2. Workers ---------------------------------------------------------------------------------

create table public.sms_worker_state (
  worker_id          text primary key,
  host               text not null,
  pid                integer not null,
  version            text not null,
  -- SMPP_URL without its password.
  smsc               text not null,
  bind_mode          text not null,
  -- The session's state: disconnected, connecting, binding, bound, unbinding, closed; stopped
  -- once the worker has shut down.
  bind_state         text not null,
  bind_state_since   timestamptz not null,
  last_bound_at      timestamptz,
  last_problem       text,
  started_at         timestamptz not null,
  heartbeat_at       timestamptz not null default now(),
  heartbeat_interval interval not null,
  stopped_at         timestamptz
);

comment on table public.sms_worker_state is
  'sms-outbox: one row per worker process (WORKER_ID): its SMPP bind state and heartbeat; a heartbeat older than three intervals means the worker is gone';
comment on column public.sms_worker_state.bind_state is
  'disconnected, connecting, binding, bound, unbinding, closed (the SMPP session), or stopped (the worker shut down)';
comment on column public.sms_worker_state.last_problem is 'why the session last went down or a bind was refused';
comment on column public.sms_worker_state.heartbeat_interval is 'how often the worker writes heartbeat_at';

alter table public.sms_worker_state enable row level security;
create policy sms_worker_all on public.sms_worker_state for all to sms_worker using (true) with check (true);
create policy sms_reader_select on public.sms_worker_state for select to sms_reader using (true);


-- 3. Indexes for the console ------------------------------------------------------------------
--
-- Messages are listed newest first by id (a UUIDv7: time order), so the first page and a time
-- range are a scan of the primary key. A filter by recipient reads the messages to that number,
-- newest first. The second index holds only messages that ended badly: sms_send writes no entry
-- to it (an opted-out marketing message aside), the worker one per message that fails.

create index sms_outbox_recipient_idx on public.sms_outbox (recipient, id);

create index sms_outbox_ended_badly_idx on public.sms_outbox (id)
  where status in ('undelivered', 'expired', 'rejected', 'failed', 'cancelled');

create index sms_inbox_sender_idx on public.sms_inbox (sender, id);


-- 4. Grants on the tables ------------------------------------------------------------------------

grant select on public.sms_outbox_attempt, public.sms_worker_state to sms_reader;
grant select, insert, update, delete on public.sms_worker_state to sms_worker;

-- Parked incoming traffic: the reader sees what waits for a replay (the replay itself stays the
-- owner's: sms_inbound_replay updates the rows).
grant select on public.sms_inbound_parked to sms_reader;
create policy sms_reader_select on public.sms_inbound_parked for select to sms_reader using (true);
