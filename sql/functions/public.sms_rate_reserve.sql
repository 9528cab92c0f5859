-- sms_rate_reserve: SMPP_TPS is a limit of the carrier account, not of one process: every worker
-- reserves tokens in sms_rate_limit, so the combined submit rate of all workers holds to it.
-- Reserves `want` tokens of a bucket that earns `rate` per second and holds at most `burst`.
-- Returns how many seconds the caller must wait before using them (0 when available now).
-- Reservations queue up: two workers asking at once get consecutive slots, never the same one.
create or replace function public.sms_rate_reserve(want integer, rate double precision, burst double precision)
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

comment on function public.sms_rate_reserve(integer, double precision, double precision) is
  'sms-outbox internal: reserves submit tokens of the account-wide rate limit (SMPP_TPS) shared by all workers; returns the seconds to wait before using them';

revoke all on function public.sms_rate_reserve(integer, double precision, double precision) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_rate_reserve(integer, double precision, double precision) to sms_worker;
