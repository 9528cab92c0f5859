-- sms_private.error_message(reason): the error_message the state machine writes when it refuses
-- to send a message, written once:
--   opted_out   a marketing message whose recipient is in sms_opt_out (error_code OPTED_OUT; by
--               sms_send at enqueue, by the claim when the opt-out came later)
--   expired     a message still unsent at its expires_at (by the claim, and the expiry sweep)
-- Inlined as a constant.
create or replace function sms_private.error_message(reason text) returns text
language sql immutable parallel safe
as $$
  select case $1 when 'opted_out' then 'not sent: the recipient opted out of marketing messages (sms_opt_out)'
                 when 'expired' then 'expired before it could be sent' end
$$;

comment on function sms_private.error_message(text) is
  'sms-outbox internal: the error_message of a message refused before sending (opted_out, expired)';

revoke all on function sms_private.error_message(text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.error_message(text) to sms_worker;
