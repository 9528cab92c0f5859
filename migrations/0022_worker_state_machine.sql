-- sms-outbox 0022: the worker changes a message's status through functions.
--
-- Every status change of a message is made by a SQL function in sql/ (ARCHITECTURE.md, "The
-- state machine"): the worker's (the claim, the submit results, receipts, the expiry sweep, lease
-- reclaim, release on shutdown) live in sms_private, where nobody but its owner may create
-- objects, and run with the worker role's own rights (its grants and policies on the tables are
-- unchanged). The worker role may now look up names in sms_private; what it may call is granted
-- function by function in each function's file, and it still has no privilege on the tables
-- there.

grant usage on schema sms_private to sms_worker;

comment on schema sms_private is
  'sms-outbox internals: called by the sms_ functions in public, and the worker''s state changes (EXECUTE granted function by function to the worker role)';
