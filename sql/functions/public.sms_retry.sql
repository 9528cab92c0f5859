-- sms_retry: puts one of the caller's failed, rejected, undelivered or expired messages back in
-- the queue, the one way a final status moves back (receipts and submit results only ever move a
-- message forward). True when it did: the message is queued again, due now, with a fresh expiry
-- when its own has passed (as long again as it first had, from now: a 5-minute code gets 5 more
-- minutes). False otherwise: an unknown id, another's (as sms_cancel: exactly like an unknown
-- one, without waiting for a lock on it), a message in any other status, or one whose body was
-- redacted (there is nothing left to send).
--
-- The outcome it replaces is kept in sms_outbox_retry; the SMSC ids and receipts of its parts
-- are dropped with it, so a late receipt for the earlier attempt matches nothing. `attempts`
-- keeps counting (it fences a worker's writes, so it never goes back); sms_settings.max_attempts
-- counts the attempts since the last retry (attempts_at_retry).
create or replace function public.sms_retry(id uuid) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_admin boolean := sms_private.caller_is_admin();
  v_old public.sms_outbox;
  v_armed boolean;
begin
  if sms_retry.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  select o.* into v_old
    from public.sms_outbox o
   where o.id = sms_retry.id
     and o.status in ('failed', 'rejected', 'undelivered', 'expired')
     and o.redacted_at is null
     and (o.owner = v_owner or v_admin)
     for update;
  if not found then
    return false;
  end if;
  insert into public.sms_outbox_retry
    (outbox_id, retried_by, status, attempts, error_code, error_message, receipt_state, receipt_error,
     message_ids, submitted_at, done_at)
  values (v_old.id, v_owner, v_old.status, v_old.attempts - v_old.attempts_at_retry, v_old.error_code,
          v_old.error_message, v_old.receipt_state, v_old.receipt_error, v_old.message_ids,
          v_old.submitted_at, v_old.done_at);
  delete from public.sms_outbox_part p where p.outbox_id = v_old.id;
  update public.sms_outbox o
     set status = 'queued',
         next_attempt_at = now(),
         expires_at = case when o.expires_at > now() then o.expires_at
                           else now() + greatest(o.expires_at - greatest(o.send_at, o.created_at), interval '1 minute') end,
         retries = o.retries + 1,
         attempts_at_retry = o.attempts,
         done_at = null, submitted_at = null, message_ids = null, error_code = null, error_message = null,
         receipt_state = null, receipt_error = null, worker_id = null,
         updated_at = now()
   where o.id = v_old.id;
  -- Wake an idle worker, as sms_send does.
  select w.armed_until > now() into v_armed from public.sms_wakeup w;
  if v_armed then
    perform sms_private.wake_workers();
  end if;
  return true;
end
$$;

comment on function public.sms_retry(uuid) is
  'sms-outbox: put one of the caller''s failed, rejected, undelivered or expired messages back in the queue; true when it did (another''s id is unknown)';

revoke all on function public.sms_retry(uuid) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_retry(uuid) to sms_sender;
