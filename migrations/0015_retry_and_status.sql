-- sms-outbox 0015: sms_retry, and what sms_status shows of a message's life.
--
-- 1. sms_retry(id) puts one of the caller's failed, rejected, undelivered or expired messages
--    back in the queue, the one way a final status moves (receipts and submit results only ever
--    move a message forward: src/db/outbox.ts, src/db/receipts.ts). The outcome it replaces is
--    kept in sms_outbox_retry; the SMSC ids and receipts of its parts are dropped with it, so a
--    late receipt for the earlier attempt matches nothing. `attempts` keeps counting (it fences
--    a worker's writes, so it never goes back); sms_settings.max_attempts counts the attempts
--    since the last retry (attempts_at_retry).
-- 2. sms_status also returns the category, the characters smart encoding replaced, the retries,
--    the parts delivered (and ended undelivered) of a multi-part message, and when its body was
--    redacted.


-- 1. sms_retry ---------------------------------------------------------------------------------

alter table public.sms_outbox
  add column retries           integer not null default 0,
  add column attempts_at_retry integer not null default 0;

comment on column public.sms_outbox.retries is 'how often sms_retry put the message back in the queue (sms_outbox_retry has each outcome it replaced)';
comment on column public.sms_outbox.attempts_at_retry is 'attempts at the last sms_retry: sms_settings.max_attempts counts the attempts after it';

create table public.sms_outbox_retry (
  id            bigint generated always as identity primary key,
  outbox_id     uuid not null references public.sms_outbox (id) on delete cascade,
  retried_at    timestamptz not null default now(),
  retried_by    text not null,
  status        text not null,
  attempts      integer not null,
  error_code    text,
  error_message text,
  receipt_state text,
  receipt_error text,
  message_ids   text[],
  submitted_at  timestamptz,
  done_at       timestamptz not null
);

comment on table public.sms_outbox_retry is
  'sms-outbox: the outcome each sms_retry replaced (status, error, receipt, SMSC ids, the attempts it took), deleted with its message';
comment on column public.sms_outbox_retry.retried_by is 'who called sms_retry, as sms_outbox.owner names roles';
comment on column public.sms_outbox_retry.attempts is 'submit attempts of the outcome replaced (since the retry before it)';

-- Its message's history, and the purge's cascade.
create index sms_outbox_retry_outbox_id_idx on public.sms_outbox_retry (outbox_id);

alter table public.sms_outbox_retry enable row level security;
create policy sms_reader_select on public.sms_outbox_retry for select to sms_reader using (true);

-- True when the message was failed, rejected, undelivered or expired and is now queued again,
-- due now, with a fresh expiry when its own has passed (as long again as it first had, from
-- now: a 5-minute code gets 5 more minutes). False otherwise: an unknown id, another's (as
-- sms_cancel: exactly like an unknown one, without waiting for a lock on it), a message in
-- any other status, or one whose body was redacted (there is nothing left to send).
create function public.sms_retry(id uuid) returns boolean
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
         receipt_state = null, receipt_error = null, lease_until = null, worker_id = null,
         updated_at = now()
   where o.id = v_old.id;
  -- Wake an idle worker, as sms_send does.
  select w.armed_until > now() into v_armed from public.sms_wakeup w;
  if v_armed then
    perform pg_notify('sms_outbox_wakeup', '');
  end if;
  return true;
end
$$;

comment on function public.sms_retry(uuid) is
  'sms-outbox: put one of the caller''s failed, rejected, undelivered or expired messages back in the queue; true when it did (another''s id is unknown)';


-- 2. sms_status -----------------------------------------------------------------------------------

alter type public.sms_status_row
  add attribute category          text,
  add attribute replaced_chars    integer,
  add attribute retries           integer,
  add attribute parts_delivered   integer,
  add attribute parts_undelivered integer,
  add attribute redacted_at       timestamptz;

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
    select o.id, o.status, o.recipient, o.sender, o.segments, o.encoding, o.attempts, o.priority::integer,
           o.created_at, o.send_at, o.expires_at, o.next_attempt_at, o.submitted_at, o.done_at,
           o.error_code, o.error_message, o.message_ids, o.receipt_state, o.receipt_error,
           o.idempotency_key, o.metadata, o.category, o.replaced_chars, o.retries,
           coalesce(p.delivered, 0)::integer, coalesce(p.undelivered, 0)::integer, o.redacted_at
      from public.sms_outbox o
      left join lateral (
        select count(*) filter (where x.receipt_state = 'DELIVRD') as delivered,
               count(*) filter (where x.receipt_state in ('UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN')) as undelivered
          from public.sms_outbox_part x
         where x.outbox_id = o.id
      ) p on true
     where o.id = sms_status.id
       and (o.owner = v_owner or v_all);
end
$$;

comment on function public.sms_status(uuid) is
  'sms-outbox: status of one of the caller''s messages (zero rows for an unknown id or another''s; every message for the reader role), with its parts delivered of segments';


-- 3. Grants ------------------------------------------------------------------------------------------

grant execute on function public.sms_retry(uuid) to sms_sender;
grant select on public.sms_outbox_retry to sms_reader;

select public.sms_strip_inherited_grants();
