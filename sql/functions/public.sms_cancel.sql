-- sms_cancel: true when one of the caller's messages was still queued (not yet handed to the
-- SMSC) and is now cancelled; false when it is unknown, another's, being sent, or already final.
-- The owner condition is part of the WHERE, so another owner's row fails it before any lock:
-- a cancel never waits for the worker's lock on another's message.
--
-- A message being sent is queued in sms_outbox with a lease (sms_private.outbox_lease, migration
-- 0034), so the lease decides. The row is locked first: a claim in progress holds it (FOR
-- UPDATE), and the cancel waits for it; a claim that comes later skips the row. Then the cancel
-- takes the lease itself, for the length of its transaction: the unique index sees committed
-- leases whatever the caller's snapshot, so a lease committed by a claim the cancel waited for
-- makes it false (in READ COMMITTED), or a serialization failure (40001, in REPEATABLE READ or
-- SERIALIZABLE: retry the transaction), never a cancel of a message the worker is sending. The
-- change is announced on channel sms_status, like every move to a final status.
create or replace function public.sms_cancel(id uuid) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_admin boolean := sms_private.caller_is_admin();
begin
  if sms_cancel.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  perform from public.sms_outbox o
   where o.id = sms_cancel.id
     and o.status = 'queued'
     and (o.owner = v_owner or v_admin)
     for update;
  if not found then
    return false;
  end if;
  insert into sms_private.outbox_lease (outbox_id, worker_id, attempt, lease_until)
  values (sms_cancel.id, '(sms_cancel)', 0, now())
  on conflict (outbox_id) do nothing;
  if not found then
    return false;                      -- a worker holds it: being sent
  end if;
  update public.sms_outbox o
     set status = 'cancelled', done_at = now(), updated_at = now()
   where o.id = sms_cancel.id;
  delete from sms_private.outbox_lease l where l.outbox_id = sms_cancel.id;
  perform sms_private.announce_status(sms_cancel.id, 'cancelled');
  return true;
end
$$;

comment on function public.sms_cancel(uuid) is
  'sms-outbox: cancel one of the caller''s queued messages; true when it was queued and is now cancelled, false otherwise (another''s id is unknown)';

revoke all on function public.sms_cancel(uuid) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_cancel(uuid) to sms_sender;
