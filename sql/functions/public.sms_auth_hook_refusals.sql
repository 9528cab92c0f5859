-- sms_auth_hook_refusals: how often the Send SMS Hook refused a code since the install, by reason
-- (the worker exports them as sms_auth_hook_refusals_total). Read from one sequence per reason
-- (sms_private.auth_hook_refused_*): Auth rolls its transaction back when the hook answers an
-- error, and sequences are not transactional, so a refusal counts anyway.
create or replace function public.sms_auth_hook_refusals(out reason text, out refusals bigint)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  foreach reason in array sms_private.auth_hook_refusal_reasons() loop
    execute pg_catalog.format('select case when s.is_called then s.last_value else 0 end from sms_private.%I s',
                              'auth_hook_refused_' || reason)
      into refusals;
    return next;
  end loop;
end
$$;

comment on function public.sms_auth_hook_refusals() is
  'sms-outbox: how often sms_auth_send_sms_hook refused a code since the install, by reason (bad_event, bad_phone, country, phone_limit, global_limit, busy, error, range_blocked, range_throttled)';

revoke all on function public.sms_auth_hook_refusals() from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_auth_hook_refusals() to sms_reader, sms_worker;
