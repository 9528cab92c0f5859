-- sms_status: one row (public.sms_status_row) for one of the caller's messages, none for an
-- unknown id or another's; the reader role and the owner of the schema see every message. The
-- body is left out on purpose: it often holds a one-time code; the reader role can select it
-- from sms_outbox. parts_delivered / parts_undelivered count the parts' receipts; a single-part
-- message has no sms_outbox_part row (migration 0017), so its one part follows its receipt_state.
-- receipt_overdue: still `sent` past expires_at plus sms_settings.receipt_grace, so no receipt is
-- coming any more (one that comes all the same still moves the message on).
create or replace function public.sms_status(id uuid) returns setof public.sms_status_row
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_all boolean := sms_private.caller_sees_all();
begin
  if sms_status.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  return query
    -- A message a worker holds (a row of sms_sending: queued in sms_outbox, with a lease,
    -- migration 0034) is shown as sending, with the attempt in flight counted.
    select o.id, case when l.attempt is not null then 'sending' else o.status end, o.recipient, o.sender, o.segments,
           o.encoding, coalesce(l.attempt, o.attempts), o.priority::integer,
           o.created_at, o.send_at, o.expires_at, o.next_attempt_at, o.submitted_at, o.done_at,
           o.error_code, o.error_message, o.message_ids, o.receipt_state, o.receipt_error,
           o.idempotency_key, o.metadata, o.category, o.replaced_chars, o.retries,
           case when p.parts > 0 or o.segments <> 1 then p.delivered::integer
                when o.receipt_state = 'DELIVRD' then 1 else 0 end,
           case when p.parts > 0 or o.segments <> 1 then p.undelivered::integer
                when o.receipt_state <> 'DELIVRD' and o.receipt_state = any (sms_private.final_receipt_states()) then 1 else 0 end,
           o.redacted_at,
           o.status = 'sent' and o.expires_at + s.receipt_grace < now()
      from public.sms_outbox o
      cross join public.sms_settings s
      cross join lateral (
        select count(*) as parts,
               count(*) filter (where x.receipt_state = 'DELIVRD') as delivered,
               count(*) filter (where x.receipt_state <> 'DELIVRD' and x.receipt_state = any (sms_private.final_receipt_states())) as undelivered
          from public.sms_outbox_part x
         where x.outbox_id = o.id
      ) p
      left join public.sms_sending l on l.id = o.id
     where o.id = sms_status.id
       and (o.owner = v_owner or v_all);
end
$$;

comment on function public.sms_status(uuid) is
  'sms-outbox: status of one of the caller''s messages (zero rows for an unknown id or another''s; every message for the reader role), with its parts delivered of segments and whether its receipt is overdue';

revoke all on function public.sms_status(uuid) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_status(uuid) to sms_sender;
