-- sms_stats: one row for dashboards, alerts and `sms-outbox status`: messages per status, the age
-- of the oldest due queued message (NULL when none), sent (accepted by the SMSC) and delivered in
-- the last minute, and the messages whose receipt is overdue (still `sent` past expires_at plus
-- sms_settings.receipt_grace). Each figure reads an index (the live statuses through their partial indexes,
-- the finished ones through an index-only scan of sms_outbox_done_idx), not the whole table.
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
-- A message a worker holds is queued with a lease (migration 0034): counted as sending, not as
-- queued. Leases of messages no longer queued do not exist (the outcome's write deletes them).
select (select count(*) from public.sms_outbox o where o.status = 'queued')
         - (select count(*) from sms_private.outbox_lease l)             as queued,
       (select count(*) from sms_private.outbox_lease l)                 as sending,
       (select count(*) from public.sms_outbox o where o.status = 'sent')    as sent,
       f.delivered,
       f.undelivered,
       f.expired,
       f.rejected,
       f.failed,
       f.cancelled,
       now() - (select min(o.next_attempt_at) from public.sms_outbox o
                 where o.status = 'queued' and o.next_attempt_at <= now()
                   and not exists (select from sms_private.outbox_lease l where l.outbox_id = o.id)) as oldest_queued_age,
       -- Submitted in the last minute: still `sent` (sms_outbox_sent_idx), or finished since
       -- (sms_outbox_done_idx; a message finishes after its submit, so done_at >= submitted_at).
       (select count(*) from public.sms_outbox o
         where o.status = 'sent' and o.submitted_at >= now() - interval '1 minute')
       + (select count(*) from public.sms_outbox o
           where o.done_at >= now() - interval '1 minute' and o.submitted_at >= now() - interval '1 minute')
                                                                          as sent_last_minute,
       f.delivered_last_minute,
       -- Through sms_outbox_sent_idx: only the messages waiting for a receipt are read.
       (select count(*) from public.sms_outbox o
         where o.status = 'sent'
           and o.expires_at + (select s.receipt_grace from public.sms_settings s where s.id) < now()) as receipts_overdue
  from finished f;

-- With the caller's rights (sms_private.view_as_invoker says why).
select sms_private.view_as_invoker('public.sms_stats');

comment on view public.sms_stats is
  'sms-outbox: messages per status, age of the oldest due queued message (NULL when none), sent (accepted by the SMSC) and delivered in the last minute, sent messages whose receipt is overdue';

-- The reader role, and the worker (its metrics); service_role on Supabase while sms_allow_service_role_read is on.
revoke all on table public.sms_stats from public, sms_sender, sms_reader, sms_worker;
grant select on table public.sms_stats to sms_reader, sms_worker;
