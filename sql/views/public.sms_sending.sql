-- sms_sending: the messages a worker is sending now, one row each. A worker's claim is a lease in
-- sms_private.outbox_lease (migration 0034) and the message's row in sms_outbox stays `queued`
-- until the submit's outcome is written; sms_status and sms_stats count such a message as
-- `sending`, and a query on sms_outbox says the same by joining this view:
--
--   select o.id, case when s.id is not null then 'sending' else o.status end as status
--     from sms_outbox o left join sms_sending s using (id);
--
-- Only messages still queued (a lease outlives its message's outcome by nothing: the write that
-- ends an attempt deletes it), and only those the caller may read in sms_outbox.
create or replace view public.sms_sending as
select l.outbox_id as id, l.worker_id, l.attempt, l.lease_until
  from sms_private.outbox_lease l
  join public.sms_outbox o on o.id = l.outbox_id
 where o.status = 'queued';

-- With the caller's rights (sms_private.view_as_invoker says why).
select sms_private.view_as_invoker('public.sms_sending');

comment on view public.sms_sending is
  'sms-outbox: the messages a worker is sending now (status sending; their sms_outbox row stays queued until the outcome is written)';
comment on column public.sms_sending.id is 'the message (sms_outbox.id)';
comment on column public.sms_sending.worker_id is 'the worker submitting it';
comment on column public.sms_sending.attempt is 'the attempt this is (sms_outbox.attempts counts it once it ends)';
comment on column public.sms_sending.lease_until is 'until when the worker holds it; a lease that lapses returns the message to the queue';

-- The reader role (the console's message list) and the worker. It reads the leases with the
-- caller's rights: the reader's SELECT on them is granted by migration 0034.
revoke all on table public.sms_sending from public, sms_sender, sms_reader, sms_worker;
grant select on table public.sms_sending to sms_reader, sms_worker;
