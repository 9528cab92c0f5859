-- sms_private.announce_status(id, status): every status change an app may care about (sent and the
-- final ones) is announced on channel `sms_status` with a JSON payload {"id": "...", "status":
-- "..."}, delivered after the change commits, by the statement that makes the change (see
-- ARCHITECTURE.md on why not a trigger). This is that announcement, written once. Plain SQL
-- without SET, every name qualified, so the planner inlines it into the statement that calls it
-- (a call per changed row would cost a function call each).
create or replace function sms_private.announce_status(id uuid, status text) returns void
language sql volatile
as $$
  select pg_catalog.pg_notify('sms_status', pg_catalog.json_build_object('id', $1, 'status', $2)::pg_catalog.text)
$$;

comment on function sms_private.announce_status(uuid, text) is
  'sms-outbox internal: announces a message''s new status on channel sms_status ({"id", "status"}, at commit)';

-- The worker's state changes announce as the worker.
revoke all on function sms_private.announce_status(uuid, text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.announce_status(uuid, text) to sms_worker;
