-- The worker's side of the schema: the account-wide submit rate limit shared by all workers,
-- and the notifications apps can LISTEN to.

-- SMPP_TPS is a limit of the carrier account, not of one process: every worker reserves
-- tokens here, so the combined submit rate of all workers holds to it.
create table public.sms_rate_limit (
  id          boolean primary key default true check (id),
  -- Tokens left (negative: reserved ahead, the reserving worker waits until they are earned).
  tokens      double precision not null default 0,
  refilled_at timestamptz not null default clock_timestamp()
);
insert into public.sms_rate_limit default values;

-- The tokens are reserved by public.sms_rate_reserve (sql/functions/). Incoming SMS are announced
-- on channel sms_inbox by the trigger sms_inbox_notify (sql/functions/public.sms_notify_inbox.sql);
-- status changes on channel sms_status by the functions that make them.

-- The worker checks at start that the schema matches its code.
grant select on public.sms_schema_migrations to sms_worker;
grant select, update on public.sms_rate_limit to sms_worker;

