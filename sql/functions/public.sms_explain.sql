-- sms_explain(id): the decision trail of one message as JSON, so psql users get what the console's
-- message page shows: the encoding and the characters that decided it, segments, refusals,
-- attempts with their errors (sms_outbox_attempt), the outcomes sms_retry replaced, parts with
-- their SMSC ids, raw receipts (without their text: field, the first characters of the body),
-- and a timeline. Ownership as sms_status: NULL for an unknown id or another's, every message for
-- the reader role and the owner of the schema. Never the body.
create or replace function public.sms_explain(id uuid) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_all boolean := sms_private.caller_sees_all();
  o public.sms_outbox;
  v_lease record;
  v_max_attempts integer;
  v_grace interval;
  v_overdue boolean;
  v_parts jsonb;
  v_receipts jsonb;
  v_attempts jsonb;
  v_retries jsonb;
  v_refusals jsonb := '[]'::jsonb;
  v_timeline jsonb;
  v_outcome text;
begin
  if sms_explain.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  select x.* into o
    from public.sms_outbox x
   where x.id = sms_explain.id
     and (x.owner = v_owner or v_all);
  if not found then
    return null;                       -- unknown, or another's: the same answer
  end if;
  -- A message a worker holds (a row of sms_sending: queued, with a lease, migration 0034) is
  -- explained as sending, by that worker, with the attempt in flight counted.
  select s.attempt, s.worker_id into v_lease from public.sms_sending s where s.id = o.id;
  if found then
    o.status := 'sending';
    o.attempts := v_lease.attempt;
    o.worker_id := v_lease.worker_id;
  end if;
  select s.max_attempts, s.receipt_grace into v_max_attempts, v_grace from public.sms_settings s;
  -- As sms_status' receipt_overdue: still sent past expires_at plus the grace.
  v_overdue := o.status = 'sent' and o.expires_at + v_grace < now();

  -- Parts and their SMSC ids: a single-part message since 0017 has no part row.
  select coalesce(jsonb_agg(jsonb_build_object('part_no', p.part_no, 'message_id', coalesce(o.message_ids[p.part_no], p.message_id),
                                               'submitted_at', p.submitted_at, 'receipt_state', p.receipt_state,
                                               'receipt_error', p.receipt_error, 'done_at', p.done_at) order by p.part_no), '[]'::jsonb)
    into v_parts
    from public.sms_outbox_part p
   where p.outbox_id = o.id;
  if v_parts = '[]'::jsonb and o.message_ids is not null then
    select jsonb_agg(jsonb_build_object('part_no', n, 'message_id', m, 'submitted_at', o.submitted_at,
                                        'receipt_state', case when o.segments = 1 then o.receipt_state end,
                                        'receipt_error', case when o.segments = 1 then o.receipt_error end,
                                        'done_at', case when o.segments = 1 and o.receipt_state is not null then o.done_at end) order by n)
      into v_parts
      from unnest(o.message_ids) with ordinality as u(m, n);
  end if;

  -- Raw receipts, without their text: field (the first characters of the body).
  select coalesce(jsonb_agg(jsonb_build_object('received_at', r.received_at, 'message_id', r.raw_message_id, 'state', r.state,
                                               'error', r.error, 'source_addr', r.source_addr, 'destination_addr', r.destination_addr,
                                               'text', regexp_replace(r.text, '(text:).*$', '\1', 'i'), 'matched_at', r.matched_at)
                            order by r.received_at, r.id), '[]'::jsonb)
    into v_receipts
    from public.sms_receipt r
   where r.outbox_id = o.id;

  select coalesce(jsonb_agg(jsonb_build_object('at', a.at, 'attempt', a.attempt, 'status', a.status,
                                               'error_code', a.error_code, 'error_message', a.error_message) order by a.id), '[]'::jsonb)
    into v_attempts
    from public.sms_outbox_attempt a
   where a.outbox_id = o.id;

  select coalesce(jsonb_agg(jsonb_build_object('retried_at', r.retried_at, 'retried_by', r.retried_by, 'status', r.status,
                                               'attempts', r.attempts, 'error_code', r.error_code, 'error_message', r.error_message,
                                               'receipt_state', r.receipt_state, 'message_ids', r.message_ids,
                                               'submitted_at', r.submitted_at, 'done_at', r.done_at) order by r.id), '[]'::jsonb)
    into v_retries
    from public.sms_outbox_retry r
   where r.outbox_id = o.id;

  -- Refusals: who said no, and why.
  if o.error_code = 'OPTED_OUT' then
    v_refusals := v_refusals || jsonb_build_object('by', case when o.done_at = o.created_at then 'sms_send' else 'worker' end,
                                                   'code', 'OPTED_OUT', 'message', o.error_message);
  elsif o.status = 'failed' then
    v_refusals := v_refusals || jsonb_build_object('by', case when o.error_code = 'LEASE_EXPIRED' then 'worker' else 'smsc' end,
                                                   'code', o.error_code, 'message', o.error_message);
  elsif o.status in ('undelivered', 'rejected') or (o.status = 'expired' and o.receipt_state is not null) then
    v_refusals := v_refusals || jsonb_build_object('by', 'network', 'code', coalesce(o.receipt_error, o.error_code),
                                                   'receipt_state', o.receipt_state, 'message', o.error_message);
  elsif o.status = 'expired' then
    v_refusals := v_refusals || jsonb_build_object('by', 'worker', 'code', 'EXPIRED', 'message',
                                                   coalesce(o.error_message, 'expired before it could be sent') || ' (expires_at ' || sms_private.utc(o.expires_at) || ')');
  elsif o.status = 'cancelled' then
    v_refusals := v_refusals || jsonb_build_object('by', 'sms_cancel', 'code', 'CANCELLED', 'message', 'cancelled before it was sent');
  end if;

  v_outcome := case o.status
    when 'queued' then case when o.attempts > o.attempts_at_retry then format('waiting to be tried again at %s after %s failed attempt%s (last: %s)',
                                                                 sms_private.utc(o.next_attempt_at), o.attempts - o.attempts_at_retry,
                                                                 case when o.attempts - o.attempts_at_retry = 1 then '' else 's' end,
                                                                 coalesce(o.error_code, 'no error recorded'))
                            when o.next_attempt_at > now() then format('scheduled for %s', sms_private.utc(o.next_attempt_at))
                            else 'waiting for a worker to send it' end
    when 'sending' then format('a worker (%s) is submitting it', coalesce(o.worker_id, 'unknown'))
    when 'sent' then case when v_overdue then format('accepted by the SMSC at %s; its receipt is overdue: its validity ended at %s and the grace of %s has passed', sms_private.utc(o.submitted_at), sms_private.utc(o.expires_at), v_grace)
                          when o.expires_at < now() then format('accepted by the SMSC at %s; no receipt yet, and its validity ended at %s', sms_private.utc(o.submitted_at), sms_private.utc(o.expires_at))
                          else format('accepted by the SMSC at %s; waiting for the delivery receipt', sms_private.utc(o.submitted_at)) end
    when 'delivered' then format('delivered: the receipt (%s) came at %s', coalesce(o.receipt_state, 'DELIVRD'), sms_private.utc(o.done_at))
    when 'undelivered' then format('not delivered: the receipt said %s (error %s)', o.receipt_state, coalesce(o.receipt_error, 'none'))
    when 'expired' then case when o.receipt_state is not null then format('the network gave up: the receipt said %s', o.receipt_state)
                             else 'never sent: it expired before it could be sent' end
    when 'rejected' then case when o.error_code = 'OPTED_OUT' then 'never sent: the recipient opted out of marketing messages'
                              else format('rejected by the network: the receipt said %s (error %s)', o.receipt_state, coalesce(o.receipt_error, 'none')) end
    when 'failed' then format('failed: %s', coalesce(o.error_message, o.error_code))
    when 'cancelled' then 'cancelled before it was sent'
  end;

  -- The timeline, oldest first.
  select jsonb_agg(e.ev order by e.at, e.seq) into v_timeline
    from (
      select o.created_at as at, 1 as seq, jsonb_build_object('at', o.created_at, 'event', 'enqueued',
               'detail', format('by %s, %s, priority %s, %s part%s (%s)', o.owner, o.category, o.priority, o.segments,
                                case when o.segments = 1 then '' else 's' end, o.encoding)) as ev
      union all
      select o.send_at, 2, jsonb_build_object('at', o.send_at, 'event', 'scheduled', 'detail', 'due at send_at')
       where o.send_at > o.created_at + interval '1 second'
      union all
      select a.at, 3, jsonb_build_object('at', a.at, 'event', case a.status when 'queued' then 'attempt failed, to be retried' else 'attempt ended ' || a.status end,
                                         'detail', format('attempt %s: %s%s', a.attempt, a.error_code, coalesce(': ' || a.error_message, '')))
        from public.sms_outbox_attempt a where a.outbox_id = o.id
      union all
      select r.done_at, 4, jsonb_build_object('at', r.done_at, 'event', 'ended ' || r.status,
                                              'detail', concat_ws(': ', r.error_code, r.error_message))
        from public.sms_outbox_retry r where r.outbox_id = o.id
         and not exists (select from public.sms_outbox_attempt a where a.outbox_id = o.id and a.at = r.done_at)
      union all
      select r.retried_at, 5, jsonb_build_object('at', r.retried_at, 'event', 'retried', 'detail', format('by %s (sms_retry)', r.retried_by))
        from public.sms_outbox_retry r where r.outbox_id = o.id
      union all
      select o.submitted_at, 6, jsonb_build_object('at', o.submitted_at, 'event', 'accepted by the SMSC',
                                                   'detail', format('SMSC id%s %s', case when cardinality(o.message_ids) = 1 then '' else 's' end,
                                                                    array_to_string(o.message_ids, ', ')))
       where o.submitted_at is not null
      union all
      select r.received_at, 7, jsonb_build_object('at', r.received_at, 'event', 'receipt',
                                                  'detail', format('%s for %s%s', coalesce(r.state, 'no state'), r.raw_message_id, coalesce(' (err ' || r.error || ')', '')))
        from public.sms_receipt r where r.outbox_id = o.id
      union all
      select o.done_at, 8, jsonb_build_object('at', o.done_at, 'event', o.status, 'detail', v_outcome)
       where o.done_at is not null
      union all
      select o.redacted_at, 9, jsonb_build_object('at', o.redacted_at, 'event', 'body redacted', 'detail', 'sms_settings.redact_after')
       where o.redacted_at is not null
    ) e;

  return jsonb_build_object(
    'id', o.id,
    'status', o.status,
    'outcome', v_outcome,
    'owner', o.owner,
    'recipient', o.recipient,
    'sender', o.sender,
    'category', o.category,
    'priority', o.priority,
    'via', o.metadata ->> 'via',
    'created_at', o.created_at,
    'send_at', o.send_at,
    'expires_at', o.expires_at,
    'next_attempt_at', o.next_attempt_at,
    'submitted_at', o.submitted_at,
    'done_at', o.done_at,
    'receipt_overdue', v_overdue,
    'encoding', sms_private.explain_encoding(o),
    'attempts', jsonb_build_object('made', o.attempts, 'since_last_retry', o.attempts - o.attempts_at_retry,
                                   'max', v_max_attempts, 'retries', o.retries,
                                   'last_error_code', o.error_code, 'last_error_message', o.error_message,
                                   'errors', v_attempts),
    'refusals', v_refusals,
    'retries', v_retries,
    'parts', v_parts,
    'receipts', v_receipts,
    'timeline', coalesce(v_timeline, '[]'::jsonb));
end
$$;

comment on function public.sms_explain(uuid) is
  'sms-outbox: the decision trail of one of the caller''s messages as JSON (encoding and why, segments, refusals, attempts with their errors, retries, parts with SMSC ids, receipts, timeline); NULL for an unknown id or another''s, every message for the reader role; never the body';

revoke all on function public.sms_explain(uuid) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_explain(uuid) to sms_sender, sms_reader;
