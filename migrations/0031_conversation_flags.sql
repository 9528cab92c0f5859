-- sms-outbox 0031: sms_conversation says why a row has no text.
--
-- A row's body is blank once redacted, and a message carrying a Supabase sign-in code keeps none
-- (the code lives in sms_outbox_secret until the worker sends it). Two attributes at the end of
-- the rows sms_conversation returns tell the two apart, so a client (the console's conversation
-- page) can say "redacted" or "sign-in code" from the function alone, without reading the tables.
-- The function lives in sql/.

alter type public.sms_conversation_row
  add attribute redacted boolean,
  add attribute sign_in_code boolean;
