-- sms_private.pumping_now: the time the sign-in hook and its pumping defence go by: now(), the
-- start of the caller's transaction. One function so that a replay of a day of traffic
-- (test/supabase/pumping-simulation.ts) can run the real hook on a simulated clock in a
-- database of its own; nothing in production replaces it.
create or replace function sms_private.pumping_now() returns timestamptz
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.now()
$$;

comment on function sms_private.pumping_now() is
  'sms-outbox internal: the time the sign-in hook and its pumping defence go by (now())';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_now() from public, sms_sender, sms_reader, sms_worker;
