-- sms_auth_code_status(phone | user_id): the latest sign-in code for a phone number or a user,
-- with its message's status and receipt, and whether offering "resend" makes sense: the code
-- ended without being delivered (undelivered, expired, rejected, failed, cancelled), or it has
-- expired anyway. No row: no code in the last day (or per_phone_window). Never the code. A code a
-- worker is sending (a row of sms_sending, migration 0034) is `sending`, with that attempt
-- counted, as sms_status says.
create or replace function public.sms_auth_code_status(phone text default null, user_id uuid default null)
returns setof public.sms_auth_code_status_row
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_phone text;
begin
  if sms_auth_code_status.phone is null and sms_auth_code_status.user_id is null then
    raise exception 'pass phone or user_id'
      using errcode = '22004', column = 'phone';
  end if;
  if sms_auth_code_status.phone is not null then
    begin
      v_phone := sms_private.check_recipient(sms_auth_code_status.phone);
    exception when data_exception then
      raise exception 'phone % is not a plausible international number, e.g. +79991234567',
          pg_catalog.quote_literal(pg_catalog.left(sms_auth_code_status.phone, 64))
        using errcode = '22023', column = 'phone';
    end;
  end if;
  return query
    select c.outbox_id, c.user_id, c.phone, c.sms_type,
           case when l.attempt is not null then 'sending' else coalesce(o.status, c.status) end, c.created_at, c.expires_at,
           o.submitted_at, o.done_at, coalesce(l.attempt, o.attempts), o.receipt_state, o.error_code,
           coalesce(o.status, c.status) in ('undelivered', 'expired', 'rejected', 'failed', 'cancelled') or c.expires_at <= now()
      from public.sms_auth_code c
      left join public.sms_outbox o on o.id = c.outbox_id
      left join public.sms_sending l on l.id = c.outbox_id
     where (v_phone is null or c.phone = v_phone)
       and (sms_auth_code_status.user_id is null or c.user_id = sms_auth_code_status.user_id)
     order by c.created_at desc, c.outbox_id desc
     limit 1;
end
$$;

comment on function public.sms_auth_code_status(text, uuid) is
  'sms-outbox: status and receipt of the latest sign-in code for a phone number or a user, and whether to offer "resend" (never the code); for service_role and the reader role';

-- The reader role, and service_role on Supabase (sms_grant_supabase_roles).
revoke all on function public.sms_auth_code_status(text, uuid) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_auth_code_status(text, uuid) to sms_reader;
