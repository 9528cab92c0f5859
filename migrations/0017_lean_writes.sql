-- sms-outbox 0017: fewer writes per message (issue 15). Every statement changing a message's
-- status writes a new version of its sms_outbox row and an entry in every index whose predicate
-- the new version meets (status is in most predicates, so none of these updates is HOT). This
-- migration removes what a single-part message wrote beyond that, with the same results for
-- every reader:
--
-- 1. A single-part message gets no sms_outbox_part row: its SMSC id (normalised, as receipts are
--    matched) is kept in sms_outbox.smsc_message_id, and its receipt is applied to the message
--    alone. That was a row inserted on submit, updated by the receipt, and two index entries
--    each time. Messages of several parts keep one row per part; rows written before this
--    migration stay as they are and are matched as before (src/db/receipts.ts reads both).
--    sms_status' parts_delivered / parts_undelivered of a single-part message without a part
--    row follow from its receipt_state, which the receipt that ends its one part sets.
-- 2. sms_outbox_submitted_idx goes: it took an entry on submit and another on the receipt, for
--    sms_stats' sent_last_minute alone. A message with submitted_at is `sent` or finished after
--    it (sms_retry clears submitted_at), so the figure is counted through the index of sent rows
--    and that of finished ones instead.
-- 3. sms_outbox_part pages keep room for the update a part's receipt makes (fillfactor 80), so
--    it is a HOT update (none of the columns it changes is indexed).


-- 1. Single-part messages without a part row --------------------------------------------------------

alter table public.sms_outbox add column smsc_message_id text;

comment on column public.sms_outbox.smsc_message_id is
  'a single-part message''s SMSC id, normalised (lower case, leading zeros stripped), that receipts are matched on; messages of several parts have theirs in sms_outbox_part';

-- Receipts are matched on it (a receipt's id in every form it may take). The matching ignores
-- rows without message_ids: sms_retry clears those, so a late receipt of an earlier attempt
-- matches nothing, as it did when sms_retry deleted that attempt's parts.
create index sms_outbox_smsc_message_id_idx on public.sms_outbox (smsc_message_id)
  where smsc_message_id is not null;

-- The worker writes it with the submit result, like message_ids (0006).
grant update (smsc_message_id) on public.sms_outbox to sms_worker;

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
           case when p.parts > 0 or o.segments <> 1 then p.delivered::integer
                when o.receipt_state = 'DELIVRD' then 1 else 0 end,
           case when p.parts > 0 or o.segments <> 1 then p.undelivered::integer
                when o.receipt_state in ('UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN') then 1 else 0 end,
           o.redacted_at
      from public.sms_outbox o
      cross join lateral (
        select count(*) as parts,
               count(*) filter (where x.receipt_state = 'DELIVRD') as delivered,
               count(*) filter (where x.receipt_state in ('UNDELIV', 'EXPIRED', 'REJECTD', 'DELETED', 'UNKNOWN')) as undelivered
          from public.sms_outbox_part x
         where x.outbox_id = o.id
      ) p
     where o.id = sms_status.id
       and (o.owner = v_owner or v_all);
end
$$;

comment on function public.sms_status(uuid) is
  'sms-outbox: status of one of the caller''s messages (zero rows for an unknown id or another''s; every message for the reader role), with its parts delivered of segments';


-- 2. sms_stats without sms_outbox_submitted_idx -----------------------------------------------------

drop index public.sms_outbox_submitted_idx;

create or replace view public.sms_stats as
with finished as (
  select count(*) filter (where o.status = 'delivered')   as delivered,
         count(*) filter (where o.status = 'undelivered') as undelivered,
         count(*) filter (where o.status = 'expired')     as expired,
         count(*) filter (where o.status = 'rejected')    as rejected,
         count(*) filter (where o.status = 'failed')      as failed,
         count(*) filter (where o.status = 'cancelled')   as cancelled,
         count(*) filter (where o.status = 'delivered' and o.done_at >= now() - interval '1 minute') as delivered_last_minute
    from public.sms_outbox o
   where o.done_at is not null
)
select (select count(*) from public.sms_outbox o where o.status = 'queued')  as queued,
       (select count(*) from public.sms_outbox o where o.status = 'sending') as sending,
       (select count(*) from public.sms_outbox o where o.status = 'sent')    as sent,
       f.delivered,
       f.undelivered,
       f.expired,
       f.rejected,
       f.failed,
       f.cancelled,
       now() - (select min(o.next_attempt_at) from public.sms_outbox o
                 where o.status = 'queued' and o.next_attempt_at <= now()) as oldest_queued_age,
       -- Submitted in the last minute: still `sent` (sms_outbox_sent_idx), or finished since
       -- (sms_outbox_done_idx; a message finishes after its submit, so done_at >= submitted_at).
       (select count(*) from public.sms_outbox o
         where o.status = 'sent' and o.submitted_at >= now() - interval '1 minute')
       + (select count(*) from public.sms_outbox o
           where o.done_at >= now() - interval '1 minute' and o.submitted_at >= now() - interval '1 minute')
                                                                          as sent_last_minute,
       f.delivered_last_minute
  from finished f;

comment on view public.sms_stats is
  'sms-outbox: messages per status, age of the oldest due queued message (NULL when none), sent (accepted by the SMSC) and delivered in the last minute';

-- create or replace view resets the view's options: run with the caller's rights again (0008).
do $$
begin
  if pg_catalog.current_setting('server_version_num')::integer >= 150000 then
    alter view public.sms_stats set (security_invoker = true);
  end if;
end
$$;


-- 3. Room for HOT receipt updates of parts ---------------------------------------------------------

alter table public.sms_outbox_part set (fillfactor = 80);

select public.sms_strip_inherited_grants();
