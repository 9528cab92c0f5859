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

-- Reserves `want` tokens of a bucket that earns `rate` per second and holds at most `burst`.
-- Returns how many seconds the caller must wait before using them (0 when available now).
-- Reservations queue up: two workers asking at once get consecutive slots, never the same one.
create function public.sms_rate_reserve(want integer, rate double precision, burst double precision)
returns double precision
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  now_ts timestamptz := clock_timestamp();
  left_tokens double precision;
begin
  if want < 1 or rate <= 0 or burst < 1 then
    raise exception 'sms_rate_reserve: want (%), rate (%) and burst (%) must be positive', want, rate, burst
      using errcode = '22023';
  end if;
  update public.sms_rate_limit
     set tokens = least(burst, tokens + extract(epoch from now_ts - refilled_at) * rate) - want,
         refilled_at = now_ts
   returning tokens into left_tokens;
  return greatest(0, -left_tokens / rate);
end;
$$;

-- Status changes an app may care about are announced on channel `sms_status` with a JSON
-- payload {"id": "...", "status": "..."}, delivered after the change commits. Every statement
-- that moves a message to sent or a final status announces its rows with pg_notify in the same
-- statement (src/db/outbox.ts, src/db/receipts.ts; sms_cancel for cancelled). Not a trigger: a
-- per-row plpgsql trigger cost ~30 us per change under load, a quarter of the worker's write
-- budget. The internal churn (claimed -> sending, retry -> queued) is not announced.

-- Every incoming SMS stored in sms_inbox is announced on channel `sms_inbox` ({"id": "..."}).
create function public.sms_notify_inbox() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform pg_notify('sms_inbox', json_build_object('id', new.id)::text);
  return null;
end;
$$;

create trigger sms_inbox_notify
  after insert on public.sms_inbox
  for each row
  execute function public.sms_notify_inbox();

select public.sms_strip_inherited_grants();
-- The worker checks at start that the schema matches its code.
grant select on public.sms_schema_migrations to sms_worker;
grant select, update on public.sms_rate_limit to sms_worker;
grant execute on function public.sms_rate_reserve(integer, double precision, double precision) to sms_worker;
