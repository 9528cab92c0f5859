-- sms_private.wake_workers(due_in_ms): wakes the workers waiting on channel sms_outbox_wakeup (the
-- one sms_send uses): an empty payload when there is work now, {"due_in_ms": N} when rows fall
-- due later (a retry's back-off), so each worker arms a timer for them. NOTIFY is transactional
-- (delivered at commit, discarded on rollback) and identical notifications in one transaction are
-- folded into one. Plain SQL without SET, every name qualified, so the planner inlines it.
create or replace function sms_private.wake_workers(due_in_ms double precision default 0) returns void
language sql volatile
as $$
  select pg_catalog.pg_notify('sms_outbox_wakeup',
           case when $1 operator(pg_catalog.>) 0
                then pg_catalog.json_build_object('due_in_ms', $1)::pg_catalog.text else '' end)
$$;

comment on function sms_private.wake_workers(double precision) is
  'sms-outbox internal: NOTIFYs sms_outbox_wakeup, with {"due_in_ms": N} when the work falls due later';

-- The worker wakes the others for rows it puts back in the queue.
revoke all on function sms_private.wake_workers(double precision) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.wake_workers(double precision) to sms_worker;
