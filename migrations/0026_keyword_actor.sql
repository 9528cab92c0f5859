-- sms-outbox 0026: a stop or start keyword records who relayed it (issue 19).
--
-- The worker role stores incoming SMS only through sms_inbound_store (0025), which it calls for
-- what the SMSC delivered; SMPP carries no proof of that, so any login holding the role could
-- relay a made-up STOP or START that way. What a keyword does now records the login that stored
-- the SMS in sms_opt_out.actor and sms_opt_out_log.actor (sms_private.inbox_keyword, in sql/),
-- so a keyword relayed by another login than the worker's own shows in the log.

comment on column public.sms_opt_out.actor is
  'who called sms_opt_out(): the caller''s role, as sms_outbox.owner names it; for a keyword: the login that stored the SMS (the worker''s)';
comment on column public.sms_opt_out_log.actor is
  'the calling role, for operator; for keyword: the login that stored the SMS (the worker''s)';
