-- 0036: sms_private.send takes `secret` (sql/functions/sms_private.send.sql): a sign-in code of
-- sms_auth_send_sms_hook is inserted with its body already blanked and its text in
-- sms_outbox_secret, where the hook used to insert the row with the code and blank it with an
-- UPDATE in the same transaction (a second row version, and the code in a dead tuple until
-- vacuum). A changed signature: the old function goes here, the new one is sql/'s.
drop function if exists sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text);
