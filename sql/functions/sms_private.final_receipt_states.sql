-- sms_private.final_receipt_states(): the receipt states that end a part (SMPP 3.4's final
-- message states). A part whose receipt says ACCEPTD or ENROUTE is still under way, and a final
-- state is never replaced by a later receipt. The one list, for the receipt matching, the status
-- a message takes from its parts, and sms_status' parts counts; src/smpp/receipt-state.ts lists
-- the same first (test/db/state-lists.test.ts compares them). Inlined as a constant.
create or replace function sms_private.final_receipt_states() returns text[]
language sql immutable parallel safe
as $$
  select '{DELIVRD,UNDELIV,EXPIRED,REJECTD,DELETED,UNKNOWN}'::pg_catalog.text[]
$$;

comment on function sms_private.final_receipt_states() is
  'sms-outbox internal: the receipt states that end a part (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN)';

revoke all on function sms_private.final_receipt_states() from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.final_receipt_states() to sms_worker;
