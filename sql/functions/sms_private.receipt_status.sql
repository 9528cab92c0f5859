-- sms_private.receipt_status(state): the status a final receipt state gives a message: DELIVRD
-- delivered, EXPIRED expired, REJECTD rejected, the other final states undelivered; NULL for a
-- state that is not final (sms_private.final_receipt_states). Inlined.
create or replace function sms_private.receipt_status(state text) returns text
language sql immutable parallel safe
as $$
  select case when $1 operator(pg_catalog.=) 'DELIVRD' then 'delivered'
              when $1 operator(pg_catalog.=) 'EXPIRED' then 'expired'
              when $1 operator(pg_catalog.=) 'REJECTD' then 'rejected'
              when $1 operator(pg_catalog.=) any (sms_private.final_receipt_states()) then 'undelivered' end
$$;

comment on function sms_private.receipt_status(text) is
  'sms-outbox internal: the message status a final receipt state gives (delivered, expired, rejected, undelivered); NULL for a state under way';

revoke all on function sms_private.receipt_status(text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.receipt_status(text) to sms_worker;
